"""The import direction of the pipeline stages, held by import-linter contracts."""

from pathlib import Path

import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    old = sys.path[:]
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0
    finally:
        sys.path[:] = old


def test_core_imports_without_torch_or_triton():
    code = ("import sys, accelsim, accelsim.cli, accelsim.check, accelsim.spec, accelsim.ir, accelsim.model;"
            "bad = [m for m in ('torch', 'triton') if m in sys.modules];"
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
