"""Mappings evaluated per second by the numba cost kernel, on one core and on all cores.

Problem: a GEMM Z[m,n] += A[m,k] * B[k,n] with M = N = K = 512 on a 3-level hierarchy
(DRAM -> global buffer -> a 16 x 16 array of PE register files, 2-D spatial fan-out below the
buffer). A batch of random perfectly-factorized mappings (random tile factors per level,
random loop orders, random spatial ranks on both mesh axes, random bypass of the middle
level) is generated as integer arrays, as a mapper does, and counted in batched calls.

Also printed: the cold compile time (numba cache cleared, in a fresh interpreter) and the warm
first-call time (cache populated, fresh interpreter, including `import accelsim`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = np.array([512, 512, 512], np.int64)            # M, N, K
DIM_RANK = np.array([[[0, -1], [2, -1]],               # A[m, k]
                     [[2, -1], [1, -1]],               # B[k, n]
                     [[0, -1], [1, -1]]], np.int64)    # Z[m, n]
NDIMS = np.array([2, 2, 2], np.int64)
DIM_DIV = np.ones((3, 2), np.int64)                 # no block indices
READ_WRITE = np.array([False, False, True])
LEVELS = 3
MESH = 16


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def random_mappings(count: int, seed: int = 0):
    """Perfect factorizations of 512 per rank over (DRAM, buffer, spatial, PE) with random orders."""
    rng = np.random.default_rng(seed)
    k = 12                                                # 3 ranks x (2 temporal levels + spatial + PE)
    rank = np.zeros((count, k), np.int64)
    factor = np.ones((count, k), np.int64)
    level = np.zeros((count, k), np.int64)
    spatial = np.zeros((count, k), np.int64)
    keeps = np.ones((count, LEVELS, 3), np.bool_)
    spatial_ranks = np.array([rng.permutation(3)[:2] for _ in range(count)])
    for b in range(count):
        loops = []
        for r in range(3):
            remaining = 512
            fx = MESH if r in spatial_ranks[b] else 1
            remaining //= fx
            pe = int(rng.choice(divisors(remaining)[:5]))
            remaining //= pe
            buf = int(rng.choice(divisors(remaining)))
            loops += [(0, r, remaining // buf, 0), (1, r, buf, 0), (2, r, pe, 0)]
            if fx > 1:
                loops.append((1, r, fx, 1))
        order = rng.permutation(len(loops))
        loops = sorted((loops[i] for i in order), key=lambda l: (l[0], l[3]))
        for i, (lv, r, f, sp) in enumerate(loops):
            level[b, i], rank[b, i], factor[b, i], spatial[b, i] = lv, r, f, sp
        for i in range(len(loops), k):
            level[b, i] = LEVELS - 1
        keeps[b, 1] = rng.random(3) < 0.8
    return rank, factor, level, spatial, keeps


def run(batch, threads: int, repeats: int) -> float:
    from numba import set_num_threads

    from accelsim.cost.kernels import (BatchCounts, LevelArrays, NestArrays, ProblemArrays,
                                       count_perfect_batch as count_batch)

    set_num_threads(threads)
    rank, factor, level, spatial, keeps = batch
    n = rank.shape[0]
    out = BatchCounts(np.zeros((n, LEVELS, 3, 4), np.int64), np.zeros((n, LEVELS, 3), np.int64),
                      np.zeros((n, LEVELS, 3), np.int64), np.zeros((n, LEVELS, 3, 3)),
                      np.zeros((n, 3), np.int64))
    levels = LevelArrays(np.array([True, True, True]), np.array([True, True, True]),
                         np.full((LEVELS, 3), 8, np.int64),               # int8 elements...
                         np.array([32, 8, 8], np.int64),                  # ...in 4-word bursts
                         np.array([[64.0, 64, 64], [6, 6, 6], [0.5, .5, .5]]))
    args = (NestArrays(rank, factor, level, spatial, keeps),
            ProblemArrays(SIZES, DIM_RANK, DIM_DIV, NDIMS, READ_WRITE), levels, out)
    count_batch(*args)                                   # warm (compiled or cached)
    best = float("inf")
    for _ in range(repeats):
        for a in out:
            a[...] = 0
        start = time.perf_counter()
        count_batch(*args)
        best = min(best, time.perf_counter() - start)
    return n / best


def fresh(code: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    probe = ("from benchmarks.cost_model_throughput import random_mappings, run;"
             "run(random_mappings(8), 1, 1)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for cache in ROOT.glob("accelsim/cost/__pycache__/kernels.*.nb*"):
        cache.unlink()
    cold = fresh(probe, env)
    warm = fresh(probe, env)
    batch = random_mappings(200_000)
    one = run(batch, 1, 3)
    from numba import config

    cores = config.NUMBA_NUM_THREADS
    allc = run(batch, cores, 3)
    print(f"cold compile + first batch (fresh interpreter): {cold:.2f} s")
    print(f"warm first call incl. import (fresh interpreter): {warm:.2f} s")
    print(f"evaluations per second, 1 core:      {one:,.0f}")
    print(f"evaluations per second, {cores} cores:     {allc:,.0f}")
    print(f"cost_model_throughput_all_cores: {allc:.0f} evaluations/s")


if __name__ == "__main__":
    main()
