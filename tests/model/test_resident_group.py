"""Tensors resident in an on-chip level across the shared loops it owns (FuseMax's schedule:
a head's Q, K, V and output in the global buffer while tiles of queries and blocks of keys
stream through the arrays; accelsim.mapping.group, "Resident tensors").

Cascade T[i,j] = A[i] * B[j]; Z[i] = sum(j) T[i,j] (bf16, I = 4, J = 8), fused under shared
loops over i (outer) and j (inner), one element at a time.  By hand:

* Loops at DRAM: B's tile changes with j, the inner loop, so B is read once per i: 4 x 8
  elements.  A is read once (4), Z written once (4): (4 + 32 + 4) x 2 B = 80 B.
* The same loops at SRAM, which keeps A, B and Z: each crosses DRAM once:
  (4 + 8 + 4) x 2 B = 32 B.  SRAM then holds all of A, B and Z (16 elements) and the
  working tile of one iteration (T: 1 element; the others' working tiles lie inside their
  resident copies): 17 x 2 B = 34 B.
"""

from __future__ import annotations

import pytest

from accelsim.arch import Architecture
from accelsim.errors import CapacityError, SpecError
from accelsim.ir import Cascade
from accelsim.model import evaluate_group
from accelsim.spec import HardwareSpec, MappingSpec

OUTER = Cascade.from_yaml("""
kind: cascade
version: 1
name: outer-then-sum
source: written for this test
description: an outer product, then a row sum
dtype: bf16
ranks: {I: 4, J: 8}
tensors:
  A: {ranks: [I], dtype: bf16}
  B: {ranks: [J], dtype: bf16}
  Z: {ranks: [I], dtype: bf16}
outputs: [Z]
einsums:
  - T[i,j] = A[i] * B[j]
  - Z[i] = sum(j) T[i,j]
""")
LOOPS = [{"rank": "I", "factor": 4}, {"rank": "J", "factor": 8}]


def mapping(level: str, keep: list[str] | None) -> MappingSpec:
    shared = {"level": level, "temporal": LOOPS} | ({"keep": keep} if keep is not None else {})
    return MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"at-{level}", "group": ["T", "Z"],
        "shared": [shared], "einsums": {}})


def machine(sram: str) -> Architecture:
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "dram-sram-reg", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 16},
                   {"name": "SRAM", "capacity": sram, "word_bits": 16},
                   {"name": "REG", "capacity": "64 B", "word_bits": 16}],
        "compute": [{"name": "alu", "ops": ["mac", "add", "elementwise"],
                     "throughput": {"bf16": 1}}]}))


def test_loops_at_dram_read_the_inner_operand_once_per_row():
    report = evaluate_group(OUTER, machine("1 KiB"), mapping("DRAM", None))
    traffic = {t.tensor: t.bytes for t in report.tensors if t.level == "DRAM"}
    assert traffic == {"A": 8, "B": 64, "Z": 8}
    assert report.offchip_bytes == 80


def test_resident_tensors_cross_dram_once():
    report = evaluate_group(OUTER, machine("34 B"), mapping("SRAM", ["A", "B", "Z"]))
    traffic = {t.tensor: t.bytes for t in report.tensors if t.level == "DRAM"}
    assert traffic == {"A": 8, "B": 16, "Z": 8}
    assert {lv.name: lv.tile_bytes for lv in report.levels}["SRAM"] == 34
    assert "T" not in traffic                          # the intermediate never leaves the chip


def test_resident_and_working_tiles_share_the_level():
    with pytest.raises(CapacityError, match="SRAM"):
        evaluate_group(OUTER, machine("33 B"), mapping("SRAM", ["A", "B", "Z"]))


def test_an_unknown_resident_tensor_is_named():
    with pytest.raises(SpecError, match="shared\\[0\\].keep"):
        evaluate_group(OUTER, machine("1 KiB"), mapping("SRAM", ["A", "Q"]))


def test_fan_out_under_the_resident_level():
    """J spread over two REG instances (J = 4 temporal x 2 spatial) at the same level: the
    working tile owns the fan-out, and each tensor still crosses DRAM once."""
    arch = Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "dram-sram-2reg", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 16},
                   {"name": "SRAM", "capacity": "1 KiB", "word_bits": 16},
                   {"name": "REG", "capacity": "64 B", "word_bits": 16, "instances": [2]}],
        "compute": [{"name": "alu", "ops": ["mac", "add", "elementwise"], "instances": [2],
                     "throughput": {"bf16": 1}}]}))
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "spread", "group": ["T", "Z"],
        "shared": [{"level": "SRAM", "keep": ["A", "B", "Z"],
                    "temporal": [{"rank": "I", "factor": 4}, {"rank": "J", "factor": 4}],
                    "spatial": [{"rank": "J", "factor": 2}]}], "einsums": {}})
    report = evaluate_group(OUTER, arch, spec)
    traffic = {t.tensor: t.bytes for t in report.tensors if t.level == "DRAM"}
    assert traffic == {"A": 8, "B": 16, "Z": 8}


def test_a_shared_keep_list_below_the_resident_level_applies_there():
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "reg-keeps-t", "group": ["T", "Z"],
        "shared": [{"level": "SRAM", "temporal": LOOPS, "keep": ["A", "B", "Z"]},
                   {"level": "REG", "keep": ["T"]}], "einsums": {}})
    report = evaluate_group(OUTER, machine("1 KiB"), spec)
    assert {t.tensor for t in report.tensors if t.level == "REG"} == {"T"}
