"""numba kernels that count a batch of loop nests at once; they import only numpy and numba.

Arrays in, arrays out (see :mod:`accelsim.cost.fast` for the packing).  Two exact batch
kernels, both defined by the oracle's rules (:mod:`accelsim.cost.oracle`), compiled apart so
that a search over perfect factorizations never pays for the walker's compilation:

* perfect nests (every rank's loop factors multiply to its size): a closed form.  All
  utilized instances do identical work; at each transition of a temporal loop above a
  level, the new tile differs from the previous one by a shift per tensor dimension, so the
  elements entering are ``|tile| - prod(max(0, extent_d - |shift_d|))``.
* imperfect nests (partial tiles, idle instances): a walker over (step, instance) tiles,
  treating each data tile as a box of intervals (:mod:`accelsim.cost.walker`).  Its cost
  grows with the number of tiles, not of elements.

Supported projections: a tensor dimension is a constant, one rank with a positive
coefficient, one rank divided by a block size (``m // B``, walker only), or a sum of two
ranks with unit coefficients (a sliding window); each rank
indexes at most one dimension of a tensor; accumulated (read-write) tensors have no
sliding-window dimension; a spatial loop whose network merges (multicast or spatial
reduction) does not run over a rank of a tensor's sliding-window dimension.  The wrapper
checks these before calling a kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

READS, FILLS, UPDATES, FIRST = 0, 1, 2, 3
"""Columns of the per-(level, tensor) count array."""


@njit(cache=True)
def _weights(rank, factor):
    """Per loop: the step one iteration adds to its rank's index."""
    k = rank.shape[0]
    w = np.ones(k, np.int64)
    for i in range(k):
        acc = 1
        for j in range(i + 1, k):
            if rank[j] == rank[i]:
                acc *= factor[j]
        w[i] = acc
    return w


@njit(cache=True)
def _relevant(t, r, dim_rank, ndims):
    for d in range(ndims[t]):
        if dim_rank[t, d, 0] == r or dim_rank[t, d, 1] == r:
            return True
    return False


@njit(cache=True)
def _dim_extent(t, d, ext, dim_rank):
    r0 = dim_rank[t, d, 0]
    r1 = dim_rank[t, d, 1]
    if r0 < 0:
        return 1
    if r1 < 0:
        return ext[r0]
    return ext[r0] + ext[r1] - 1


@njit(cache=True)
def _perfect_entries(t, lvl, rank, factor, level, spatial, w, ext, dim_rank, ndims, rel, suffix):
    """Elements entering one instance of level lvl over all its steps (perfect nest).

    Without sliding windows, consecutive tiles are identical or disjoint, so every step up
    to the innermost relevant temporal loop brings a whole tile.  With windows, one backward
    pass keeps per rank how far the inner temporal loops have moved the tile (``suffix``),
    so each loop's transition shift costs O(1) per dimension.
    """
    box = 1
    windows = False
    for d in range(ndims[t]):
        box *= _dim_extent(t, d, ext, dim_rank)
        windows = windows or dim_rank[t, d, 1] >= 0
    if lvl == 0:
        return box
    if not windows:
        steps = 1
        relevant_steps = 1
        for i in range(rank.shape[0]):
            if level[i] < lvl and spatial[i] == 0 and factor[i] > 1:
                steps *= factor[i]
                if rel[t, rank[i]]:
                    relevant_steps = steps
        return box * relevant_steps
    total = _product_above(lvl, factor, level, spatial, 0)
    suffix[:] = 0
    inner = 1
    entries = box
    for i in range(rank.shape[0] - 1, -1, -1):
        if level[i] >= lvl or spatial[i] == 1 or factor[i] == 1:
            continue
        overlap = 1
        for d in range(ndims[t]):
            delta = 0
            for q in range(2):
                r = dim_rank[t, d, q]
                if r >= 0:
                    delta += (w[i] if rank[i] == r else 0) - suffix[r]
            keep = _dim_extent(t, d, ext, dim_rank) - abs(delta)
            if keep <= 0:
                overlap = 0
                break
            overlap *= keep
        prefix = total // (inner * factor[i])
        entries += prefix * (factor[i] - 1) * (box - overlap)
        suffix[rank[i]] += (factor[i] - 1) * w[i]
        inner *= factor[i]
    return entries


