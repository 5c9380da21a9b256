"""numba kernels that count a batch of loop nests at once; they import only numpy and numba.

Arrays in, arrays out (see :mod:`accelsim.cost.fast` for the packing).  Two exact batch
kernels, both defined by the oracle's rules (:mod:`accelsim.cost.oracle`), compiled apart so
that a search over perfect factorizations never pays for the walker's compilation:

* perfect, aligned nests (every rank's loop factors multiply to its size; block indices
  respected, below): a closed form.  All utilized instances do identical work; at each
  transition of a temporal loop above a level, the new tile differs from the previous one
  by a shift per tensor dimension, so the elements entering are
  ``|tile| - prod(max(0, extent_d - |shift_d|))``.
* every other nest (partial tiles, idle instances, unaligned blocks): a walker over (step,
  instance) tiles, treating each data tile as a box of intervals
  (:mod:`accelsim.cost.walker`).  Its cost grows with the number of tiles, not of elements.

Block indices.  A dimension ``m // B`` (a per-block statistic of a split rank) is *aligned*
in a nest when every loop i over m with factor > 1 either steps whole blocks (``w[i] % B ==
0``, w[i] being what one iteration adds to m) or stays inside one block (``w[i] * factor[i]``
divides B).  In a perfect nest the loops over m then split into the inner ones, whose
factors multiply to B (or to m's size when it is below B) and which never change the block,
and the outer ones, each of which moves the block index by ``w[i] // B``: in block
coordinates the nest is again a perfect nest, with tile extent ``max(1, extent // B)``.  So
the closed form holds with relevance per (tensor, loop) -- a loop is relevant to a tensor
when it moves the tensor's tile (:func:`_loop_step`) -- instead of per (tensor, rank).

Supported projections: a tensor dimension is a constant, one rank with a positive
coefficient, one rank divided by a block size (``m // B``), or a sum of two ranks with unit
coefficients (a sliding window); each rank indexes at most one dimension of a tensor;
accumulated (read-write) tensors have no sliding-window dimension; a spatial loop whose
network merges (multicast or spatial reduction) does not run over a rank of a tensor's
sliding-window dimension, nor over a rank of a block-index dimension unless the nest is
perfect and aligned.  The wrapper checks these before calling a kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

READS, FILLS, UPDATES, FIRST = 0, 1, 2, 3
"""Columns of the per-(level, tensor) count array."""

# Speed notes for the closed form (benchmarks/cost_model_throughput.py): the helpers called
# per loop or per (level, tensor) are inlined (``inline="always"``, or the test spelled out),
# and those that divide by a block size use ``error_model="numpy"`` (the wrapper has checked
# every block size is positive); a zero-division check or a call there halves throughput.


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


@njit(cache=True, error_model="numpy")
def _loop_step(t, i, rank, factor, w, rel, rdiv):
    """What one iteration of loop i (factor > 1) adds to tensor t's coordinate along the
    dimension its rank r indexes (rel[t, r]): w[i], or w[i] // B for a block index of block
    size B = rdiv[t, r].  0 when the loop does not move t's data tile: r does not index t,
    or the loop's span w[i] * factor[i] fits in one block -- in an aligned nest the loops
    whose span exceeds B are exactly those that step whole blocks (w[i] % B == 0).
    (:func:`_level_tables` spells the same test inline: a call there halves throughput.)"""
    r = rank[i]
    if not (rel[t, r] and w[i] * factor[i] > rdiv[t, r]):
        return 0
    return w[i] // rdiv[t, r]


@njit(cache=True, error_model="numpy")
def _dim_extent(t, d, ext, dim_rank, dim_div):
    """Extent of tensor t's data tile along dimension d for rank extents ``ext`` (a block
    index of an aligned nest: whole blocks, or one block when the tile lies inside one)."""
    r0 = dim_rank[t, d, 0]
    r1 = dim_rank[t, d, 1]
    if r0 < 0:
        return 1
    if r1 < 0:
        q = dim_div[t, d]
        return ext[r0] if q == 1 else max(1, ext[r0] // q)
    return ext[r0] + ext[r1] - 1


@njit(cache=True)
def _tile_size(t, ext, dim_rank, dim_div, ndims):
    """Elements of tensor t's data tile for rank extents ``ext``."""
    box = 1
    for d in range(ndims[t]):
        box *= _dim_extent(t, d, ext, dim_rank, dim_div)
    return box


