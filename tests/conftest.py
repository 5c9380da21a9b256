"""Shared fixtures: an in-process CLI runner.

Test modules compute their own paths: several test folders have a conftest.py, so
``from conftest import ...`` would be ambiguous."""

from __future__ import annotations

import os
from pathlib import Path  # noqa: F401  (used in annotations)

import pytest

@pytest.fixture
def run_cli(capsys):
    """Run ``accelsim ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from accelsim.cli import main

    def run(*args: str, cwd: Path | None = None):
        old = os.getcwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            code = main(list(args))
        finally:
            os.chdir(old)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
