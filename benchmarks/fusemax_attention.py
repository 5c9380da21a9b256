"""Attention on the FuseMax preset: fused 1-pass and 3-pass mappings against unfused 3-pass.

Models (workloads/fusemax-*.yaml, the four FuseMax evaluates: heads and head size from
their dimensions) at batch 64 (FuseMax's setting, hw_configs/fusemax.yaml) and sequence
lengths N = 1K ... 1M (the paper's sweep, Nayak et al., MICRO 2024, Section 6).  For each
point accelsim.search (energy-delay product) maps three ways:

* unfused 3-pass: every Einsum of einsum_cascades/attention_3pass.yaml its own kernel;
* fused 3-pass: the fusion search on the same cascade (whole rows of scores on chip, as
  the FLAT dataflow does);
* fused 1-pass: the fusion search on einsum_cascades/attention_1pass.yaml (blocks of 256
  keys, running max, denominator and numerator, as FuseMax's cascade).

Printed per point: latency and energy of each, off-chip traffic over compulsory (Q, K, V
read once, O written once), the 1-pass fused mapping's speedup and energy ratio over fused
3-pass (the analogue of FuseMax over FLAT) and over unfused 3-pass, the 2-D array's
utilization in the 1-pass mapping's largest group (its operations over its busy PE-cycles,
an exponential counted as the 6 MACs and an add it takes), and the latency and
utilization of the best 1-pass mapping evaluated that moves only compulsory traffic
(res1: FuseMax's schedule, a head's Q, K, V and output resident in the global buffer
while tiles of queries and blocks of keys stream through; '-' where none fits).  Then the
geometric means, beside the paper's averages: FuseMax is 6.7x faster than FLAT and uses 79%
of its energy.  Energy here
leaves out the global buffer and the 2-D array's registers (no 45 nm figure in the preset),
so energy ratios count DRAM, the 1-D array's registers and compute.

Usage: python benchmarks/fusemax_attention.py [--quick]  (--quick: 1K and 4K, BERT only).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.arch import load_architecture  # noqa: E402
from accelsim.ir import load_cascade  # noqa: E402
from accelsim.lower import load_workload  # noqa: E402
from accelsim.search import BoundCascade, search  # noqa: E402

BATCH = 64
LENGTHS = (1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20)
MODELS = ("bert", "t5", "trxl", "xlm")
BLOCK = 256
PAPER_SPEEDUP, PAPER_ENERGY = 6.7, 0.79
OBJECTIVE = "edp"


def point(arch, three, one, heads, dim, n):
    sizes = {"H": heads * BATCH, "E": dim, "F": dim, "M": n, "P": n}
    blocked = BoundCascade(one, sizes | {"M0": min(BLOCK, n)})
    three_pass = search(BoundCascade(three, sizes), arch, objective=OBJECTIVE, progress=False,
                        bound=False)
    one_pass = search(blocked, arch, objective=OBJECTIVE, progress=False, bound=False)
    return three_pass, one_pass


def resident(result, compulsory):
    """The best (by the objective) whole-cascade mapping evaluated that moves only
    compulsory traffic, or None."""
    found = [report for group in result.groups if len(result.groups) == 1
             for report, _ in group.tried if report.offchip_bytes == compulsory]
    return min(found, key=lambda r: r.energy_pj * r.latency_s, default=None)


def main() -> int:
    quick = "--quick" in sys.argv
    arch = load_architecture(str(ROOT / "hw_configs" / "fusemax.yaml"))
    three = load_cascade(ROOT / "einsum_cascades" / "attention_3pass.yaml")
    one = load_cascade(ROOT / "einsum_cascades" / "attention_1pass.yaml")
    speedups, energies, speedups_unfused = [], [], []
    print(f"{'model':6s} {'N':>8s} {'unfused3 s':>11s} {'fused3 s':>10s} {'fused1 s':>10s} "
          f"{'1/3 x':>7s} {'1/3 E':>6s} {'1/u x':>7s} {'traffic3':>9s} {'traffic1':>9s} "
          f"{'util2d':>6s} {'res1 s':>9s} {'res util':>8s} {'search s':>8s}")
    for name in MODELS[:1] if quick else MODELS:
        model = load_workload(str(ROOT / "workloads" / f"fusemax-{name}.yaml")).model
        heads, dim = model.heads, model.hidden // model.heads
        for n in LENGTHS[:2] if quick else LENGTHS:
            start = time.perf_counter()
            fused3, fused1 = point(arch, three, one, heads, dim, n)
            seconds = time.perf_counter() - start
            compulsory = 4 * heads * BATCH * n * dim * 2
            speedup = fused3.latency_s / fused1.latency_s
            energy = fused1.energy_pj / fused3.energy_pj
            versus_unfused = fused3.unfused_latency_s / fused1.latency_s
            big = max(fused1.groups, key=lambda g: g.report.latency_s)
            res = resident(fused1, compulsory)
            res_text = (f"{res.latency_s:9.4g} {res.utilization:8.2f}" if res is not None
                        else f"{'-':>9s} {'-':>8s}")
            speedups.append(speedup)
            energies.append(energy)
            speedups_unfused.append(versus_unfused)
            print(f"{name:6s} {n:8d} {fused3.unfused_latency_s:11.4g} {fused3.latency_s:10.4g} "
                  f"{fused1.latency_s:10.4g} {speedup:7.2f} {energy:6.2f} {versus_unfused:7.2f} "
                  f"{fused3.offchip_bytes / compulsory:9.2f} "
                  f"{fused1.offchip_bytes / compulsory:9.2f} {big.report.utilization:6.2f} "
                  f"{res_text} {seconds:8.1f}", flush=True)
    gmean = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))  # noqa: E731
    print(f"geomean: fused 1-pass over fused 3-pass {gmean(speedups):.2f}x faster, "
          f"{gmean(energies):.2f} of the energy (paper, FuseMax over FLAT: {PAPER_SPEEDUP}x, "
          f"{PAPER_ENERGY:.0%}); over unfused 3-pass {gmean(speedups_unfused):.2f}x faster")
    print(f"fusemax_attention: {gmean(speedups):.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
