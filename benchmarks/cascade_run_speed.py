"""Wall time of the numpy cascade interpreter (``Cascade.run``) on attention at layer sizes.

The interpreter is the IR's oracle: tests run it on every shipped cascade, so it should stay
well under a second at the sizes of a real layer.  Here 4 heads, 128 queries and keys and a
head dimension of 64 (as in tests/ir/test_ir_cascade.py) are run through the unblocked
3-pass cascade, FuseMax's 1-pass cascade (blocks of 32 keys), FlashAttention-2 and the
split-KV decode cascade; ``--queries`` and ``--keys`` scale the case up.

    .venv/bin/python benchmarks/cascade_run_speed.py [--heads 4 --queries 128 --keys 128]

Each time is the median of several runs after one untimed run.  The last line is
``cascade_run_slowest: <seconds> s``: the slowest cascade's median (target: well under 1 s
at the default sizes).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASCADES = {"attention_3pass": {}, "attention_1pass": {"M0": 32}, "flash_attention2": {},
            "attention_decode_splitkv": {}}
"""Shipped cascade -> the rank sizes given besides those read off the inputs."""
RUNS = 5


def median_seconds(fn) -> float:
    fn()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from accelsim.ir import load_cascade

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--queries", type=int, default=128)
    parser.add_argument("--keys", type=int, default=128)
    parser.add_argument("--head-dim", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = {"Q": rng.standard_normal((args.heads, args.queries, args.head_dim)),
              "K": rng.standard_normal((args.heads, args.keys, args.head_dim)),
              "V": rng.standard_normal((args.heads, args.keys, args.head_dim))}
    print(f"heads {args.heads}, queries {args.queries}, keys {args.keys}, "
          f"head dim {args.head_dim}; median of {RUNS} runs")
    slowest = 0.0
    for name, given in CASCADES.items():
        cascade = load_cascade(ROOT / "einsum_cascades" / f"{name}.yaml")
        seconds = median_seconds(lambda: cascade.run(inputs, **given))
        slowest = max(slowest, seconds)
        print(f"{name:<26} {seconds:8.3f} s")
    print(f"cascade_run_slowest: {slowest:.3f} s")


if __name__ == "__main__":
    main()