@njit(cache=True)
def _accesses(count, elem_bits, access_bits):
    """ceil(count * elem_bits / access_bits) for count >= 0; no division when they are equal."""
    if elem_bits == access_bits:
        return count
    return (count * elem_bits + access_bits - 1) // access_bits


@njit(cache=True)
def _product_above(lvl, factor, level, spatial, kind):
    """Product of the factors of the loops above level lvl that are spatial (kind 1) or
    temporal (kind 0): the instances of lvl, or the steps one of them takes."""
    n = 1
    for i in range(factor.shape[0]):
        if spatial[i] == kind and level[i] < lvl:
            n *= factor[i]
    return n


@njit(cache=True)
def _fill_weights(rank, factor, w, running):
    """w[i] = the step one iteration of loop i adds to its rank's index (backward pass)."""
    running[:] = 1
    for i in range(rank.shape[0] - 1, -1, -1):
        w[i] = running[rank[i]]
        running[rank[i]] *= factor[i]


@njit(cache=True)
def _fill_extents(rank, factor, level, ext):
    """ext[lvl, r]: tile extent of rank r at level lvl (ext[levels] is compute: all ones)."""
    ext[:, :] = 1
    for lvl in range(ext.shape[0]):
        for i in range(rank.shape[0]):
            if level[i] >= lvl:
                ext[lvl, rank[i]] *= factor[i]


@njit(cache=True)
def _level_tables(t, rank, factor, level, spatial, merge, rel, nlevels, rel_steps, rel_fanout,
                  counted):
    """One pass over the loops (sorted by level) for tensor t.

    rel_steps[l]: temporal steps above level l up to the innermost one relevant to t;
    rel_fanout[l]: product of the spatial factors above l over ranks relevant to t;
    counted[j]: product of the spatial factors owned by level j whose children count apart
    (the network does not merge them, or they split t).
    """
    steps = 1
    last = 1
    fan = 1
    i = 0
    k = rank.shape[0]
    for lvl in range(nlevels + 1):
        while i < k and level[i] < lvl:
            f = factor[i]
            if f > 1:
                if spatial[i] == 0:
                    steps *= f
                    if rel[t, rank[i]]:
                        last = steps
                else:
                    if rel[t, rank[i]]:
                        fan *= f
                    if rel[t, rank[i]] or not merge[level[i]]:
                        counted[level[i]] *= f
            i += 1
        rel_steps[lvl] = last
        rel_fanout[lvl] = fan