@njit(cache=True)
def _window_entries(t, lvl, factor, level, spatial, rank, w, rel, rdiv, ext, dim_rank, dim_div,
                    ndims, suffix):
    """Elements entering one instance of level lvl over all its steps, for a tensor with a
    sliding-window dimension (perfect nest).

    One backward pass keeps per rank how far the inner temporal loops have moved the tile
    (``suffix``, in the tensor's coordinates), so each loop's transition shift costs O(1)
    per dimension: ``|tile| - prod(max(0, extent_d - |shift_d|))`` elements enter.
    """
    box = _tile_size(t, ext, dim_rank, dim_div, ndims)
    if lvl == 0:
        return box
    total = _product_above(lvl, factor, level, spatial, 0)
    suffix[:] = 0
    inner = 1
    entries = box
    for i in range(rank.shape[0] - 1, -1, -1):
        if level[i] >= lvl or spatial[i] == 1 or factor[i] == 1:
            continue
        moved = _loop_step(t, i, rank, factor, w, rel, rdiv)
        overlap = 1
        for d in range(ndims[t]):
            delta = 0
            for q in range(2):
                r = dim_rank[t, d, q]
                if r >= 0:
                    delta += (moved if rank[i] == r else 0) - suffix[r]
            keep = _dim_extent(t, d, ext, dim_rank, dim_div) - abs(delta)
            if keep <= 0:
                overlap = 0
                break
            overlap *= keep
        prefix = total // (inner * factor[i])
        entries += prefix * (factor[i] - 1) * (box - overlap)
        suffix[rank[i]] += (factor[i] - 1) * moved
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


@njit(cache=True, inline="always")
def _level_tables(t, rank, factor, level, spatial, merge, w, rel, rdiv, nlevels, rel_steps,
                  rel_fanout, counted):
    """One pass over the loops (sorted by level) for tensor t; a loop is relevant to t when
    it moves t's data tile (:func:`_loop_step`).

    rel_steps[l]: temporal steps above level l up to the innermost one relevant to t;
    rel_fanout[l]: product of the spatial factors above l of loops relevant to t;
    counted[j]: product of the spatial factors owned by level j whose children count apart
    (the network does not merge them, or they split t).
    """
    steps = 1
    last = 1
    fan = 1
    i = 0
    k = factor.shape[0]
    for lvl in range(nlevels + 1):
        while i < k and level[i] < lvl:
            f = factor[i]
            if f > 1:
                relevant = rel[t, rank[i]] and w[i] * f > rdiv[t, rank[i]]   # _loop_step != 0
                if spatial[i] == 0:
                    steps *= f
                    if relevant:
                        last = steps
                else:
                    if relevant:
                        fan *= f
                    if relevant or not merge[level[i]]:
                        counted[level[i]] *= f
            i += 1
        rel_steps[lvl] = last
        rel_fanout[lvl] = fan


@njit(cache=True, inline="always")
def _tensor_entries(t, rank, factor, level, spatial, keeps, dim_rank, dim_div, ndims, w, rel,
                    rdiv, ext, steps, rel_steps, scratch, tiles, entries):
    """tiles[l]: t's data tile at level l; entries[l]: elements of t entering one instance
    of each level l that keeps t, over all its steps; entries[levels]: operands entering
    compute (one per compute step).

    Without sliding windows, consecutive tiles are identical or disjoint, so every step up
    to the innermost relevant temporal loop above l brings a whole tile.
    """
    nlevels = keeps.shape[0]
    windows = False
    for d in range(ndims[t]):
        windows = windows or dim_rank[t, d, 1] >= 0
    entries[nlevels] = steps
    for lvl in range(nlevels):
        if not keeps[lvl, t]:
            continue
        box = 1
        for d in range(ndims[t]):
            box *= _dim_extent(t, d, ext[lvl], dim_rank, dim_div)
        tiles[lvl] = box
        if windows:
            entries[lvl] = _window_entries(t, lvl, factor, level, spatial, rank, w, rel, rdiv,
                                           ext[lvl], dim_rank, dim_div, ndims, scratch)
        else:
            entries[lvl] = box * rel_steps[lvl] if lvl > 0 else box


