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
from numba import njit, prange

from accelsim.cost.fast import encode_problem
from accelsim.errors import MappingError
from accelsim.mapping import BoundEinsum, einsum_problem
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
        got = _sigma_curve(chains[a], chains[b], gamma,
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


@njit(cache=True)
def _cost(ws, rw, refetch):
    """Traffic of a tensor read ``refetch`` times (weight x size given); accumulated
    tensors are read back and written again on every refetch but the first."""
    return ws * (2.0 * refetch - 1.0) if rw else ws * refetch


@njit(cache=True)
def _best_inner(fa, fb, fg, ws, rw):
    """Least traffic over which rank is innermost in segments S0 and S1, for segment
    factors fa, fb, fg of the ranks missing from the outer, middle and inner tensor.

    A tensor's refetch factor is the product of its missing rank's loops above its
    boundary, less the trailing run of those loops just above the boundary: a run passes an
    empty segment, takes the segment's missing-rank loop when that loop is innermost there,
    and goes on upward only if it is the segment's only loop.  In S2 the inner tensor's
    rank is best innermost; S0's innermost helps one tensor at most, so the best choice
    there is the one that saves most."""
    n0 = int(fa[0] > 1) + int(fb[0] > 1) + int(fg[0] > 1)
    n1 = int(fa[1] > 1) + int(fb[1] > 1) + int(fg[1] > 1)
    n2 = int(fa[2] > 1) + int(fb[2] > 1) + int(fg[2] > 1)
    through2 = n2 == 0 or (n2 == 1 and fg[2] > 1)
    cost1 = _cost(ws[0], rw[0], fa[0])
    save1 = cost1 - _cost(ws[0], rw[0], 1.0) if fa[0] > 1 else 0.0
    best = np.inf
    for c1 in range(3):
        if (n1 > 0 and (fa[1], fb[1], fg[1])[c1] == 1) or (n1 == 0 and c1 > 0):
            continue
        b_inner, g_inner = n1 > 0 and c1 == 1, n1 > 0 and c1 == 2
        refetch2 = fb[0] if (n1 == 0 or b_inner) else fb[0] * fb[1]
        up2 = n1 == 0 or (b_inner and n1 == 1)
        refetch3 = fg[0] * fg[1]
        up3 = False
        if through2:
            if n1 == 0:
                up3 = True
            elif g_inner:
                refetch3, up3 = fg[0], n1 == 1
        cost2 = _cost(ws[1], rw[1], refetch2)
        cost3 = _cost(ws[2], rw[2], refetch3)
        save = 0.0
        if n0 > 0:
            save = save1
            if up2 and fb[0] > 1:
                save = max(save, cost2 - _cost(ws[1], rw[1], refetch2 / fb[0]))
            if up3 and fg[0] > 1:
                save = max(save, cost3 - _cost(ws[2], rw[2], refetch3 / fg[0]))
        best = min(best, cost1 + cost2 + cost3 - save)
    return best


@njit(cache=True, parallel=True)
def _sigma_curve(alpha, beta, gamma, weight, ws, rw, caps):
    """Least traffic per capacity bin for one order of tile boundaries (outer tensor
    first), given the segment chains of the ranks missing from the outer (alpha), middle
    (beta) and inner (gamma) tensor.  Tiles: outer beta x gamma inside b1, middle
    alpha x gamma inside b2, inner alpha x beta inside b3; the inner tile is known once
    alpha and beta are, so whole gamma loops are skipped when it overflows."""
    top = caps[caps.shape[0] - 1]
    local = np.full((alpha.shape[0], caps.shape[0]), np.inf)
    for ia in prange(alpha.shape[0]):
        fa = alpha[ia]
        e2a, e3a = fa[2] * fa[3], fa[3]
        for ib in range(beta.shape[0]):
            fb = beta[ib]
            e1b = fb[1] * fb[2] * fb[3]
            base = weight[2] * e3a * fb[3]
            if base + weight[0] * e1b + weight[1] * e2a > top:
                continue
            for ig in range(gamma.shape[0]):
                fg = gamma[ig]
                cap = base + weight[0] * e1b * fg[1] * fg[2] + weight[1] * e2a * fg[2]
                if cap > top:
                    continue
                traffic = _best_inner(fa, fb, fg, ws, rw)
                k = np.searchsorted(caps, cap)
                if traffic < local[ia, k]:
                    local[ia, k] = traffic
    out = np.full(caps.shape[0], np.inf)
    for ia in range(alpha.shape[0]):
        for k in range(caps.shape[0]):
            out[k] = min(out[k], local[ia, k])
    return out
