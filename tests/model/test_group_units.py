"""A fused group's members run concurrently on different compute units (FuseMax's 1-D array
works beside its 2-D array): each member goes, longest first, to the unit whose work then
ends soonest, keeping its mapped unit on a tie; where the units take turns
(``units_overlap: false``), their cycles add.

Cascade T[i,k] = A[i,k] + B[i,k]; Z[i] = sum(k) T[i,k] * W[k] (fp32, I = 16, K = 4), one
kernel on a machine (written here) whose buffer fans out to 4 instances of an 'array' unit
(MACs and adds, listed first, so adds map to it) and of a 'vec' unit (adds only).  Each
member spreads I 4 ways.  By hand: T does 64 adds and Z 64 MACs.  On the array alone:
64 / 4 + 64 / 4 = 32 cycles.  With T on 4 vec instances, 16 cycles each, side by side: 16.
With one vec instance T would take 64 cycles there, longer than 32: it stays on the array.
Energy: the array's add costs 2 pJ, vec's 1 pJ, a MAC 3 pJ: 64 x 1 + 64 x 3 = 256 pJ with T
on vec, against 64 x 2 + 64 x 3 = 320 pJ on the array.
"""

from __future__ import annotations

import pytest

from accelsim.arch import Architecture
from accelsim.ir import Cascade
from accelsim.model import evaluate_group
from accelsim.spec import HardwareSpec, MappingSpec

CHAIN = Cascade.from_yaml("""
kind: cascade
version: 1
name: add-then-reduce
source: written for this test
description: an add, then a product reduced over k
dtype: fp32
ranks: {I: 16, K: 4}
tensors:
  A: {ranks: [I, K], dtype: fp32}
  B: {ranks: [I, K], dtype: fp32}
  W: {ranks: [K], dtype: fp32}
  Z: {ranks: [I], dtype: fp32}
outputs: [Z]
einsums:
  - T[i,k] = A[i,k] + B[i,k]
  - Z[i] = sum(k) T[i,k] * W[k]
""")
OWN = [{"level": "BUF", "temporal": [{"rank": "I", "factor": 4}, {"rank": "K", "factor": 4}],
        "spatial": [{"rank": "I", "factor": 4}]}]
FUSED = MappingSpec.model_validate({
    "kind": "mapping", "version": 1, "name": "fused", "group": ["T", "Z"],
    "shared": [{"level": "DRAM"}], "einsums": {"T": OWN, "Z": OWN}})
ARRAY = {"name": "array", "ops": ["mac", "add"], "instances": [4], "throughput": {"fp32": 1},
         "energy": {"mac": "3 pJ", "add": "2 pJ"}}


def machine(vec_instances: int, overlap: bool = True, array=ARRAY) -> Architecture:
    vec = {"name": "vec", "ops": ["add"], "instances": [vec_instances],
           "throughput": {"fp32": 1}, "energy": {"add": "1 pJ"}}
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "array-and-vector", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 32},
                   {"name": "BUF", "capacity": "4 KiB", "word_bits": 32}],
        "compute": [array, vec], "units_overlap": overlap}))


def test_a_member_moves_to_an_idle_unit():
    report = evaluate_group(CHAIN, machine(4), FUSED)
    assert report.compute_cycles == {"array": 16, "vec": 16}
    assert report.cycles == 16
    assert report.energy_breakdown["compute"] == pytest.approx(256)
    assert any("T run on vec" in note for note in report.notes)
    assert report.utilization == pytest.approx(1.0)     # the array does 64 MACs in 16 cycles


def test_a_member_stays_where_moving_it_would_be_slower():
    report = evaluate_group(CHAIN, machine(1), FUSED)
    assert report.compute_cycles == {"array": 32}
    assert report.energy_breakdown["compute"] == pytest.approx(320)
    assert report.utilization == pytest.approx(1.0)     # 128 operations in 32 x 4


def test_units_that_take_turns_add_their_cycles():
    """units_overlap: false (one instruction stream feeds both units, as on a GPU SM before
    Hopper).  An array without adds: T's 64 adds run on the 4 vec instances (16 cycles) and
    Z's 64 MACs on the array (16 cycles), one after the other: 32 cycles, not 16.  With the
    array able to add, moving T to vec saves nothing (16 + 16 either way): it stays."""
    mac_only = {**ARRAY, "ops": ["mac"], "energy": {"mac": "3 pJ"}}
    report = evaluate_group(CHAIN, machine(4, overlap=False, array=mac_only), FUSED)
    assert report.compute_cycles == {"array": 16, "vec": 16}
    assert report.cycles == 32
    report = evaluate_group(CHAIN, machine(4, overlap=False), FUSED)
    assert report.compute_cycles == {"array": 32}
    assert report.cycles == 32
    assert not any("run on vec" in note for note in report.notes)


def test_compute_term_by_hand():
    import numpy as np

    from accelsim.model.terms_kernels import compute_cycles

    assert compute_cycles(np.array([3.0, 5.0]), True) == 5.0
    assert compute_cycles(np.array([3.0, 5.0]), False) == 8.0
    assert compute_cycles(np.empty(0), False) == 0.0
