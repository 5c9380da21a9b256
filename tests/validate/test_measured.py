"""accelsim against measured GPU operator latencies (accelsim.validate.measured).

Reading the CSV format (gzipped or not, unknown operators skipped, bad rows named by file
and line), the roofline baseline (derived by hand from the A100 preset's cited figures),
the per-family summary (derived by hand from made-up rows), and the command line on
tests/data/gpu_measurements/sample.csv (24 measured rows, source in its README).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.errors import SpecError
from accelsim.validate.measured import (Measurement, fit_dispatch, read_measurements,
                                        roofline_s, sample, summarize)
from accelsim.validate.output import Row

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "gpu_measurements" / "sample.csv"
A100 = ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"


def test_reads_plain_and_gzipped_files_alike(tmp_path):
    zipped = tmp_path / "sample.csv.gz"
    with open(SAMPLE, "rb") as src, gzip.open(zipped, "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain, packed = read_measurements(SAMPLE), read_measurements(zipped)
    assert plain == packed and len(plain) == 24
    first = plain[0]      # bmm,0.05108266572157542 ms,A100,...,B=30,M=389,N=65,K=52
    assert first.family == "bmm" and first.sizes == {"B": 30, "M": 389, "N": 65, "K": 52}
    assert first.latency_s == pytest.approx(0.05108266572157542e-3)
    assert first.kernel == "ampere_sgemm_128x128_nn"
    assert (first.grid, first.block) == ((1, 4, 30), (256, 1, 1))


def test_unknown_operators_are_skipped_and_bad_rows_named(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("OPName,Latency,Device,B,H\nconv,1.0,Tesla T4,1,1\nadd,0.5,Tesla T4,4,x\n")
    with pytest.raises(SpecError, match=r"m\.csv.*line 3.*whole numbers in B, H"):
        read_measurements(path)
    path.write_text("OPName,Latency,Device,B,H\nconv,1.0,Tesla T4,1,1\n")
    assert read_measurements(path) == []
    path.write_text("name,time\n")
    with pytest.raises(SpecError, match="missing column"):
        read_measurements(path)


def test_roofline_by_hand():
    """A100 preset: 64 fp32 FMA per clock per SM x 108 SMs x 1.41 GHz x 2 = 19.49 TFLOP/s;
    HBM 1,555 GB/s.  A 1024^3 bmm: 2 x 1024^3 FLOP / 19.49e12 = 110.2 us, above its bytes
    (3 x 1024^2 x 4 B / 1555e9 = 8.09 us).  An add of 1000 x 1000: 3e6 x 4 B / 1555e9 =
    7.72 us, above its 1e6 FLOP (0.05 us)."""
    arch = load_architecture(str(A100))
    bmm = Measurement("bmm", "x", (("B", 1), ("M", 1024), ("N", 1024), ("K", 1024)), 1.0)
    add = Measurement("add", "x", (("B", 1000), ("H", 1000)), 1.0)
    assert roofline_s(bmm, arch) == pytest.approx(2 * 1024 ** 3 / (2 * 64 * 108 * 1.41e9))
    assert roofline_s(bmm, arch) == pytest.approx(110.2e-6, rel=1e-3)
    assert roofline_s(add, arch) == pytest.approx(12e6 / 1555e9)


def test_summary_by_hand():
    """Library mode: errors +100 %, -50 % and 0 %: MAPE 50 %, median 0 %.  Best mode at 1.2
    each time: MAPE 20 %, median +20 %.  The roofline at half of each measurement: MAPE
    50 %, median -50 %; plus the host time the prediction added (predicted - device_s =
    0.25): 0.75, MAPE 25 %."""
    rows = [Row(case=str(p), op="add", predicted=p, measured=1.0,
                extra={"gpu": "t4", "roofline_s": 0.5, "dispatch_s": 0.25,
                       "device_s": p - 0.25, "best_s": 1.2}) for p in (2.0, 0.5, 1.0)]
    by = {c.gpu: c for c in summarize(rows)}
    assert set(by) == {"t4", "all"}
    assert (by["t4"].rows, by["t4"].mape, by["t4"].median_signed) == (3, 50.0, 0.0)
    assert (by["t4"].best_mape, by["t4"].best_median_signed) == pytest.approx((20.0, 20.0))
    assert (by["t4"].roofline_mape, by["t4"].roofline_median_signed) == (50.0, -50.0)
    assert by["t4"].host_roofline_mape == 25.0


def test_dispatch_is_fitted_on_the_other_devices_only():
    """Family add: device a's latencies 1..20 us (5th percentile: index int(0.05 x 19) = 0,
    1 us), device b's 3 us each, device c's 100 us each.  Held out c: the median of a's and
    b's floors, (1 + 3) / 2 = 2 us; held out a: (3 + 100) / 2 = 51.5 us."""
    def rows(device, values):
        return [Measurement("add", device, (("B", 1), ("H", 1)), v * 1e-6) for v in values]
    data = rows("a", range(1, 21)) + rows("b", [3] * 5) + rows("c", [100] * 5)
    assert fit_dispatch(data, "c") == {"add": pytest.approx(2e-6)}
    assert fit_dispatch(data, "a") == {"add": pytest.approx(51.5e-6)}
    assert fit_dispatch(rows("a", [1]), "a") == {}


