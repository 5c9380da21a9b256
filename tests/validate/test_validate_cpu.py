"""calibrate() writes a hardware spec that passes ``accelsim check``; validate() returns rows;
the outputs render; the GPU harness skips cleanly without CUDA."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from accelsim.check import check_paths  # noqa: E402
from accelsim.validate import cpu, gpu, output  # noqa: E402


@pytest.fixture(scope="module")
def hardware(tmp_path_factory):
    return cpu.calibrate(tmp_path_factory.mktemp("cal") / "cpu.yaml", quick=True, threads=1)


@pytest.mark.slow          # the hardware fixture times real operators on this CPU
def test_calibrated_spec_passes_check_and_cites_every_number(hardware):
    checked, problems = check_paths([hardware])
    assert not problems and all(c.ok for c in checked), checked
    text = open(hardware).read()
    for line in text.splitlines():
        if any(k in line for k in ("clock:", "capacity:", "bandwidth:", "throughput:", "overhead:")):
            assert "by accelsim calibrate" in line, line


@pytest.mark.slow
def test_validate_quick_returns_rows(hardware, tmp_path):
    rows, mape = cpu.validate(hardware, quick=True, ops=("matmul", "softmax"))
    assert len(rows) == 5 and all(r.predicted > 0 and r.measured > 0 for r in rows)
    assert mape == pytest.approx(output.mape(rows))
    path = output.write_json(rows, tmp_path / "rows.json", device="cpu")
    assert json.load(open(path))["cases"] == 5
    png = output.scatter(rows, tmp_path / "scatter.png", title="cpu")
    assert open(png, "rb").read(4) == b"\x89PNG"


def test_event_time_runs_without_cuda():
    assert gpu.event_time(lambda: sum(range(100)), warmup=1, reps=3) > 0


@pytest.mark.gpu
@pytest.mark.skipif(not gpu.available(), reason="needs a CUDA device")
def test_gpu_validate_on_h100_preset():
    rows, mape = gpu.validate("hw_configs/h100-sxm5-80gb.yaml", quick=True)
    assert rows and mape < 100
