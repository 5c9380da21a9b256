"""accelsim sweep from the command line: one row per point, and a rerun resumes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow          # starts a cluster, whose worker imports and compiles accelsim
def test_sweep_command_writes_rows_and_resumes(run_cli, tmp_path):
    """The rows land in the working directory, not beside the sweep file, and `plot pareto`
    reads them from there as its help example says."""
    (tmp_path / "specs").mkdir()
    sweep = tmp_path / "specs" / "clock.yaml"
    sweep.write_text(f"""kind: sweep
version: 1
name: clock
hardware: {ROOT / 'hw_configs' / 'shared-ws-32x32.yaml'}
workloads: [{ROOT / 'workloads' / 'fusemax-bert.yaml'}]
phases: [prefill]
seq_len: 64
parameters:
  clock: [500 MHz, 1 GHz]
output: rows.csv
""")
    code, out, err = run_cli("sweep", str(sweep), "--budget", "30", "--workers", "1", "-q",
                             cwd=tmp_path)
    assert code == 0, out + err
    assert "2 points run, 0 already done" in out
    assert not (tmp_path / "specs" / "rows.csv").exists()
    code, out, err = run_cli("plot", "pareto", "rows.csv", "-o", "pareto.svg", cwd=tmp_path)
    assert code == 0 and (tmp_path / "pareto.svg").stat().st_size > 0
    rows = list(csv.DictReader((tmp_path / "rows.csv").open()))
    assert sorted(r["clock"] for r in rows) == ["1 GHz", "500 MHz"]
    # same cycles at half the clock: twice the time (every point is latency = cycles / clock)
    by_clock = {r["clock"]: float(r["model_latency_s"]) for r in rows}
    assert by_clock["500 MHz"] == pytest.approx(2 * by_clock["1 GHz"], rel=1e-12)
    code, out, err = run_cli("sweep", str(sweep), "--budget", "30", "--workers", "1", "-q",
                             cwd=tmp_path)
    assert code == 0 and "0 points run, 2 already done" in out
