"""The tile walker: exact counts for any factorization, by walking (step, instance) tiles.

Imports only numpy, numba and the shared helpers of :mod:`accelsim.cost.kernels`.  Each data
tile is a box of intervals (one per tensor dimension); a level instance holds its latest
non-empty box, and what enters it at a step is the new box less its overlap with the held
one.  Siblings whose network merges their traffic share one read (or update) of the union of
what enters them, |Y| - |Y n (n H_k)| for siblings that need the same box Y.  The cost grows
with the number of tiles, not of elements; the closed form in kernels.py handles the
perfectly factorized nests a search mostly evaluates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from accelsim.cost.kernels import (FIRST, FILLS, READS, UPDATES, _accesses, _counts_of, _nest,
                                   _relevant, _weights)


class Above(NamedTuple):
    """The loops above a level c of one nest and the tile extents at c: what the walk of
    every tensor at c reads."""

    sa: np.ndarray
    """Indices of the spatial loops above c, in loop order (c's instances)."""
    ta: np.ndarray
    """Indices of the temporal loops above c, in loop order (c's steps)."""
    w: np.ndarray
    """(K,) the step one iteration of each loop of the nest adds to its rank's index."""
    ext: np.ndarray
    """(ranks,) tile extent of every rank at c."""


class Tally(NamedTuple):
    """What the walk of one tensor at a level c finds, per instance."""

    entries: np.ndarray
    """(instances of c,) elements entering each instance over all its steps."""
    ever: np.ndarray
    """(instances of c,) the instance ever holds a non-empty tile."""
    served: np.ndarray
    """(levels, tensors, instances) distinct elements each instance of a level passes to
    its children over their steps (added to when its children are walked)."""


@njit(cache=True)
def _extents(lvl, rank, factor, level, nranks):
    """Tile extent of every rank at level ``lvl``: the product of factors owned by levels >= lvl."""
    ext = np.ones(nranks, np.int64)
    for i in range(rank.shape[0]):
        if level[i] >= lvl:
            ext[rank[i]] *= factor[i]
    return ext


@njit(cache=True)
def _starts(code, loops, factor, rank, w, out):
    """Add each decoded loop's contribution to its rank's start (row-major, last loop fastest)."""
    for q in range(loops.shape[0] - 1, -1, -1):
        i = loops[q]
        digit = code % factor[i]
        code //= factor[i]
        out[rank[i]] += digit * w[i]


@njit(cache=True)
def _box(t, start, ext, problem, lo, hi):
    """The data tile of tensor t for rank starts ``start`` (clipped), as intervals lo/hi."""
    sizes, dim_rank, dim_div = problem.sizes, problem.dim_rank, problem.dim_div
    for d in range(problem.ndims[t]):
        r0 = dim_rank[t, d, 0]
        r1 = dim_rank[t, d, 1]
        if r0 < 0:
            lo[d] = 0
            hi[d] = 1
        elif r1 < 0:
            q = dim_div[t, d]
            lo[d] = start[r0] // q
            hi[d] = (min(start[r0] + ext[r0], sizes[r0]) - 1) // q + 1
        else:
            lo[d] = start[r0] + start[r1]
            hi[d] = min(start[r0] + ext[r0], sizes[r0]) + min(start[r1] + ext[r1], sizes[r1]) - 1


@njit(cache=True)
def _size(lo, hi, n):
    s = 1
    for d in range(n):
        s *= max(0, hi[d] - lo[d])
    return s


@njit(cache=True)
def _overlap(alo, ahi, blo, bhi, n):
    s = 1
    for d in range(n):
        s *= max(0, min(ahi[d], bhi[d]) - max(alo[d], blo[d]))
    return s


@njit(cache=True)
def _loop_lists(c, level, spatial):
    """Indices of the spatial and temporal loops above level c, in loop order."""
    sa = [i for i in range(level.shape[0]) if level[i] < c and spatial[i] == 1]
    ta = [i for i in range(level.shape[0]) if level[i] < c and spatial[i] == 0]
    return np.array(sa, np.int64), np.array(ta, np.int64)


@njit(cache=True)
def _prod(idx, factor):
    n = 1
    for q in range(idx.shape[0]):
        n *= factor[idx[q]]
    return n


@njit(cache=True)
def _canonical(k, sa, factor, rank, merged_irrelevant):
    """Instance index with the digits of merged loops over irrelevant ranks set to zero."""
    out = 0
    stride = 1
    for q in range(sa.shape[0] - 1, -1, -1):
        i = sa[q]
        digit = k % factor[i]
        k //= factor[i]
        if not merged_irrelevant[q]:
            out += digit * stride
        stride *= factor[i]
    return out


@njit(cache=True)
def _union(t, k, nest, problem, above):
    """Distinct elements instance k of level c (the loops ``above`` it) ever holds
    (single-rank dimensions).

    The non-idle steps are every combination of each rank's valid digits, so the elements
    ever held are the product over dimensions of the values each dimension's rank covers.
    """
    rank, factor = nest.rank, nest.factor
    sizes, ndims = problem.sizes, problem.ndims
    dim_rank, dim_div = problem.dim_rank, problem.dim_div
    sa, ta, w, ext = above
    first = 1
    base = np.zeros(sizes.shape[0], np.int64)
    _starts(k, sa, factor, rank, w, base)
    for d in range(ndims[t]):
        r = dim_rank[t, d, 0]
        if r < 0:
            continue
        q = dim_div[t, d]
        own = np.array([i for i in ta if rank[i] == r], np.int64)
        marks = np.zeros(sizes[r] // q + 1, np.bool_)
        tmp = np.zeros(sizes.shape[0], np.int64)
        for code in range(_prod(own, factor)):
            tmp[:] = 0
            _starts(code, own, factor, rank, w, tmp)
            lo = base[r] + tmp[r]
            hi = min(lo + ext[r], sizes[r])
            if lo < hi:
                marks[lo // q:(hi - 1) // q + 1] = True
        first *= marks.sum()
    return first


@njit(cache=True)
def _walk_tensor(t, c, parent, nest, problem, above, merge, tally):
    """Walk level c (c == number of levels: compute) for tensor t.

    Fills ``tally.entries[k]`` and ``tally.ever[k]`` per instance k of c, and adds to
    ``tally.served[parent, t, p]``, per instance p of ``parent`` (if >= 0), the distinct
    (element, key) pairs entering c's instances at each of c's steps.  Returns the largest
    data tile.
    """
    rank, factor, level = nest.rank, nest.factor, nest.level
    sizes, dim_rank, ndims = problem.sizes, problem.dim_rank, problem.ndims
    sa, ta, w, ext = above
    entries, ever = tally.entries, tally.ever
    served = tally.served[max(parent, 0), t]
    nlevels = merge.shape[0]
    hold = c < nlevels
    n_inst = _prod(sa, factor)
    n_steps = _prod(ta, factor)
    nd = max(ndims[t], 1)
    held_lo = np.zeros((n_inst, nd), np.int64)
    held_hi = np.zeros((n_inst, nd), np.int64)
    has_held = np.zeros(n_inst, np.bool_)
    mine = 0
    per_parent = n_inst
    merged_irrelevant = np.zeros(sa.shape[0], np.bool_)
    if parent >= 0:
        for q in range(sa.shape[0]):
            i = sa[q]
            if level[i] < parent:
                mine += 1
            else:
                merged_irrelevant[q] = merge[level[i]] and not _relevant(t, rank[i], dim_rank, ndims)
        per_parent = _prod(sa[mine:], factor)
    stamp = np.full(n_inst, -1, np.int64)
    g_lo = np.zeros((n_inst, nd), np.int64)
    g_hi = np.zeros((n_inst, nd), np.int64)
    i_lo = np.zeros((n_inst, nd), np.int64)
    i_hi = np.zeros((n_inst, nd), np.int64)
    lo = np.zeros(nd, np.int64)
    hi = np.zeros(nd, np.int64)
    tstart = np.zeros(sizes.shape[0], np.int64)
    start = np.zeros(sizes.shape[0], np.int64)
    largest = 0
    for s in range(n_steps):
        tstart[:] = 0
        _starts(s, ta, factor, rank, w, tstart)
        for k in range(n_inst):
            start[:] = tstart
            _starts(k, sa, factor, rank, w, start)
            active = True
            for r in range(sizes.shape[0]):
                if start[r] >= sizes[r]:
                    active = False
            if not active:
                continue
            _box(t, start, ext, problem, lo, hi)
            size = _size(lo, hi, ndims[t])
            had = has_held[k]
            if parent >= 0:
                g = _canonical(k, sa, factor, rank, merged_irrelevant)
                if stamp[g] != s:
                    stamp[g] = s
                    g_lo[g, :] = lo
                    g_hi[g, :] = hi
                    if had:
                        i_lo[g, :] = held_lo[k]
                        i_hi[g, :] = held_hi[k]
                    else:
                        i_lo[g, :] = 0
                        i_hi[g, :] = 0
                elif had:
                    for d in range(nd):
                        i_lo[g, d] = max(i_lo[g, d], held_lo[k, d])
                        i_hi[g, d] = min(i_hi[g, d], held_hi[k, d])
                else:
                    i_lo[g, :] = 0
                    i_hi[g, :] = 0
            if hold:
                kept = _overlap(lo, hi, held_lo[k], held_hi[k], ndims[t]) if had else 0
                entries[k] += size - kept
                held_lo[k, :] = lo
                held_hi[k, :] = hi
                has_held[k] = True
            else:
                entries[k] += size
            ever[k] = True
            largest = max(largest, size)
        if parent >= 0:
            for g in range(n_inst):
                if stamp[g] == s:
                    union = _size(g_lo[g], g_hi[g], ndims[t])
                    union -= _overlap(g_lo[g], g_hi[g], i_lo[g], i_hi[g], ndims[t])
                    served[g // per_parent] += union
    return largest


@njit(cache=True)
def _parent(keeps, c, t):
    """The innermost level above level c (c == number of levels: compute) that keeps
    tensor t, or -1."""
    for p in range(min(c, keeps.shape[0]) - 1, -1, -1):
        if keeps[p, t]:
            return p
    return -1


@njit(cache=True)
def _walk(nest, problem, levels, out):
    """Fill the outputs of one nest by walking tiles (exact for partial tiles and idle steps)."""
    rank, factor, level, spatial, keeps = nest
    nlevels = keeps.shape[0]
    ntensors = keeps.shape[1]
    w = _weights(rank, factor)
    max_inst = 1
    for i in range(rank.shape[0]):
        if spatial[i] == 1:
            max_inst *= factor[i]
    served = np.zeros((nlevels, ntensors, max_inst), np.int64)
    for c in range(nlevels, -1, -1):
        sa, ta = _loop_lists(c, level, spatial)
        n_inst = _prod(sa, factor)
        above = Above(sa, ta, w, _extents(c, rank, factor, level, problem.sizes.shape[0]))
        for t in range(ntensors):
            if c < nlevels and not keeps[c, t]:
                continue
            merge = levels.reduction if problem.read_write[t] else levels.multicast
            tally = Tally(np.zeros(n_inst, np.int64), np.zeros(n_inst, np.bool_), served)
            largest = _walk_tensor(t, c, _parent(keeps, c, t), nest, problem, above, merge,
                                   tally)
            if c == nlevels:
                if t == 0:
                    out.compute[0] = tally.entries.sum()
                    out.compute[2] = tally.ever.sum()
                continue
            _finish(t, c, nest, problem, levels, above, tally, out)
            out.capacity[c, t] = largest
            out.instances[c, t] = tally.ever.sum()
    out.compute[1] = _busy_steps(rank, factor, level, spatial, problem.sizes, nlevels)


@njit(cache=True)
def _finish(t, c, nest, problem, levels, above, tally, out):
    """Per-instance rules 4-5 and energy (ceil per instance) for one (level, tensor)."""
    backing = _parent(nest.keeps, c, t) < 0
    read_write = problem.read_write[t]
    eb, ab, energy_pj = levels.elem_bits[c, t], levels.access_bits[c], levels.energy_pj[c]
    entries, ever, served = tally.entries, tally.ever, tally.served[c, t]
    counts, energy = out.counts, out.energy
    for k in range(entries.shape[0]):
        if read_write:
            first = _union(t, k, nest, problem, above) if ever[k] else 0
            updates = served[k]
            reads = updates - first
            fills = 0 if backing else entries[k] - first
            counts[c, t, UPDATES] += updates
            counts[c, t, FIRST] += first
        else:
            updates = 0
            reads = served[k]
            fills = 0 if backing else entries[k]
        counts[c, t, READS] += reads
        counts[c, t, FILLS] += fills
        energy[c, t, 0] += _accesses(reads, eb, ab) * energy_pj[0]
        energy[c, t, 1] += _accesses(fills, eb, ab) * energy_pj[1]
        energy[c, t, 2] += _accesses(updates, eb, ab) * energy_pj[2]


@njit(cache=True)
def _busy_steps(rank, factor, level, spatial, sizes, nlevels):
    """Compute steps in which some compute instance operates."""
    sa, ta = _loop_lists(nlevels, level, spatial)
    w = _weights(rank, factor)
    tstart = np.zeros(sizes.shape[0], np.int64)
    # the instance whose spatial digits are all zero starts lowest in every rank: a step is
    # busy exactly when that instance operates
    busy = 0
    for s in range(_prod(ta, factor)):
        tstart[:] = 0
        _starts(s, ta, factor, rank, w, tstart)
        ok = True
        for r in range(sizes.shape[0]):
            if tstart[r] >= sizes[r]:
                ok = False
        if ok:
            busy += 1
    return busy


@njit(parallel=True, cache=True)
def count_walk_batch(nests, problem, levels, out):
    """Count a batch of nests of any factorization by walking tiles (same arguments as
    :func:`accelsim.cost.kernels.count_perfect_batch`)."""
    for b in prange(nests.rank.shape[0]):
        _walk(_nest(nests, b), problem, levels, _counts_of(out, b))
