"""Start-up time of the command line, and what a units library would add to it.

Runs ``accelsim --version`` and ``accelsim check`` on the shipped data in fresh
interpreters (median of several runs), and, when pint is installed, the time to
import pint and build its unit registry, which is what each CLI call would pay
had specs been parsed with it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def median_seconds(args: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=False, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    py = sys.executable
    bare = median_seconds([py, "-c", "pass"])
    version = median_seconds([py, "-m", "accelsim", "--version"])
    check = median_seconds([py, "-m", "accelsim", "check", "hw_configs", "workloads", "mappings"])
    print(f"python start-up:            {bare:.3f} s")
    print(f"accelsim --version:         {version:.3f} s")
    print(f"accelsim check (data):      {check:.3f} s")
    pint = median_seconds([py, "-c", "import pint; pint.UnitRegistry()"]) - bare
    print(f"pint import + registry:     {pint:.3f} s (added per CLI call if used for units)")
    print(f"cli_startup_version: {version:.3f} s")


if __name__ == "__main__":
    main()
