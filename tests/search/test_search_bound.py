"""The off-chip traffic lower bound (Orojenesis's ski slope, uneven tiles).

The reference here is a different, literal algorithm: every loop sequence with one loop per
rank per segment, every order of every segment, every assignment of tensors to tile
boundaries, traffic by the refetch rule written out in Python.  Its rule is checked against
the numba cost kernel on a chain hierarchy (one buffer per tensor), the bound against the
reference, and the bound against mappings the search finds (never above, attained by
exhaustive search on small machines).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from search_cases import CHAIN, SHARED, TWO_LEVEL, gemm, machine

from accelsim.arch import load_architecture
from accelsim.cost.fast import count_nests
from accelsim.cost.nest import Compute, Level, Loop, LoopNest
from accelsim.errors import MappingError
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum, einsum_problem
from accelsim.search import offchip_lower_bound, onchip_capacity, search, ski_slope
from accelsim.search.batch_model import count, metrics, model_constants, precheck
from accelsim.search.constraints import load_constraints
from accelsim.search.moves import sample
from accelsim.search.space import build_space

RANKS = "MNK"
RELEVANT = {"Z": "MN", "A": "MK", "B": "KN"}


def splits(n, parts):
    if parts == 1:
        yield (n,)
        return
    for d in range(1, n + 1):
        if n % d == 0:
            for rest in splits(n // d, parts - 1):
                yield (d,) + rest


def reference_traffic(seq, boundary, sizes, weight):
    """(traffic, footprint) of a loop sequence [(rank, factor)] outer to inner, where tensor
    t's tile holds the loops after position boundary[t]."""
    traffic = footprint = 0
    for t, rel in RELEVANT.items():
        above, inside = seq[: boundary[t]], seq[boundary[t]:]
        footprint += weight[t] * math.prod(f for r, f in inside if r in rel)
        last = max((i for i, (r, f) in enumerate(above) if r in rel and f > 1), default=-1)
        refetch = math.prod(f for r, f in above[: last + 1] if r not in rel)
        size = math.prod(sizes[r] for r in rel)
        traffic += weight[t] * size * ((2 * refetch - 1) if t == "Z" else refetch)
    return traffic, footprint


def reference_bound(sizes, capacity, weight, uneven=True):
    best = math.inf
    segments = 4 if uneven else 2
    for split in itertools.product(*(list(splits(sizes[r], segments)) for r in RANKS)):
        segs = [[(r, split[i][s]) for i, r in enumerate(RANKS) if split[i][s] > 1]
                for s in range(segments)]
        orders = [list(itertools.permutations(s)) for s in segs[:-1]] + [[tuple(segs[-1])]]
        for order in itertools.product(*orders):
            seq = [loop for seg in order for loop in seg]
            cuts = list(itertools.accumulate(len(seg) for seg in order))[:-1]
            choices = itertools.permutations(cuts) if uneven else [cuts * 3]
            for cut in choices:
                traffic, footprint = reference_traffic(seq, dict(zip(RELEVANT, cut)), sizes, weight)
                if footprint <= capacity:
                    best = min(best, traffic)
    return best


@pytest.mark.parametrize("mnk, z_bytes", [((2, 4, 3), 4), ((4, 2, 2), 1), ((3, 2, 4), 4)])
def test_bound_equals_the_reference(mnk, z_bytes):
    bound = gemm(*mnk, out="int32" if z_bytes == 4 else "int8")
    sizes = dict(zip(RANKS, mnk))
    weight = {"Z": z_bytes, "A": 1, "B": 1}
    capacities = [6, 7, 9, 12, 16, 24, 40]
    got = ski_slope(bound, capacities)
    assert list(got) == [reference_bound(sizes, c, weight) for c in capacities]


def test_uneven_tiles_beat_even_ones():
    """8x8x8, one byte per element, 20 bytes on chip: the best even tiling moves 448
    elements, an uneven one 384 (Z tile 8x2 above B's 2 and A's 1 element)."""
    sizes = dict(zip(RANKS, (8, 8, 8)))
    ones = {"Z": 1, "A": 1, "B": 1}
    assert reference_bound(sizes, 20, ones, uneven=False) == 448
    assert reference_bound(sizes, 20, ones) == 384
    assert offchip_lower_bound(gemm(8, 8, 8, out="int8"), 20) == 384


