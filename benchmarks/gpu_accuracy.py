"""GPU timing accuracy on measured PyTorch operator latencies, beside a plain roofline.

Data: the measured fp32 operator latencies of five GPUs (P100, P4, T4, V100, A100 PCIe;
bmm, linear, layernorm, softmax, GELU, add) in NeuSight's CSV format, one gzipped file per
operator (``--data``, default ``../shared/reference/gpu_measurements`` beside the project).
A sample of ``--per-group`` rows per (operator, GPU), seed 0, is predicted by accelsim's
mapper (best-kernel mode, latency objective) and by the roofline of
:mod:`accelsim.validate.measured`.

Leave one GPU out: each GPU is judged by a model fitted on the other four.  The only fitted
figure is the eager per-call host time per operator family
(:func:`accelsim.validate.measured.fit_dispatch`: the median over the other four GPUs of
each one's 5th-percentile latency); every other figure is a preset's cited number.  The
script prints the fitted values per held-out GPU.

Predictions are appended to ``--cache`` (JSON lines) as they are made: an interrupted run
loses nothing, and a rerun predicts only what is missing.

    python benchmarks/gpu_accuracy.py [--per-group 20] [--budget 300] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.validate.measured import (DEVICE_PRESETS, PredictionCache, compare,  # noqa: E402
                                        fit_dispatch, format_summary, read_measurements,
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
    rows, start = [], time.perf_counter()
    for name in FILES:
        path = Path(args.data) / f"{name}.csv.gz"
        got = compare(path, per_group=args.per_group, budget=args.budget, cache=cache,
                      progress=lambda done, total, name=name: print(
                          f"\r{name}: {done}/{total}", end="", file=sys.stderr, flush=True))
        print(file=sys.stderr)
        rows += got
    devices = {preset: name for name, preset in DEVICE_PRESETS.items()}
    every = [m for name in FILES for m in read_measurements(Path(args.data) / f"{name}.csv.gz")]
    for held_out in GPUS:
        fitted = fit_dispatch(every, devices[held_out])
        print(f"held out {held_out}: host time per call fitted on the other four: "
              + ", ".join(f"{f} {v * 1e6:.1f} us" for f, v in sorted(fitted.items())))
    known = set(DEVICE_PRESETS.values())
    print(format_summary([c for c in summarize(rows) if c.gpu in known or c.gpu == "all"]))
    better = sum(c.mape < c.roofline_mape for c in summarize(rows) if c.gpu != "all")
    cells = sum(1 for c in summarize(rows) if c.gpu != "all")
    print(f"{len(rows)} rows, {time.perf_counter() - start:.0f} s; accelsim beats the roofline "
          f"in {better} of {cells} (family, GPU) cells")


if __name__ == "__main__":
    main()