@njit(cache=True)
def _perfect_chunk(lo, hi, rank, factor, level, spatial, keeps, sizes, dim_rank, dim_div, ndims,
                   read_write, multicast, reduction, elem_bits, access_bits, energy_pj, counts,
                   capacity, instances, energy, compute):
    """Fill the outputs of the perfect, aligned nests lo..hi-1 (one call per chunk, so that
    the work arrays are allocated once and no call per nest passes them all)."""
    nlevels, ntensors = keeps.shape[1], keeps.shape[2]
    w = np.empty(rank.shape[1], np.int64)
    ext = np.empty((nlevels + 1, sizes.shape[0]), np.int64)
    scratch = np.empty(sizes.shape[0], np.int64)
    entries = np.empty(nlevels + 1, np.int64)
    tiles = np.empty(nlevels, np.int64)
    fanout = np.empty(nlevels + 1, np.int64)
    rel_steps = np.empty(nlevels + 1, np.int64)
    rel_fanout = np.empty(nlevels + 1, np.int64)
    counted = np.empty(nlevels, np.int64)
    rel, rdiv, tsize = _problem_tables(sizes, dim_rank, dim_div, ndims, ntensors)
    ops = 1
    for r in range(sizes.shape[0]):
        ops *= sizes[r]
    for b in range(lo, hi):
        rk, fc, lv, sp, kp = rank[b], factor[b], level[b], spatial[b], keeps[b]
        _fill_weights(rk, fc, w, scratch)
        _fill_extents(rk, fc, lv, ext)
        for lvl in range(nlevels + 1):
            fanout[lvl] = _product_above(lvl, fc, lv, sp, 1)
        steps = _product_above(nlevels, fc, lv, sp, 0)
        for t in range(ntensors):
            merge = reduction if read_write[t] else multicast
            counted[:] = 1
            _level_tables(t, rk, fc, lv, sp, merge, w, rel, rdiv,
                          nlevels, rel_steps, rel_fanout, counted)
            _tensor_entries(t, rk, fc, lv, sp, kp, dim_rank,
                            dim_div, ndims, w, rel, rdiv, ext, steps, rel_steps, scratch, tiles,
                            entries)
            backing = True
            for lvl in range(nlevels):
                if not kp[lvl, t]:
                    continue
                child = nlevels
                for c in range(nlevels - 1, lvl, -1):
                    if kp[c, t]:
                        child = c
                served = entries[child]
                for j in range(lvl, child):
                    served *= counted[j]
                first = tsize[t] // rel_fanout[lvl] if read_write[t] else 0
                _store(counts[b, lvl, t], energy[b, lvl, t], read_write[t], backing, served,
                       entries[lvl], first, fanout[lvl], elem_bits[lvl, t], access_bits[lvl],
                       energy_pj[lvl])
                capacity[b, lvl, t] = tiles[lvl]
                instances[b, lvl, t] = fanout[lvl]
                backing = False
        compute[b, 0] = ops
        compute[b, 1] = steps
        compute[b, 2] = fanout[nlevels]


@njit(cache=True)
def _problem_tables(sizes, dim_rank, dim_div, ndims, ntensors):
    """rel[t, r]: rank r indexes tensor t; rdiv[t, r]: its block size (1: a plain index);
    tsize[t]: t's element count (single-rank dimensions only: accumulated tensors have no
    sliding window)."""
    rel = np.zeros((ntensors, sizes.shape[0]), np.bool_)
    rdiv = np.ones((ntensors, sizes.shape[0]), np.int64)
    tsize = np.ones(ntensors, np.int64)
    for t in range(ntensors):
        for d in range(ndims[t]):
            for q in range(2):
                if dim_rank[t, d, q] >= 0:
                    rel[t, dim_rank[t, d, q]] = True
                    rdiv[t, dim_rank[t, d, q]] = dim_div[t, d]
            if dim_rank[t, d, 0] >= 0 and dim_rank[t, d, 1] < 0:
                tsize[t] *= max(1, sizes[dim_rank[t, d, 0]] // dim_div[t, d])
    return rel, rdiv, tsize


@njit(cache=True, inline="always")
def _store(counts, energy, read_write, backing, served, entered, first, n, eb, ab, energy_pj):
    """Rules 4-5 of the oracle for one (level, tensor) whose n instances each do the same
    work: served elements reach its children, entered elements enter it."""
    if read_write:
        reads, updates = served - first, served
        fills = 0 if backing else entered - first
        counts[FIRST] = first * n
    else:
        reads, updates = served, 0
        fills = 0 if backing else entered
    counts[READS] = reads * n
    counts[FILLS] = fills * n
    counts[UPDATES] = updates * n
    energy[0] = n * _accesses(reads, eb, ab) * energy_pj[0]
    energy[1] = n * _accesses(fills, eb, ab) * energy_pj[1]
    energy[2] = n * _accesses(updates, eb, ab) * energy_pj[2]


CHUNK = 256
"""Nests per work item of the parallel loop (work arrays are allocated once per chunk)."""


@njit(parallel=True, cache=True)
def count_perfect_batch(rank, factor, level, spatial, keeps, sizes, dim_rank, dim_div, ndims,
                        read_write, multicast, reduction, elem_bits, access_bits, energy_pj,
                        counts, capacity, instances, energy, compute):
    """Count a batch of perfectly factorized, aligned nests (closed form); outputs filled in
    place.  Same arguments as :func:`accelsim.cost.walker.count_walk_batch`.

    rank/factor/level/spatial: (B, K) loops outer to inner; keeps: (B, levels, tensors);
    dim_div: (tensors, dims) block sizes (1: a plain index).
    counts: (B, levels, tensors, 4) totals over instances of reads, fills, updates, first
    touches; capacity, instances: (B, levels, tensors); energy: (B, levels, tensors, 3) pJ
    of reads, fills, updates (ceil per instance); compute: (B, 3) operations, busy steps,
    utilized compute instances.
    """
    nb = rank.shape[0]
    for chunk in prange((nb + CHUNK - 1) // CHUNK):
        _perfect_chunk(chunk * CHUNK, min(nb, (chunk + 1) * CHUNK), rank, factor, level, spatial,
                       keeps, sizes, dim_rank, dim_div, ndims, read_write, multicast, reduction,
                       elem_bits, access_bits, energy_pj, counts, capacity, instances, energy,
                       compute)