@njit(cache=True)
def _perfect(rank, factor, level, spatial, keeps, sizes, dim_rank, ndims, read_write,
             multicast, reduction, elem_bits, access_bits, energy_pj, counts, capacity, instances, energy,
             compute, w, ext, scratch, entries, fanout, rel, tsize, rel_steps, rel_fanout,
             counted):
    """Fill the outputs of one perfect nest.

    w, ext, scratch, entries, fanout, rel_steps, rel_fanout, counted are work arrays;
    rel[t, r] says whether rank r indexes tensor t and tsize[t] is t's element count.
    """
    nlevels = keeps.shape[0]
    _fill_weights(rank, factor, w, scratch)
    _fill_extents(rank, factor, level, ext)
    steps = _product_above(nlevels, factor, level, spatial, 0)
    for lvl in range(nlevels + 1):
        fanout[lvl] = _product_above(lvl, factor, level, spatial, 1)
    for t in range(keeps.shape[1]):
        merge = reduction if read_write[t] else multicast
        counted[:] = 1
        _level_tables(t, rank, factor, level, spatial, merge, rel, nlevels, rel_steps,
                      rel_fanout, counted)
        windows = False
        for d in range(ndims[t]):
            windows = windows or dim_rank[t, d, 1] >= 0
        entries[nlevels] = steps
        for lvl in range(nlevels):
            if not keeps[lvl, t]:
                continue
            if windows:
                entries[lvl] = _perfect_entries(t, lvl, rank, factor, level, spatial, w,
                                                ext[lvl], dim_rank, ndims, rel, scratch)
            else:
                box = 1
                for d in range(ndims[t]):
                    box *= _dim_extent(t, d, ext[lvl], dim_rank)
                entries[lvl] = box * rel_steps[lvl] if lvl > 0 else box
        backing = True
        for lvl in range(nlevels):
            if not keeps[lvl, t]:
                continue
            child = nlevels
            for c in range(lvl + 1, nlevels):
                if keeps[c, t]:
                    child = c
                    break
            served = entries[child]
            for j in range(lvl, child):
                served *= counted[j]
            n = fanout[lvl]
            if read_write[t]:
                first = tsize[t] // rel_fanout[lvl]
                reads, updates = served - first, served
                fills = 0 if backing else entries[lvl] - first
                counts[lvl, t, FIRST] = first * n
            else:
                reads, updates = served, 0
                fills = 0 if backing else entries[lvl]
            eb = elem_bits[lvl, t]
            ab = access_bits[lvl]
            counts[lvl, t, READS] = reads * n
            counts[lvl, t, FILLS] = fills * n
            counts[lvl, t, UPDATES] = updates * n
            energy[lvl, t, 0] = n * _accesses(reads, eb, ab) * energy_pj[lvl, 0]
            energy[lvl, t, 1] = n * _accesses(fills, eb, ab) * energy_pj[lvl, 1]
            energy[lvl, t, 2] = n * _accesses(updates, eb, ab) * energy_pj[lvl, 2]
            box = 1
            for d in range(ndims[t]):
                box *= _dim_extent(t, d, ext[lvl], dim_rank)
            capacity[lvl, t] = box
            instances[lvl, t] = n
            backing = False
    ops = 1
    for r in range(sizes.shape[0]):
        ops *= sizes[r]
    compute[0] = ops
    compute[1] = steps
    compute[2] = fanout[nlevels]


CHUNK = 256
"""Nests per work item of the parallel loop (work arrays are allocated once per chunk)."""


@njit(parallel=True, cache=True)
def count_perfect_batch(rank, factor, level, spatial, keeps, sizes, dim_rank, ndims, read_write,
                        multicast, reduction, elem_bits, access_bits, energy_pj, counts, capacity, instances,
                        energy, compute):
    """Count a batch of perfectly factorized nests (closed form); outputs filled in place.

    rank/factor/level/spatial: (B, K) loops outer to inner; keeps: (B, levels, tensors).
    counts: (B, levels, tensors, 4) totals over instances of reads, fills, updates, first
    touches; capacity, instances: (B, levels, tensors); energy: (B, levels, tensors, 3) pJ
    of reads, fills, updates (ceil per instance); compute: (B, 3) operations, busy steps,
    utilized compute instances.
    """
    nb = rank.shape[0]
    nlevels = keeps.shape[1]
    for chunk in prange((nb + CHUNK - 1) // CHUNK):
        w = np.empty(rank.shape[1], np.int64)
        ext = np.empty((nlevels + 1, sizes.shape[0]), np.int64)
        scratch = np.empty(sizes.shape[0], np.int64)
        entries = np.empty(nlevels + 1, np.int64)
        fanout = np.empty(nlevels + 1, np.int64)
        rel_steps = np.empty(nlevels + 1, np.int64)
        rel_fanout = np.empty(nlevels + 1, np.int64)
        counted = np.empty(nlevels, np.int64)
        rel = np.zeros((keeps.shape[2], sizes.shape[0]), np.bool_)
        tsize = np.ones(keeps.shape[2], np.int64)
        for t in range(keeps.shape[2]):
            for r in range(sizes.shape[0]):
                rel[t, r] = _relevant(t, r, dim_rank, ndims)
            for d in range(ndims[t]):
                if dim_rank[t, d, 0] >= 0 and dim_rank[t, d, 1] < 0:
                    tsize[t] *= sizes[dim_rank[t, d, 0]]
        for b in range(chunk * CHUNK, min(nb, (chunk + 1) * CHUNK)):
            _perfect(rank[b], factor[b], level[b], spatial[b], keeps[b], sizes, dim_rank, ndims,
                     read_write, multicast, reduction, elem_bits, access_bits, energy_pj, counts[b], capacity[b],
                     instances[b], energy[b], compute[b], w, ext, scratch, entries, fanout, rel,
                     tsize, rel_steps, rel_fanout, counted)
