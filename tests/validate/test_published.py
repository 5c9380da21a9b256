"""accelsim validate --published: accelsim against runtimes published in papers.

The command prints one row per supported measurement (FlashAttention forward passes of the
FlashAttention paper, Table 18) and lists the others as skipped with the reason; the HBM
traffic accelsim predicts for a row is FlashAttention-2's exact count; a malformed data file
is one line on stderr naming the file and the field, exit code 2.  Error figures are not
asserted (they are what the validation measures).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from accelsim.validate.published import compare

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "published" / "flashattention_a100.yaml"


def published_rows() -> list[dict]:
    with open(DATA, encoding="utf-8") as f:
        return yaml.safe_load(f)["rows"]


def test_command_prints_every_supported_row(run_cli, tmp_path):
    result, plot = tmp_path / "published.json", tmp_path / "published.png"
    code, out, err = run_cli("validate", "--published", "--json", str(result),
                             "--plot", str(plot))
    assert code == 0, err
    supported = [r for r in published_rows()
                 if r["impl"] == "flashattention" and r["pass"] == "fwd"]
    others = [r for r in published_rows() if r not in supported]
    assert len(supported) == 8 and len(others) == 8
    for row in supported:
        assert f"{row['id']} (" in out
    for row in others:
        assert f"skipped {row['id']} (" in out
    assert "MAPE" in out and "over 8 cases (8 skipped)" in out
    data = json.loads(result.read_text())
    assert [r["case"].split()[0] for r in data["rows"]] == [r["id"] for r in supported]
    assert [r["measured"] for r in data["rows"]] == pytest.approx(
        [r["runtime_ms"] * 1e-3 for r in supported])
    assert all(r["predicted"] > 0 and r["unit"] == "s" and r["bottleneck"]
               for r in data["rows"])
    assert data["mape_pct"] == pytest.approx(
        sum(abs(r["error_pct"]) for r in data["rows"]) / 8)
    assert {s["case"].split()[0] for s in data["skipped"]} == {r["id"] for r in others}
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("row_id", ["fa-fwd-1024", "fa-fwd-16384"])
def test_hbm_bytes_are_flash_attention2_count(row_id):
    """FlashAttention-2 forward (Dao 2023, Algorithm 1) per (batch, head) with Tr = ceil(N /
    128) query blocks: Q read once (N*d), K and V read once per query block (Tr*N*d each), O
    written once (N*d), all 2-byte elements (the cascade's bf16 for the paper's fp16), and
    the fp32 log-sum-exp written once (N)."""
    row = next(r for r in published_rows() if r["id"] == row_id)
    bh, n, d = row["batch"] * row["heads"], row["seq"], row["head_dim"]
    tr = math.ceil(n / 128)
    expected = bh * (2 * (n * d + 2 * tr * n * d + n * d) + 4 * n)
    rows, _, _ = compare([DATA])
    got = next(r for r in rows if r.case.startswith(row_id + " "))
    assert got.extra["hbm_bytes"] == expected


@pytest.mark.parametrize("old, new, field", [
    ("seq: 1024,  head_dim", "seq: 1k,  head_dim", "rows[3].seq"),
    ("runtime_ms: 0.08}", "runtime_ms: 0.08, runtme: 3}", "rows[0].runtme"),
    ("impl: flashattention, pass: fwd, batch: 16, heads: 8, seq: 128,",
     "impl: triton, pass: fwd, batch: 16, heads: 8, seq: 128,", "rows[0].impl"),
    ("kind: published", "kind: publishd", "kind"),
    ("hardware: hw_configs/a100-sxm4-40gb.yaml\n", "", "hardware"),
])
def test_malformed_file_is_one_line_naming_file_and_field(run_cli, tmp_path, old, new, field):
    text = DATA.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    code, out, err = run_cli("validate", "--published", str(bad))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: {bad}:") and f": {field}: " in lines[0], lines[0]


def test_validate_without_hardware_or_published_is_a_usage_error(run_cli):
    code, out, err = run_cli("validate")
    assert code == 2 and "HARDWARE" in err


def test_unknown_key_hint_lists_keys_as_written(run_cli, tmp_path):
    """The row field ``pass`` is ``pass_`` in Python; the hint names the YAML key."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(DATA.read_text(encoding="utf-8").replace(
        "runtime_ms: 0.08}", "runtime_ms: 0.08, runtme: 3}", 1), encoding="utf-8")
    code, out, err = run_cli("validate", "--published", str(bad))
    assert code == 2 and "did you mean 'runtime_ms'?" in err
    assert ", pass, " in err and "pass_" not in err
