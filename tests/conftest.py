"""Shared fixtures: the repository root and an in-process CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_FOLDERS = ("hw_configs", "workloads", "einsum_cascades", "mappings")


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
