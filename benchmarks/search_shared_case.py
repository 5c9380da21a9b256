"""The mapper on the shared benchmark case, side by side with ZigZag's published best.

Case (shared/reference/README.md beside the project, zigzag_shared_case/): G1 GEMM 512x512x512 and G2
512x768x768 (K = 768 reduced), int8 inputs and weights, int32 partial sums, on
hw_configs/shared-ws-32x32.yaml.  For each: accelsim.search (simulated annealing, energy
objective, 20,000 evaluations) in ZigZag's space (the spatial mapping of mapping_ws.yaml
fixed: N 32 across the columns, K 32 down the array) and with the spatial mapping free.

Printed per search: off-chip traffic in elements (reads + fills + updates at DRAM) against
ZigZag's best, and against the lower bound (accelsim.search.bound; elements and bytes);
energy under ZigZag's convention against ZigZag's best; seconds to the best mapping and in
all.  Last, the three sampling strategies on G2 with the spatial mapping free.

ZigZag charges r_cost / w_cost per access of a port's full width (bandwidth_max bits,
r_cost = pJ/bit x width): accelsim reproduces that by giving each level a block of one
port width (block_words = port bits / word bits), so an action on n elements costs
ceil(n x bits / port bits) accesses x pJ/bit x port bits, summed per instance.  One
difference remains and is printed apart: ZigZag writes final outputs as 8 bits (O_final),
accelsim keeps Z int32 to DRAM; the "8-bit final outputs" figure subtracts |Z| x 24 bits x
10 pJ/bit.  If the zigzag package is importable, ZigZag itself is run on the same case
(LOMA, lpf 6) and printed alongside; it is not installed by this script.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.arch import Architecture, load_architecture  # noqa: E402
from accelsim.ir import Einsum  # noqa: E402
from accelsim.mapping import BoundEinsum  # noqa: E402
from accelsim.model import evaluate  # noqa: E402
from accelsim.search import onchip_capacity, search, ski_slope  # noqa: E402
from accelsim.spec import load_spec  # noqa: E402

HW = ROOT / "hw_configs" / "shared-ws-32x32.yaml"
CASE = Path(os.environ.get("ZIGZAG_CASE",
                           ROOT.parent / "shared" / "reference" / "zigzag_shared_case"))
ZIGZAG = {  # reference README, ZigZag 3.9.1 LOMA best (lpf 9 for G1, lpf 8 for G2)
    "G1": {"mnk": (512, 512, 512), "elements": 1_572_864, "energy": 1.944270e8, "cycles": 167_394,
           "workload": "gemm_512x512x512.yaml"},
    "G2": {"mnk": (512, 768, 768), "elements": 5_701_632, "energy": 6.199994e8, "cycles": 583_810,
           "workload": "bert_qproj_512x768x768.yaml"},
}
PORT_BITS = {"DRAM": 128, "W_SRAM": 256, "I_SRAM": 256, "O_SRAM": 1024, "O_acc": 32, "W_reg": 8}
"""bandwidth_max of each memory in zigzag_shared_case/shared_ws_32x32.yaml."""
WS = {"levels": [{"level": "O_SRAM", "spatial": [{"rank": "n", "factor": 32, "axis": "x"}]},
                 {"level": "O_acc", "spatial": [{"rank": "k", "factor": 32, "axis": "y"}]}]}
BUDGET = 20_000


def zigzag_convention() -> Architecture:
    """The shared machine with one access = one full port (ZigZag's energy convention)."""
    spec = load_spec(HW, kind="hardware")
    levels = [lv.model_copy(update={"block_words": PORT_BITS[lv.name] // lv.word_bits})
              for lv in spec.levels]
    return Architecture.from_spec(spec.model_copy(update={"levels": levels}), file=str(HW))


def gemm(m: int, n: int, k: int) -> BoundEinsum:
    return BoundEinsum(Einsum.parse("Z[m,n] = A[m,k] * B[k,n]"), {"M": m, "N": n, "K": k},
                       {"A": "int8", "B": "int8", "Z": "int32"},
                       {"A": "input", "B": "weight", "Z": "output"})


def run(bound: BoundEinsum, arch: Architecture, constraints):
    """The search's result and the seconds until it first held its final best."""
    trace = []
    result = search(bound, arch, objective="energy", constraints=constraints, strategy="anneal",
                    budget=BUDGET, seed=0, progress=False,
                    callback=lambda p: trace.append((p.elapsed_s, p.best_score)))
    final = trace[-1][1]
    return result, next(t for t, s in trace if s == final)


def elements_at_dram(report) -> int:
    return sum(t.reads + t.fills + t.updates for t in report.tensors if t.level == "DRAM")


def onchip_elements(arch: Architecture) -> float:
    """Elements the on-chip levels can hold, each level counted with the narrowest type it
    may keep (a valid capacity for the elements bound)."""
    width = {"W_SRAM": 1, "I_SRAM": 1, "O_SRAM": 4, "O_acc": 4, "W_reg": 1}
    return sum(lv.capacity_bytes * lv.fanout / width[lv.name] for lv in arch.levels[1:])


def report_case(name: str, ref: dict, arch: Architecture, plain: Architecture) -> float:
    bound = gemm(*ref["mnk"])
    m, n, _ = ref["mnk"]
    start = time.perf_counter()
    floor_bytes = ski_slope(bound, [onchip_capacity(arch)], "bytes")[0]
    floor_elements = ski_slope(bound, [onchip_elements(arch)], "elements")[0]
    bound_s = time.perf_counter() - start
    print(f"== {name}: GEMM {'x'.join(map(str, ref['mnk']))}; lower bound {floor_elements:,.0f} "
          f"elements / {floor_bytes:,.0f} bytes off chip ({bound_s:.2f} s to compute)")
    slowest = 0.0
    for label, constraints in (("ZigZag's space (spatial fixed)", WS), ("spatial searched", None)):
        result, to_best = run(bound, arch, constraints)
        report = result.report
        elements = elements_at_dram(report)
        final8 = m * n * 24 * 10.0
        per_bit = evaluate(bound, plain, result.mapping).energy_pj
        slowest = max(slowest, to_best)
        print(f"  [{label}] {result.evaluated:,} mappings in {result.elapsed_s:.2f} s, best after "
              f"{to_best:.2f} s")
        print(f"    off-chip traffic: {elements:,} elements (ZigZag {ref['elements']:,}: "
              f"{elements / ref['elements']:.3f}x; bound {elements / floor_elements:.3f}x), "
              f"{report.offchip_bytes:,.0f} bytes (bound {result.found_over_bound:.3f}x)")
        print(f"    energy, ZigZag convention: {report.energy_pj:.4e} pJ; with 8-bit final "
              f"outputs {report.energy_pj - final8:.4e} pJ (ZigZag {ref['energy']:.4e}: "
              f"{(report.energy_pj - final8) / ref['energy']:.3f}x); accelsim per-bit "
              f"energy {per_bit:.4e} pJ")
        print(f"    cycles {report.cycles:,.0f} (ZigZag {ref['cycles']:,}), bottleneck "
              f"{report.bottleneck}, utilization {report.utilization:.3f}")
        print("    mapping: " + "; ".join(
            f"{lv.level}: " + " ".join([f"{t.rank}{t.factor}" for t in lv.temporal] +
                                       [f"{s.rank}{s.factor}{s.axis}" for s in lv.spatial])
            + (f" keep {','.join(lv.keep)}" if lv.keep is not None else "")
            for lv in result.mapping.levels))
    return slowest


def run_zigzag(ref: dict) -> None:
    try:
        from zigzag import api
    except ImportError:
        print("  zigzag not importable: ZigZag's published figures are used")
        return
    start = time.perf_counter()
    energy, latency, _ = api.get_hardware_performance_zigzag(
        workload=str(CASE / ref["workload"]), accelerator=str(CASE / "shared_ws_32x32.yaml"),
        mapping=str(CASE / "mapping_ws.yaml"), opt="energy", dump_folder=tempfile.mkdtemp(prefix="zigzag-"),
        lpf_limit=6, loma_show_progress_bar=False)
    print(f"  ZigZag (lpf 6, run here): energy {energy:.4e} pJ, latency {latency:,.0f} cycles, "
          f"{time.perf_counter() - start:.1f} s")


def compare_strategies(arch: Architecture) -> None:
    """G2 with the spatial mapping free (the harder space): each strategy, three seeds."""
    bound = gemm(*ZIGZAG["G2"]["mnk"])
    print(f"== G2, spatial searched, {BUDGET:,} evaluations, seeds 0-2 (ZigZag-convention pJ)")
    for strategy in ("random", "anneal", "genetic"):
        found = [search(bound, arch, objective="energy", strategy=strategy, budget=BUDGET,
                        seed=seed, progress=False, bound=False) for seed in range(3)]
        print(f"  {strategy:>8}: " + ", ".join(f"{r.report.energy_pj:.4e}" for r in found)
              + f"  ({sum(r.elapsed_s for r in found) / 3:.2f} s each)")


def main() -> None:
    arch, plain = zigzag_convention(), load_architecture(str(HW))
    print("accelsim.search on the shared case (measured on this machine; ZigZag figures from "
          "the reference README, 2-core machine)")
    start = time.perf_counter()
    search(gemm(64, 64, 64), arch, strategy="anneal", budget=2000, progress=False, bound=False)
    print(f"warm-up (numba compile, or load from its cache): {time.perf_counter() - start:.2f} s")
    slowest = 0.0
    for name, ref in ZIGZAG.items():
        slowest = max(slowest, report_case(name, ref, arch, plain))
        run_zigzag(ref)
    compare_strategies(arch)
    print(f"search_shared_case_time_to_best: {slowest:.2f} s")


if __name__ == "__main__":
    main()
    sys.exit(0)
