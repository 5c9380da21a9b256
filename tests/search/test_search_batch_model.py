"""The vectorized batch model equals accelsim.model.evaluate, mapping by mapping.

Random mappings (capacity-aware samples, then local moves so that some overflow a level)
are scored by accelsim.search.batch_model and, converted to MappingSpecs, by
accelsim.model.evaluate; every number must agree exactly (energy, cycles, latency,
off-chip bytes and elements, utilization, bottleneck), a mapping that fails the search's
capacity pre-check or whose counted tiles overflow must be one that evaluate rejects with
CapacityError, and one over a fan-out one it rejects as a spec error.

Machines: every shipped preset, among them the shared 32x32 case; the H100 (the SMs' ports into L2, a launch overhead, an
Einsum spread over several units); the STM32F746 (flash, no energy figures); FuseMax
(several compute units, op_cycles); and a toy machine written here with the features the
shared case lacks (separate write ports, a level that cannot double-buffer, no multicast,
wide blocks, a 2-D mesh, leakage, a level without an energy figure).  A chip's run power
is checked the same way in tests/model/test_run_power.py.  Einsums: a GEMM (perfect and
imperfect factorizations), a 1-D convolution (a sliding window, counted by the walker) and
a softmax step (exponential, subtraction, division).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelsim.arch import load_architecture
from accelsim.errors import CapacityError, SpecError
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.search.batch_model import (capacity_ok, count, fanout_ok, metrics, model_constants,
                                         precheck)
from accelsim.search.constraints import load_constraints
from accelsim.search.moves import mutate, sample
from accelsim.search.space import build_space, concat, to_mapping

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hw_configs"
SHARED = HW / "shared-ws-32x32.yaml"

TOY = """
kind: hardware
version: 1
name: toy-npu
clock: 500 MHz
leakage_per_cycle: 3 pJ
levels:
  - name: DRAM
    word_bits: 8
    block_words: 8
    read_bandwidth: 16 bit/cycle
    write_bandwidth: 8 bit/cycle
    energy: {read: 100 pJ, fill: 120 pJ, update: 150 pJ}
  - name: GLB
    capacity: 2 KiB
    word_bits: 16
    read_bandwidth: 64 bit/cycle
    energy: {read: 2 pJ, update: 3 pJ}
    multicast: false
    double_buffer: false
  - name: PE_BUF
    capacity: 64 B
    word_bits: 8
    instances: [4, 4]
    read_bandwidth: 32 bit/cycle
    write_bandwidth: 16 bit/cycle
    bypass: [weight]
  - name: REG
    capacity: 8 B
    word_bits: 8
    instances: [4, 4]
    energy: {read: 0.1 pJ}
compute:
  - name: pe
    ops: [mac]
    instances: [4, 4]
    throughput: {int8: 2}
    energy: {mac: 0.5 pJ}
