"""Capacity in a fused group: the branch level holds every member's tiles at once, the
levels below it one member's at a time (members run one after another within a tile).

Cascade T[i] = A[i] + B[i]; Z[i] = T[i] * C[i] (bf16, I = 16), fused under a shared loop
over I (4 tiles of 4) at DRAM.  Each member walks its tile one element at a time at SRAM, so
REG holds one element per tensor of one member: 3 x 2 B = 6 B (A, B, T or T, C, Z).  Summed
over the group's five tensors it would be 10 B.  SRAM, the branch level, holds a tile of 4
elements of all five tensors: 5 x 4 x 2 B = 40 B.
"""

from __future__ import annotations

import pytest

from accelsim.arch import Architecture
from accelsim.errors import CapacityError
from accelsim.ir import Cascade
from accelsim.model import evaluate_group
from accelsim.spec import HardwareSpec, MappingSpec

CHAIN = Cascade.from_yaml("""
kind: cascade
version: 1
name: add-then-scale
source: written for this test
description: an add then a scale, fused
dtype: bf16
ranks: {I: 16}
tensors:
  A: {ranks: [I], dtype: bf16}
  B: {ranks: [I], dtype: bf16}
  C: {ranks: [I], dtype: bf16}
  Z: {ranks: [I], dtype: bf16}
outputs: [Z]
einsums:
  - T[i] = A[i] + B[i]
  - Z[i] = T[i] * C[i]
""")
FUSED = MappingSpec.model_validate({
    "kind": "mapping", "version": 1, "name": "fused", "group": ["T", "Z"],
    "shared": [{"level": "DRAM", "temporal": [{"rank": "I", "factor": 4}]}],
    "einsums": {m: [{"level": "SRAM", "temporal": [{"rank": "I", "factor": 4}]}]
                for m in ("T", "Z")}})


def machine(sram: str, reg: str) -> Architecture:
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "three-level", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 16},
                   {"name": "SRAM", "capacity": sram, "word_bits": 16},
                   {"name": "REG", "capacity": reg, "word_bits": 16}],
        "compute": [{"name": "alu", "ops": ["mac", "add", "elementwise"],
                     "throughput": {"bf16": 1}}]}))


def test_inner_levels_hold_one_member_at_a_time():
    report = evaluate_group(CHAIN, machine("40 B", "6 B"), FUSED)
    levels = {lv.name: lv.tile_bytes for lv in report.levels}
    assert levels["REG"] == 6 and levels["SRAM"] == 40
    # T never leaves the chip: DRAM reads A, B, C once (16 elements each) and writes Z once
    assert report.offchip_bytes == (3 * 16 + 16) * 2


def test_the_branch_level_holds_every_member():
    with pytest.raises(CapacityError, match="SRAM"):
        evaluate_group(CHAIN, machine("38 B", "6 B"), FUSED)
    with pytest.raises(CapacityError, match="REG"):
        evaluate_group(CHAIN, machine("40 B", "5 B"), FUSED)
