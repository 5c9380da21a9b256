"""Which compute unit runs an operation, and at what rate, by element type.

Rates are the shipped presets' own figures; the expected unit and rate of each case follow
from the rule in accelsim.model.terms (unit_for, unit_rate), derived here by hand:

* a unit that lists the element type runs it at that rate (A100: tensor cores 1024 bf16
  FMA per clock per SM, CUDA cores 64 fp32);
* a unit that does not list it computes in the narrowest wider type of the same kind
  (STM32F746: no bf16 arithmetic, its FPU's fp32 rate of 1; a unit listing int8 and int16
  runs int4 at the int8 rate), else in the widest narrower type of that kind (XDNA's
  AIE-ML lists no fp32: its bf16 rate, 128, not its int8 rate, 256).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import ComputeUnit, load_architecture
from accelsim.model import unit_for, unit_rate

ROOT = Path(__file__).resolve().parents[2]


def arch(name):
    return load_architecture(str(ROOT / "hw_configs" / f"{name}.yaml"))


@pytest.mark.parametrize("dtype, unit, rate", [
    ("bf16", "tensor_core", 1024), ("fp16", "tensor_core", 1024), ("fp32", "cuda_core", 64)])
def test_a100_gemm_unit_by_element_type(dtype, unit, rate):
    chosen = unit_for(arch("a100-sxm4-40gb"), "mac", dtype)
    assert (chosen.name, unit_rate(chosen, dtype)) == (unit, rate)


@pytest.mark.parametrize("preset, dtype, rate", [
    ("stm32f746", "bf16", 1),        # lists int16: 2, int8: 2, fp32: 1
    ("stm32f746", "int8", 2),
    ("xdna-like", "fp32", 128),      # lists int8: 256, int4: 512, int16: 64, bf16: 128
    ("xdna-like", "int8", 256),
])
def test_unlisted_types_compute_in_a_type_of_the_same_kind(preset, dtype, rate):
    assert unit_rate(unit_for(arch(preset), "mac", dtype), dtype) == rate


def test_int4_runs_at_the_narrowest_wider_integer_rate():
    unit = ComputeUnit(name="u", ops=frozenset({"mac"}), instances=(1, 1),
                       ops_per_cycle={"int16": 4, "int8": 8}, op_cycles={}, energy_pj={})
    assert unit_rate(unit, "int4") == 8


def test_a_type_run_at_another_types_rate_is_reported():
    """bf16 on the STM32F746's core (no bf16 arithmetic) runs at the fp32 rate, and its
    report says so; bf16 on the A100's tensor cores is listed, and nothing is said."""
    from accelsim.ir import Einsum
    from accelsim.mapping import BoundEinsum
    from accelsim.search import search

    def gemm(dtype):
        return BoundEinsum(Einsum.parse("Z[m,n] = A[m,k] * B[k,n]"), {"M": 8, "N": 8, "K": 8},
                           {"A": dtype, "B": dtype, "Z": dtype},
                           {"A": "input", "B": "weight", "Z": "output"})

    mcu = search(gemm("bf16"), arch("stm32f746"), budget=50, progress=False).report
    assert "core: no bf16 rate listed; runs bf16 at its fp32 rate" in mcu.notes
    gpu = search(gemm("bf16"), arch("a100-sxm4-40gb"), budget=50, progress=False).report
    assert not any("rate listed" in n for n in gpu.notes)
