"""A group input that several members read comes from the backing store once per shared
iteration when the shared mapping keeps it at the branch level (fused softmax and layernorm
read their input twice otherwise; the search offers the kept form, see
tests/search/test_search_fusion.py).

Softmax (einsum_cascades/softmax.yaml: GM = max of a row of X, EX = exp(X - GM), SE = sum of
EX, Y = EX / SE), fp32, R = 8 rows of N = 64, fused under one shared DRAM loop over rows (one
row per iteration) on a machine written here: DRAM -> BUF -> one unit.  By hand: X is
8 x 64 x 4 = 2,048 B and Y the same.  GM reads a row of X into BUF (256 B); EX then reads it
there.  Off chip: X once (2,048 B) + Y once (2,048 B) = 4,096 B.  Without the keep list each
member fetches its own copy, as a kernel that re-reads its input does: 6,144 B.  When GM
instead streams the row through BUF one element at a time (its own loop over N owned by
DRAM), BUF never holds a whole row: EX fetches it again, and X crosses twice (4,096 B).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import Architecture
from accelsim.ir import load_cascade
from accelsim.model import evaluate_group
from accelsim.spec import HardwareSpec, MappingSpec

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX = load_cascade(ROOT / "einsum_cascades" / "softmax.yaml")
OWN = [{"level": "BUF", "temporal": [{"rank": "N", "factor": 64}]}]
FUSED = MappingSpec.model_validate({
    "kind": "mapping", "version": 1, "name": "row-at-a-time",
    "group": ["GM", "EX", "SE", "Y"],
    "shared": [{"level": "DRAM", "temporal": [{"rank": "R", "factor": 8}]},
               {"level": "BUF", "keep": ["X"]}],
    "einsums": {"GM": OWN, "EX": OWN, "SE": OWN, "Y": OWN}})


def machine(buffer: str) -> Architecture:
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "one-buffer", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 32},
                   {"name": "BUF", "capacity": buffer, "word_bits": 32}],
        "compute": [{"name": "unit", "ops": ["mac", "add", "max", "exp", "divide",
                                             "elementwise"],
                     "throughput": {"fp32": 1}}]}))


def offchip(report) -> dict[str, float]:
    return {t.tensor: t.bytes for t in report.tensors if t.level == "DRAM"}


def test_a_row_read_by_two_members_crosses_once():
    report = evaluate_group(SOFTMAX, machine("4 KiB"), FUSED, sizes={"R": 8, "N": 64})
    assert offchip(report) == {"X": pytest.approx(2048), "Y": pytest.approx(2048)}
    assert report.offchip_bytes == pytest.approx(4096)


def test_without_the_keep_list_each_member_reads_its_own():
    plain = MappingSpec.model_validate({**FUSED.model_dump(exclude_none=True),
                                        "shared": [FUSED.model_dump()["shared"][0]]})
    report = evaluate_group(SOFTMAX, machine("4 KiB"), plain, sizes={"R": 8, "N": 64})
    assert offchip(report)["X"] == pytest.approx(4096)


def test_a_row_streamed_in_parts_is_read_again():
    streamed = MappingSpec.model_validate({
        **FUSED.model_dump(exclude_none=True), "einsums": {
            "GM": [{"level": "DRAM", "temporal": [{"rank": "N", "factor": 64}]}],
            "EX": OWN, "SE": OWN, "Y": OWN}})
    report = evaluate_group(SOFTMAX, machine("4 KiB"), streamed, sizes={"R": 8, "N": 64})
    assert offchip(report)["X"] == pytest.approx(4096)