def _chain_nest(bound, order, seq, boundary):
    problem = einsum_problem(bound)
    levels = [Level("DRAM", frozenset(problem.tensor_names))]
    levels += [Level(f"L{i}", frozenset({t})) for i, t in enumerate(order, start=1)]
    cuts = sorted(boundary[t] for t in order)
    loops = [Loop(r, f, sum(i >= c for c in cuts)) for i, (r, f) in enumerate(seq)]
    return LoopNest(problem, tuple(levels), Compute(), tuple(loops))


def test_refetch_rule_is_the_kernels():
    """The reference traffic equals the kernel's DRAM counts on a chain of per-tensor buffers."""
    rng = np.random.default_rng(7)
    bound = gemm(4, 6, 8, out="int8")
    nests, expected = [], []
    for _ in range(150):
        loops = []
        for r, size in zip(RANKS, (4, 6, 8)):
            loops += [(r, int(f)) for f in rng.choice(list(splits(size, 3)))]
        seq = [loops[i] for i in rng.permutation(len(loops))]
        order = [str(t) for t in rng.permutation(list(RELEVANT))]
        cuts = sorted(int(c) for c in rng.integers(0, len(seq) + 1, 3))
        boundary = dict(zip(order, cuts))
        nests.append(_chain_nest(bound, order, seq, boundary))
        expected.append(reference_traffic(seq, boundary, dict(zip(RANKS, (4, 6, 8))),
                                          {"Z": 1, "A": 1, "B": 1})[0])
    got = [int(fc.counts[0, :, :3].sum()) for fc in count_nests(nests)]
    assert got == expected


def test_ski_slope_falls_to_compulsory_traffic():
    bound = gemm(512, 512, 512)
    caps = [2**k for k in range(4, 22)] + [math.inf]
    curve = ski_slope(bound, caps)
    assert (np.diff(curve) <= 0).all()
    assert curve[-1] == 512 * 512 * (1 + 1 + 4)
    assert ski_slope(bound, [64], "elements")[0] < ski_slope(bound, [64], "bytes")[0]


def test_bound_needs_a_gemm():
    conv = BoundEinsum(Einsum.parse("O[k,p] = I[c,p+r] * W[k,c,r]"),
                       {"K": 4, "P": 8, "C": 2, "R": 3},
                       {"I": "int8", "W": "int8", "O": "int32"}, {})
    with pytest.raises(MappingError, match="GEMM"):
        offchip_lower_bound(conv, 1024)


def test_bound_never_exceeds_a_mapping_on_the_shared_machine():
    bound = gemm(64, 96, 128)
    arch = load_architecture(str(SHARED))
    space = build_space(bound, arch, load_constraints(None))
    cands = sample(space, 3000, np.random.default_rng(1))
    cands = cands.take(np.flatnonzero(precheck(space, cands)))
    m = metrics(space, model_constants(bound, arch), count(space, cands), cands.keeps)
    floor = offchip_lower_bound(bound, onchip_capacity(arch))
    assert m.offchip_bytes[m.valid].min() >= floor
    best = search(bound, arch, objective="traffic", strategy="anneal", budget=6000, progress=False)
    assert best.found_over_bound >= 1


@pytest.mark.parametrize("levels, mnk, capacity", [
    (TWO_LEVEL.format(capacity=16), (8, 8, 8), 16),
    (TWO_LEVEL.format(capacity=40), (4, 8, 6), 40),
    (CHAIN, (8, 8, 8), 19),
])
def test_exhaustive_search_attains_the_bound(tmp_path, levels, mnk, capacity):
    arch = machine(tmp_path, "small", levels)
    bound = gemm(*mnk, out="int8")
    assert onchip_capacity(arch) == capacity
    result = search(bound, arch, objective="traffic", strategy="exhaustive", progress=False)
    assert result.report.offchip_bytes == result.offchip_bound_bytes
    assert result.found_over_bound == 1
