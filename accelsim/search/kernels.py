"""numba loops of the search over candidate arrays; they import only numpy and numba.

* :func:`level_bytes` -- the bytes of the first data tiles a level keeps, for given tile
  extents (the footprint of accelsim.cost.footprint; exact for perfect nests);
* :func:`precheck_batch` -- fan-out and capacity of a batch of candidates;
* :func:`encode_batch` -- candidates as the cost kernels' loop arrays (non-unit loops,
  level by level: temporal loops in order, then spatial loops; padding innermost).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.cost.footprint import tile_elements


@njit(cache=True)
def level_bytes(j, ext, keeps, fit):
    """Bytes of the first data tiles level j keeps, for extents ext[j] (clipped to the
    sizes); ``fit``: the space's FitArrays."""
    total = 0.0
    for t in range(keeps.shape[1]):
        if not keeps[j, t]:
            continue
        total += tile_elements(t, ext[j], fit.sizes, fit.dim_rank, fit.dim_div,
                               fit.ndims) * fit.bpe[t]
    return total


@njit(cache=True)
def precheck_batch(cands, slots, fit, fan_ok, cap_ok):
    """Per candidate of ``cands`` (Candidates): spatial slots within their fan-out
    (fan_ok) and every level below the first holding its tiles (cap_ok); ``slots``: the
    space's Slots, ``fit`` its FitArrays."""
    factors, keeps = cands.factors, cands.keeps
    slot_level, slot_axis, slot_limit = slots
    n, ns, nr = factors.shape
    nl = keeps.shape[1]
    ext = np.ones((nl, nr), np.int64)
    for b in range(n):
        ok = True
        for s in range(ns):
            if slot_axis[s] >= 0:
                used = 1
                for r in range(nr):
                    used *= factors[b, s, r]
                if used > slot_limit[s]:
                    ok = False
        fan_ok[b] = ok
        ext[:, :] = 1
        for s in range(ns):
            for j in range(slot_level[s] + 1):
                for r in range(nr):
                    ext[j, r] *= factors[b, s, r]
        fits = True
        for j in range(1, nl):
            if level_bytes(j, ext, keeps[b], fit) > fit.cap[j]:
                fits = False
                break
        cap_ok[b] = fits


@njit(cache=True)
def encode_batch(cands, perms, slot_level, loops):
    """Fill the loop arrays (B, width) of ``loops`` (the cost kernels' NestArrays) for a
    batch of Candidates; width >= the most non-unit loops.  ``perms``: the space's loop
    orders, ``slot_level``: each slot's level."""
    factors, perm = cands.factors, cands.perm
    rank, factor, level, spatial = loops.rank, loops.factor, loops.level, loops.spatial
    n, ns, nr = factors.shape
    nl = perm.shape[1]
    width = rank.shape[1]
    for b in range(n):
        k = 0
        for j in range(nl):
            for q in range(nr):
                r = perms[perm[b, j], q]
                f = factors[b, j, r]
                if f > 1:
                    rank[b, k], factor[b, k], level[b, k], spatial[b, k] = r, f, j, 0
                    k += 1
            for s in range(nl, ns):
                if slot_level[s] != j:
                    continue
                for r in range(nr):
                    f = factors[b, s, r]
                    if f > 1:
                        rank[b, k], factor[b, k], level[b, k], spatial[b, k] = r, f, j, 1
                        k += 1
        while k < width:
            rank[b, k], factor[b, k], level[b, k], spatial[b, k] = 0, 1, nl - 1, 0
            k += 1
