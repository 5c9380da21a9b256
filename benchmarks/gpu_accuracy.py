"""GPU timing accuracy on measured PyTorch operator latencies, beside a plain roofline.

Data: the measured fp32 operator latencies of five GPUs (P100, P4, T4, V100, A100 PCIe;
bmm, linear, layernorm, softmax, GELU, add) in NeuSight's CSV format, one gzipped file per
operator (``--data``, default ``../shared/reference/gpu_measurements`` beside the project).
A sample of ``--per-group`` rows per (operator, GPU), seed 0, is predicted two ways:

* library-kernel mode: the kernel each row launched (its grid, block and tile), timed by the
  closed-form launch model (:mod:`accelsim.model.gpu_launch`);
* best-kernel mode: the mapper's best mapping under the latency objective;

and by the roofline of :mod:`accelsim.validate.measured`.

Leave one GPU out: each GPU is judged by figures fitted on the other four only: the eager
per-call host time per operator family (:func:`accelsim.validate.measured.fit_dispatch`) and
the launch model's DRAM efficiency, memory latency and FMA efficiency
(:func:`accelsim.validate.library.fit_calibration`).  Every other figure is a preset's
cited number.  The script prints the fitted values per held-out GPU.

Best-kernel predictions are appended to ``--cache`` (JSON lines) as they are made: an
interrupted run loses nothing, and a rerun searches only what is missing.

    python benchmarks/gpu_accuracy.py [--per-group 20] [--budget 300] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.validate.measured import (PredictionCache, compare, format_summary,  # noqa: E402
                                        summarize)

FILES = ("bmm", "linear", "ln", "softmax", "gelu", "add")
GPUS = ("p100-pcie-16gb", "p4", "t4", "v100-pcie-32gb", "a100-pcie-40gb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "reference"
                                              / "gpu_measurements"))
    parser.add_argument("--per-group", type=int, default=20)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / "gpu_accuracy.cache.jsonl"))
    args = parser.parse_args()
    cache = PredictionCache(args.cache, args.budget)
    paths = [Path(args.data) / f"{name}.csv.gz" for name in FILES]
    start = time.perf_counter()
    rows = compare(paths, per_group=args.per_group, budget=args.budget, cache=cache,
                   progress=lambda done, total: print(f"\rpredicted {done}/{total}", end="",
                                                      file=sys.stderr, flush=True))
    print(file=sys.stderr)
    fitted = {}
    for r in rows:
        fitted.setdefault(r.extra["gpu"], (r.extra["calibration"], {}))[1][r.op] = \
            r.extra["dispatch_s"]
    for held_out in GPUS:
        cal, host = fitted[held_out]
        print(f"held out {held_out}, fitted on the other four: DRAM efficiency "
              f"{cal['dram_efficiency']:.2f}, memory latency "
              f"{cal['memory_latency_s'] * 1e9:.0f} ns, FMA efficiency "
              f"{cal['fma_efficiency']:.2f}; host time per call "
              + ", ".join(f"{f} {v * 1e6:.1f} us" for f, v in sorted(host.items())))
    cells = [c for c in summarize(rows) if c.gpu in GPUS or c.gpu == "all"]
    print(format_summary(cells))
    per_gpu = [c for c in cells if c.gpu != "all"]
    for mode, mape in (("library-kernel", lambda c: c.mape),
                       ("best-kernel", lambda c: c.best_mape)):
        better = sum(mape(c) < c.roofline_mape for c in per_gpu)
        host = sum(mape(c) < c.host_roofline_mape for c in per_gpu)
        print(f"{mode} mode beats the roofline in {better} of {len(per_gpu)} (family, GPU) "
              f"cells, the roofline + host time in {host}")
    print(f"{len(rows)} rows, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