"""


def gemm(m, n, k):
    return BoundEinsum(Einsum.parse("Z[m,n] = A[m,k] * B[k,n]"), {"M": m, "N": n, "K": k},
                       {"A": "int8", "B": "int8", "Z": "int32"},
                       {"A": "input", "B": "weight", "Z": "output"})


def softmax_exp():
    """Three operation classes: on FuseMax the exponential (7 cycles) and the subtraction run
    on the 2-D array, the division on the 1-D array; on the H100 the exponential on the SFUs,
    the rest on the CUDA cores."""
    return BoundEinsum(Einsum.parse("P[m,n] = exp(S[m,n] - R[m]) / L[m]"), {"M": 64, "N": 128},
                       {"S": "bf16", "R": "bf16", "L": "bf16", "P": "bf16"},
                       {"S": "input", "R": "input", "L": "input", "P": "output"})


def conv1d():
    return BoundEinsum(Einsum.parse("O[k,p] = I[c,p+r] * W[k,c,r]"),
                       {"K": 8, "P": 12, "C": 4, "R": 3}, {"I": "int8", "W": "int8", "O": "int32"},
                       {"I": "input", "W": "weight", "O": "output"})


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path = tmp_path_factory.mktemp("hw") / "toy.yaml"
    path.write_text(TOY)
    return load_architecture(str(path))


CASES = [  # (id, einsum, machine, constraints, mappings)
    ("gemm-shared", lambda: gemm(64, 96, 48), "shared-ws-32x32", None, 80),
    ("gemm-toy-imperfect", lambda: gemm(20, 12, 18), "toy", {"imperfect": True}, 70),
    ("conv-toy", conv1d, "toy", None, 60),
    ("gemm-h100", lambda: gemm(256, 512, 128), "h100-sxm5-80gb", None, 60),
    ("gemm-stm32f746", lambda: gemm(24, 40, 32), "stm32f746", None, 60),
    ("exp-fusemax", softmax_exp, "fusemax", None, 60),
    ("exp-h100", softmax_exp, "h100-sxm5-80gb", None, 60),
    ("exp-a100-turns", softmax_exp, "a100-sxm4-40gb", None, 60),   # units take turns
    # every other shipped preset, on a GEMM
    ("gemm-a100-40gb", lambda: gemm(128, 256, 64), "a100-sxm4-40gb", None, 40),
    ("gemm-a100-80gb", lambda: gemm(96, 64, 160), "a100-sxm4-80gb", None, 40),
    ("gemm-ascend", lambda: gemm(128, 128, 96), "ascend-like", None, 40),
    ("gemm-tpu-v4i", lambda: gemm(256, 128, 64), "tpu-v4i-like", None, 40),
    ("gemm-xdna", lambda: gemm(64, 96, 128), "xdna-like", None, 40),
    ("gemm-stm32h743", lambda: gemm(16, 48, 24), "stm32h743", None, 40),
    ("gemm-fusemax", lambda: gemm(128, 256, 64), "fusemax", None, 40),
]


def _mappings(space, n, seed):
    rng = np.random.default_rng(seed)
    base = sample(space, n, rng)
    moved = mutate(space, base.take(np.arange(n // 2, n)), rng, 2)
    return concat([base.take(np.arange(n // 2)), moved])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_batch_model_equals_evaluate(case, toy):
    name, make, machine, constraints, n = case
    bound = make()
    arch = toy if machine == "toy" else load_architecture(str(HW / f"{machine}.yaml"))
    space = build_space(bound, arch, load_constraints(constraints))
    cands = _mappings(space, n, seed=len(name))
    fits, spread = capacity_ok(space, cands), fanout_ok(space, cands)
    out = count(space, cands)
    m = metrics(space, model_constants(bound, arch), out, cands.keeps)
    levels = ["compute"] + [lv.name for lv in arch.levels]
    checked = 0
    for i in range(len(cands)):
        spec = to_mapping(space, cands, i, f"{name}-{i}")
        if not spread[i]:
            with pytest.raises(SpecError, match="instances"):
                evaluate(bound, arch, spec)
            continue
        if not (fits[i] and m.valid[i]):
            with pytest.raises(CapacityError):
                evaluate(bound, arch, spec)
            continue
        report = evaluate(bound, arch, spec)
        assert m.energy_pj[i] == report.energy_pj
        assert m.cycles[i] == report.cycles
        assert m.latency_s[i] == report.latency_s
        assert m.offchip_bytes[i] == report.offchip_bytes
        assert m.utilization[i] == report.utilization
        if report.bottleneck not in ("latency", "occupancy"):   # the Report's own classes
            assert levels[m.bottleneck[i]] == report.bottleneck
        dram = [t for t in report.tensors if t.level == arch.levels[0].name]
        assert m.offchip_elements[i] == sum(t.reads + t.fills + t.updates for t in dram)
        checked += 1
    assert checked >= n // 2


def test_precheck_agrees_with_kernel_capacity():
    """For perfect GEMM nests the pre-check's tiles are the kernel's (no counting needed)."""
    bound = gemm(64, 32, 128)
    arch = load_architecture(str(SHARED))
    space = build_space(bound, arch, load_constraints(None))
    cands = mutate(space, sample(space, 300, np.random.default_rng(3)), np.random.default_rng(4), 3)
    m = metrics(space, model_constants(bound, arch), count(space, cands), cands.keeps)
    spread = fanout_ok(space, cands)
    assert np.array_equal(precheck(space, cands)[spread], m.valid[spread])
    assert 0 < m.valid.sum() < len(cands)
