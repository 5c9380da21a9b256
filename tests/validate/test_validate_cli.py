"""accelsim calibrate and accelsim validate on the CPU, end to end (quick mode).

Timings on a shared machine are noisy, so these tests check what is written (a hardware
spec that passes check; a table, JSON rows with predictions and measurements; a plot),
not the error figures.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")


@pytest.mark.slow          # times real operators on this CPU, twice
def test_calibrate_then_validate(run_cli, tmp_path):
    spec = tmp_path / "cpu.yaml"
    code, out, err = run_cli("calibrate", "--device", "cpu", "--quick", "--out", str(spec))
    assert code == 0, err
    code, out, err = run_cli("check", str(spec))
    assert code == 0, out + err
    result, plot = tmp_path / "v.json", tmp_path / "v.png"
    code, out, err = run_cli("validate", str(spec), "--quick", "--json", str(result),
                             "--plot", str(plot))
    assert code == 0, err
    assert "MAPE" in out
    data = json.loads(result.read_text())
    assert data["cases"] == len(data["rows"]) > 0
    assert all(r["predicted"] > 0 and r["measured"] > 0 and r["unit"] == "s" for r in data["rows"])
    assert plot.read_bytes().startswith(b"\x89PNG")