def test_sample_takes_at_most_n_per_family_and_gpu():
    rows = read_measurements(SAMPLE)
    picked = sample(rows, 1)
    assert len(picked) == 12                        # 6 families x 2 GPUs
    assert picked == sample(rows, 1)                # the seed fixes the draw
    assert len({(m.family, m.device) for m in picked}) == 12


def test_cli_prints_the_table_and_writes_json(tmp_path, run_cli):
    out_json = tmp_path / "m.json"
    code, out, err = run_cli("validate", "--measured", str(SAMPLE), "--gpu", "t4",
                             "--per-group", "1", "--budget", "40", "--json", str(out_json))
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert data["cases"] == 6 and {r["extra"]["gpu"] for r in data["rows"]} == {"t4"}
    families = {c["family"] for c in data["summary"] if c["gpu"] == "t4"}
    assert families == {"bmm", "linear", "ln", "softmax", "gelu", "add"}
    for c in data["summary"]:
        assert c["rows"] >= 1 and c["mape"] >= 0 and c["roofline_mape"] >= 0
    for r in data["rows"]:      # accelsim's device time plus the host time fitted on the A100
        assert r["predicted"] == pytest.approx(r["extra"]["device_s"] + r["extra"]["dispatch_s"])
        assert r["extra"]["best_s"] == pytest.approx(r["extra"]["best_device_s"]
                                                     + r["extra"]["dispatch_s"])
    assert "lib MAPE" in out and "best MAPE" in out and "roof+host" in out
    assert "Traceback" not in out + err


def test_cli_names_an_unknown_gpu(run_cli):
    code, out, err = run_cli("validate", "--measured", str(SAMPLE), "--gpu", "nope")
    assert code == 2 and "no rows for GPU 'nope'" in err and "Traceback" not in out + err


def test_an_interrupted_run_resumes_from_its_cache(tmp_path):
    """Predictions are appended to the cache file as they are made; a second run with the
    same file reads them back and searches nothing again."""
    from accelsim.validate.measured import PredictionCache, compare

    path = tmp_path / "cache.jsonl"
    first = compare(SAMPLE, "t4", per_group=1, budget=40, cache=PredictionCache(path, 40))
    lines = path.read_text().splitlines()
    assert len(lines) == 6
    reread = PredictionCache(path, 40)
    assert len(reread.known) == 6
    again = compare(SAMPLE, "t4", per_group=1, budget=40, cache=reread)
    assert [r.predicted for r in again] == [r.predicted for r in first]
    assert path.read_text().splitlines() == lines          # nothing searched twice
