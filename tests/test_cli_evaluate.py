"""accelsim evaluate: table, JSON and CSV outputs, and clean failures on bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HW = str(ROOT / "hw_configs" / "shared-ws-32x32.yaml")
GEMM = str(ROOT / "einsum_cascades" / "gemm.yaml")
MAPPING = str(ROOT / "mappings" / "gemm-ws-32x32.yaml")


def test_evaluate_writes_table_json_and_csv(run_cli, tmp_path):
    code, out, err = run_cli("evaluate", HW, GEMM, "--mapping", MAPPING,
                             "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv"))
    assert code == 0, err
    assert "bottleneck" in out and "DRAM" in out
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["schema_version"] == 1
    # off-chip bytes of the G1 weight-stationary mapping, derived in tests/model/test_evaluate_gemm.py
    assert document["reports"][0]["offchip_bytes"] == 4_194_304 + 262_144 + 4 * 262_144
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert {(r["level"], r["tensor"]) for r in rows} >= {("DRAM", "A"), ("W_reg", "B")}


def test_quiet_prints_nothing(run_cli):
    code, out, err = run_cli("evaluate", HW, GEMM, "--mapping", MAPPING, "--quiet")
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("args, fragment", [
    (["--size", "M=0"], "is not RANK=SIZE"),
    (["--size", "M=4096"], "rank 'M' multiply to 512, which does not cover its size 4096"),
    (["--size", "Q=4"], "Q"),
])
def test_bad_input_fails_cleanly(run_cli, args, fragment):
    code, out, err = run_cli("evaluate", HW, GEMM, "--mapping", MAPPING, *args)
    assert code == 2
    assert fragment in out + err
    assert "Traceback" not in out + err


def test_missing_mapping_file(run_cli, tmp_path):
    code, out, err = run_cli("evaluate", HW, GEMM, "--mapping", str(tmp_path / "none.yaml"))
    assert code == 2
    assert "none.yaml: no such file" in err


def test_tiles_that_do_not_fit_name_the_bytes(run_cli, tmp_path):
    # k moved from DRAM into O_SRAM's loops: I_SRAM must hold all of A, 512 x 512 int8 bytes
    text = Path(MAPPING).read_text().replace(
        "temporal: [{rank: n, factor: 16}, {rank: k, factor: 16}]", "temporal: [{rank: n, factor: 16}]"
    ).replace("temporal: [{rank: m, factor: 512}]", "temporal: [{rank: m, factor: 512}, {rank: k, factor: 16}]")
    mapping = tmp_path / "big.yaml"
    mapping.write_text(text)
    code, out, err = run_cli("evaluate", HW, GEMM, "--mapping", str(mapping))
    assert code == 2
    assert "tiles at level 'I_SRAM' need 262144 bytes" in err and "holds 65536 bytes" in err


def test_workload_prefill_totals_add_up(run_cli, tmp_path):
    code, out, err = run_cli("evaluate", str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"),
                             str(ROOT / "workloads" / "bert-base.yaml"), "--seq", "128",
                             "--batch", "2", "--budget", "40", "--quiet",
                             "--json", str(tmp_path / "w.json"), "--csv", str(tmp_path / "w.csv"))
    assert code == 0, err
    result = json.loads((tmp_path / "w.json").read_text())["workload"]
    # 12 identical layers of BERT-base (workloads/bert-base.yaml), counted once each, and
    # its embeddings ('pre') and head ('post', it has a vocabulary) once
    assert result["layers"] == 12
    assert {e["count"] for e in result["einsums"] if e["part"] == "layer"} == {12}
    assert {(e["part"], e["count"]) for e in result["einsums"]
            if e["part"] != "layer"} == {("pre", 1), ("post", 1)}
    model = sum(e["report"]["latency_s"] * e["count"] for e in result["einsums"])
    assert result["model_latency_s"] == pytest.approx(model)
    assert result["tokens"] == 2 * 128
    assert result["tokens_per_s"] == pytest.approx(256 / model)
    # BERT-base, 109.5M parameters in bf16 (2 bytes), fits in 80 GB
    assert result["weights_bytes"] == pytest.approx(109.48e6 * 2, rel=1e-3)
    assert result["fits"] is True
    rows = list(csv.DictReader((tmp_path / "w.csv").open()))
    assert len(rows) == len(result["einsums"])


def test_workload_decode_reports_tokens_per_second(run_cli):
    code, out, err = run_cli("evaluate", str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"),
                             str(ROOT / "workloads" / "gpt2.yaml"), "--phase", "decode",
                             "--kv", "256", "--budget", "40")
    assert code == 0, err
    assert "tokens/s" in out and "fits        yes" in out


def test_cascade_without_mapping_is_a_usage_error(run_cli):
    code, out, err = run_cli("evaluate", HW, GEMM)
    assert code == 2
    assert "a cascade needs --mapping FILE" in out + err
