"""Each bottleneck class of a GPU kernel once, on the A100 SXM4 40 GB preset, and the launch
overhead of every GPU preset.

Rates (hw_configs/a100-sxm4-40gb.yaml, each cited there): clock 1.41 GHz; HBM 1,555 GB/s =
1555e9 / 1.41e9 = 1102.84 B/clk; L2 5120 B/clk for the chip, 5120 / 108 = 47.4 B/clk through
each SM's port (hw_configs/SOURCES.md, 'SM ports'); shared memory 128 B/clk per SM for reads
and writes together; tensor cores 1024 bf16 MAC/clk per SM; launch overhead 2.7 us (CSCS
ReFrame kernel_latency, A100).  bf16 elements are 2 B.  A kernel's time is its slowest term
plus the launch overhead; the classes (accelsim/model/__init__.py, ``_bottleneck``):

* ``latency``: the launch overhead is longer than the slowest term;
* ``occupancy``: a per-SM term is the slowest because few SMs are busy; spread over all 108
  SMs it would be shorter than the shared levels' terms;
* otherwise the slowest term: ``compute``, ``HBM``, ``L2`` (its own transfers or the SMs'
  ports into it) or ``SMEM``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.spec import MappingSpec

ROOT = Path(__file__).resolve().parents[2]
A100 = load_architecture(str(ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"))
GEMM = Einsum.parse("Z[m,n] = A[m,k] * B[k,n]")
GEMV = Einsum.parse("Z[m] = A[m,k] * B[k]")
DTYPES = {"A": "bf16", "B": "bf16", "Z": "bf16"}
ROLES = {"A": "input", "B": "weight", "Z": "output"}

CLOCK, LAUNCH = 1.41e9, 2.7e-6
HBM, L2, PORT, SMEM, MACS = 1555e9 / 1.41e9, 5120, 5120 / 108, 128, 1024


def loops(**factors) -> list[dict]:
    return [{"rank": rank, "factor": factor} for rank, factor in factors.items()]


def run(einsum: Einsum, sizes: dict[str, int], levels: list[dict]):
    mapping = MappingSpec.model_validate({"kind": "mapping", "version": 1, "name": "case",
                                          "einsum": "Z", "levels": levels})
    return evaluate(BoundEinsum(einsum, sizes, DTYPES, ROLES), A100, mapping)


# A full wave: 12 x 9 = 108 output tiles of 128 x 128, one per SM; the k loop (steps of 32)
# above L2, so L2 holds one k-slice of the wave's A and B; Z accumulates in registers.
WAVE = {"M": 1536, "N": 1152, "K": 4096}
WAVE_LEVELS = [{"level": "HBM", "temporal": loops(k=128)},
               {"level": "L2", "keep": ["A", "B"], "spatial": loops(m=12, n=9)},
               {"level": "SMEM", "keep": ["A", "B"]},
               {"level": "RF", "temporal": loops(m=128, n=128, k=32)}]

CASES = [
    # compute: 128 x 128 x 4096 MACs per SM / 1024 = 65,536 cycles.  The others: HBM moves A,
    # B and Z once, (1536 x 4096 + 4096 x 1152 + 1536 x 1152) x 2 = 25,559,040 B (23,176
    # cycles); L2 reads each SM's A and B panels, 108 x (128 + 128) x 4096 x 2 = 226,492,416 B,
    # and is filled with A and B once, 22,020,096 B: 248,512,512 / 5120 = 48,538 cycles.
    ("compute", GEMM, WAVE, WAVE_LEVELS, 128 * 128 * 4096 / MACS),
    # HBM: a matrix-vector product, 13824 = 108 x 128 rows of A (4096 bf16 each) streamed from
    # HBM to the SMs' shared memory (L2 keeps only the vector B).  HBM: A 113,246,208 B, B
    # 8,192, Z 27,648: 113,282,048 B / 1102.84 = 102,719 cycles; the ports carry A, B once per
    # SM (108 x 8,192) and Z, 114,158,592 / 5120 = 22,297; compute 128 x 4096 / 1024 = 512.
    ("HBM", GEMV, {"M": 13824, "K": 4096},
     [{"level": "L2", "keep": ["B"], "spatial": loops(m=108), "temporal": loops(k=16)},
      {"level": "SMEM", "keep": ["A", "B"]},
      {"level": "RF", "temporal": loops(m=128, k=256)}],
     (13824 * 4096 + 4096 + 13824) * 2 / HBM),
    # L2: all 108 SMs (16 rows of A each) read the same 4096 x 128 B from L2, which does not
    # multicast: reads 108 x (16 + 128) x 4096 x 2 = 127,401,984 B, fills (1728 x 4096 + 4096
    # x 128) x 2 = 15,204,352 B: 142,606,336 / 5120 = 27,853 cycles.  Shared memory per SM:
    # filled and read once, 2 x 1,179,648 / 128 = 18,432; HBM 15,646,720 / 1102.84 = 14,188;
    # the ports 127,844,352 / 5120 = 24,970; compute 16 x 128 x 4096 / 1024 = 8192.
    ("L2", GEMM, {"M": 1728, "N": 128, "K": 4096},
     [{"level": "HBM", "temporal": loops(k=128)},
      {"level": "L2", "keep": ["A", "B"], "spatial": loops(m=108)},
      {"level": "SMEM", "keep": ["A", "B"]},
      {"level": "RF", "temporal": loops(m=16, n=128, k=32)}],
     (108 * (16 + 128) * 4096 + 1728 * 4096 + 4096 * 128) * 2 / L2),
    # SMEM: the full wave with 16 x 16 register tiles walked m (8) then n (8) in shared memory,
    # k in steps of 64, Z kept in shared memory.  Per SM and k-step: A and B filled (128 x 64
    # each); A's register tile (16 x 64) does not change while n walks, so A is read once
    # (8192); B's (64 x 16) is read at each of the 64 steps (65,536); Z's 16 x 16 tiles are
    # written back 64 times (16,384) and read back at every k-step but the first.  Per SM over
    # the 64 k-steps: fills 2 x 524,288, reads 524,288 + 4,194,304 + 63 x 16,384, updates
    # 64 x 16,384: 7,847,936 elements, 15,695,872 B / 128 = 122,624 cycles (compute 65,536).
    ("SMEM", GEMM, WAVE,
     [{"level": "HBM", "temporal": loops(k=64)},
      {"level": "L2", "keep": ["A", "B"], "spatial": loops(m=12, n=9)},
      {"level": "SMEM", "keep": ["A", "B", "Z"], "temporal": loops(m=8, n=8)},
      {"level": "RF", "temporal": loops(m=16, n=16, k=64)}],
     (2 * 524288 + 524288 + 4194304 + 63 * 16384 + 64 * 16384) * 2 / SMEM),
    # occupancy: the matrix-vector product on 12 SMs (1152 rows each): the ports of 12 SMs
    # carry A, B 12 times and Z, 113,372,160 B at 12 x 47.4 B/clk = 199,287 cycles; spread
    # over 108 SMs that would be 22,143, less than HBM's 102,719.
    ("occupancy", GEMV, {"M": 13824, "K": 4096},
     [{"level": "L2", "keep": ["B"], "spatial": loops(m=12), "temporal": loops(k=128)},
      {"level": "SMEM", "keep": ["A", "B"]},
      {"level": "RF", "temporal": loops(m=1152, k=32)}],
     (13824 * 4096 + 12 * 4096 + 13824) * 2 / (12 * PORT)),
    # latency: a 64 x 64 x 64 GEMM on one SM.  Its slowest term is that SM's port: A and B in
    # (2 x 8192 B) and Z out (8192 B), 24,576 / 47.4 = 518 cycles (compute 256), 0.37 us
    # against the 2.7 us launch overhead.
    ("latency", GEMM, {"M": 64, "N": 64, "K": 64},
     [{"level": "SMEM", "keep": ["A", "B"]},
      {"level": "RF", "temporal": loops(m=64, n=64, k=64)}],
     3 * 64 * 64 * 2 / PORT),
]


@pytest.mark.parametrize("name, einsum, sizes, levels, cycles", CASES, ids=[c[0] for c in CASES])
def test_each_bottleneck_class(name, einsum, sizes, levels, cycles):
    report = run(einsum, sizes, levels)
    assert report.bottleneck == name
    assert report.cycles == pytest.approx(cycles, rel=1e-9)
    assert report.latency_s == pytest.approx(cycles / CLOCK + LAUNCH, rel=1e-9)


@pytest.mark.parametrize("preset, port_bytes_per_s", [
    ("a100-sxm4-40gb", 5120 / 108 * 1.41e9), ("a100-sxm4-80gb", 5120 / 108 * 1.41e9),
    ("h100-sxm5-80gb", 6.37e12 / 132)])
def test_launch_overhead_dominates_a_tiny_kernel(preset, port_bytes_per_s):
    """Every GPU preset launches a kernel in 2.7 us (CSCS ReFrame kernel_latency, 'async'
    reference on A100).  The 64^3 GEMM above moves 24,576 B through one SM's port: 0.37 us on
    A100, 24,576 / 48.26 GB/s = 0.51 us on H100; the launch is over 80% of the kernel."""
    arch = load_architecture(str(ROOT / "hw_configs" / f"{preset}.yaml"))
    assert arch.launch_overhead_s == 2.7e-6
    mapping = MappingSpec.model_validate({"kind": "mapping", "version": 1, "name": "tiny",
                                          "einsum": "Z", "levels": CASES[-1][3]})
    bound = BoundEinsum(GEMM, {"M": 64, "N": 64, "K": 64}, DTYPES, ROLES)
    report = evaluate(bound, arch, mapping)
    assert report.bottleneck == "latency"
    assert report.latency_s == pytest.approx(2.7e-6 + 24576 / port_bytes_per_s, rel=1e-9)
    assert 2.7e-6 / report.latency_s > 0.8
