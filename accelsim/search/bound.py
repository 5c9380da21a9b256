"""A lower bound on off-chip traffic for GEMM-like Einsums: the "ski slope" of Orojenesis
(Huang et al., ISCA 2024), computed exactly by exhaustive search.

For an on-chip capacity ``C`` the bound is the least traffic between the backing store and
the chip over every perfectly factorized mapping of the Einsum onto a two-level hierarchy
(backing store, one buffer of ``C``), where each tensor's tile may sit at its *own* depth
of the loop nest (Orojenesis's uneven mappings; a tensor the buffer bypasses counts as a
one-element tile, see below).  Uneven tiles matter: for ``Z[m,n] += A[m,k] * B[k,n]`` at 8x8x8 with
20 elements of buffer, the best even mapping moves 448 elements and the best uneven one
384 (tests/search/test_search_bound.py) -- and a machine with separate input, weight and
output buffers, like the shared 32x32 case, runs uneven mappings.

Why it bounds every mapping of a deeper machine: a tensor's off-chip counts depend only on
the loops above its outermost on-chip keeper and on the tile that keeper holds (the
kernels' closed form: entries = tile x steps up to the innermost relevant loop above).
Merging a rank's loops between two consecutive tile boundaries into one never increases
those counts or tiles, so one loop per rank per segment suffices; spatial loops above a
keeper, with multicast or spatial reduction, move the union of the instances' tiles, like
a temporal loop inside the boundary whose tile is that union (no larger than the
instances' capacities together); without those networks they move more.  So with ``C`` the
summed capacity of the on-chip levels (all instances) the bound holds for every perfectly
factorized mapping of the machine.  Not covered: imperfect (padded) factorizations, and a
tensor streamed from the backing store straight into the compute units, whose per-step
operands act as a tile the compute registers hold outside ``C`` (the tests check the bound
against every mapping they evaluate on the shared machine).

The search: per tensor order of boundaries (6), segments S0 | S1 | S2 | S3 between them,
and per rank its factor in each segment (divisor chains); for a GEMM each tensor misses one
rank ``x``, and its traffic is ``|T| x I`` (read-only) or ``|T| x (2I - 1)`` (accumulated),
with ``I`` the product of the ``x`` loops above its boundary that are not trailing (not
after the last relevant loop above it).  Within a segment only which rank is innermost
changes a trailing run, so those choices are tried; an ``x`` loop inside the innermost
boundary is moved just above it (equal counts).  The tests check the formula against the
kernel and the bound against exhaustive mapping search.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from accelsim.cost.fast import encode_problem
from accelsim.errors import MappingError
from accelsim.mapping import BoundEinsum, einsum_problem
from accelsim.search.bound_kernels import sigma_curve
from accelsim.search.space import divisors

UNITS = ("bytes", "elements")


def gemm_shape(bound: BoundEinsum):
    """(sizes (3,), missing rank per tensor (3,), tensor sizes (3,), read_write (3,),
    bytes per element (3,), batch) for a GEMM-like Einsum; raises MappingError otherwise.

    Batched and multi-rank GEMMs count too: ranks that index the same tensors are merged
    into one (a loop over the product is at least as good a mapping, so the bound stays a
    bound), and ranks that index all three tensors are a batch: the least traffic is the
    batch count times that of one GEMM (a batch loop inside a tile boundary only grows
    tiles, since every tensor depends on it)."""
    problem = einsum_problem(bound)
    p = encode_problem(problem)
    if len(problem.tensors) != 3:
        raise MappingError("the traffic bound needs a GEMM-like Einsum: three tensors")
    holders: dict[int, set[int]] = {r: set() for r in range(len(problem.ranks))}
    for t in range(3):
        if (p.dim_rank[t, :, 1] >= 0).any() or (p.dim_div[t] > 1).any():
            raise MappingError(f"tensor {problem.tensors[t].name!r} is not indexed by plain "
                               "ranks, as in a GEMM")
        for d in range(p.ndims[t]):
            if p.dim_rank[t, d, 0] >= 0:
                holders[int(p.dim_rank[t, d, 0])].add(t)
    sizes = np.ones(3, np.int64)
    batch = 1
    for r, held in holders.items():
        if len(held) == 3:
            batch *= int(p.sizes[r])
        elif len(held) == 2:
            sizes[({0, 1, 2} - held).pop()] *= int(p.sizes[r])
        elif int(p.sizes[r]) > 1:
            raise MappingError(f"rank {list(problem.ranks)[r]!r} indexes "
                               "one tensor only; the traffic bound needs a GEMM-like Einsum")
    if (sizes == 1).any():
        raise MappingError("the traffic bound needs each tensor to miss a rank the others "
                           "have, as in a GEMM")
    missing = np.arange(3, dtype=np.int64)       # merged rank t is the one tensor t misses
    tsize = np.array([math.prod(int(sizes[r]) for r in range(3) if r != t) for t in range(3)],
                     np.int64)
    bpe = np.array([tensor.bytes_per_element for tensor in problem.tensors], np.float64)
    return sizes, missing, tsize, p.read_write.copy(), bpe, batch


def ski_slope(bound: BoundEinsum, capacities, unit: str = "bytes",
              free: frozenset[str] = frozenset()) -> np.ndarray:
    """The least off-chip traffic at each capacity (same unit for both: bytes or elements).

    Tensors in ``free`` cost no traffic (they stay on chip, as a fused group's
    intermediates do) but their tiles still take capacity."""
    if unit not in UNITS:
        raise MappingError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    sizes, missing, tsize, rw, bpe, batch = gemm_shape(bound)
    weight = bpe if unit == "bytes" else np.ones(3)
    names = [t.name for t in einsum_problem(bound).tensors]
    paid = tuple(float(w) * (0.0 if n in free else 1.0) for w, n in zip(weight, names))
    caps = tuple(float(c) for c in np.atleast_1d(np.asarray(capacities, np.float64)))
    got = _curve(tuple(int(s) for s in sizes), tuple(missing.tolist()), tuple(tsize.tolist()),
                 tuple(bool(x) for x in rw), tuple(float(w) for w in weight), caps, paid)
    return np.array(got, np.float64) * batch


def offchip_lower_bound(bound: BoundEinsum, capacity: float, unit: str = "bytes",
                        free: frozenset[str] = frozenset()) -> float:
    """The least off-chip traffic of any mapping with ``capacity`` on chip (see the module
    docstring); ``math.inf`` capacity gives the compulsory traffic."""
    return float(ski_slope(bound, [capacity], unit, free)[0])


@lru_cache(maxsize=64)
def _curve(sizes, missing, tsize, rw, weight, caps, paid) -> tuple[float, ...]:
    order = np.argsort(caps)
    sorted_caps = np.array(caps, np.float64)[order]
    chains = [_chains(s).astype(np.float64) for s in sizes]
    best = np.full(sorted_caps.shape[0], np.inf)
    for sigma in itertools.permutations(range(3)):
        a, b, g = (missing[t] for t in sigma)
        gamma = np.ascontiguousarray(chains[g][chains[g][:, 3] == 1])   # WLOG (docstring)
        got = sigma_curve(chains[a], chains[b], gamma,
                           np.array([weight[t] for t in sigma], np.float64),
                           np.array([paid[t] * tsize[t] for t in sigma], np.float64),
                           np.array([rw[t] for t in sigma], np.bool_), sorted_caps)
        best = np.minimum(best, got)
    best = np.minimum.accumulate(best)
    out = np.empty_like(best)
    out[order] = best
    return tuple(out.tolist())


def _chains(size: int) -> np.ndarray:
    """(n, 4): every way to split ``size`` into factors for segments S0..S3."""
    rows = []
    for a in divisors(size):
        for b in divisors(size // a):
            for c in divisors(size // a // b):
                rows.append((a, b, c, size // a // b // c))
    return np.array(rows, np.int64)


