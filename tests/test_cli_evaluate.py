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
