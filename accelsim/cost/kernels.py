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

from typing import NamedTuple

import numpy as np
from numba import njit, prange

READS, FILLS, UPDATES, FIRST = 0, 1, 2, 3
"""Columns of the per-(level, tensor) count array."""


class ProblemArrays(NamedTuple):
    """A problem as arrays: rank sizes and each tensor dimension's (up to two) ranks."""

    sizes: np.ndarray
    """(ranks,) the rank sizes."""
    dim_rank: np.ndarray
    """(tensors, dims, 2) the ranks each tensor dimension sums (-1: none)."""
    dim_div: np.ndarray
    """(tensors, dims) block divisor per dimension (1: plain index; B: the index is rank // B)."""
    ndims: np.ndarray
    """(tensors,) how many dimensions each tensor has."""
    read_write: np.ndarray
    """(tensors,) True for an accumulated tensor (partial sums read, updated and written)."""


class LevelArrays(NamedTuple):
    """A hierarchy's network flags, access widths and energies per access (pJ).

    An action on n elements costs ceil(n * elem_bits[level, tensor] / access_bits[level])
    accesses (elem_bits 1 and access_bits = block size when a word holds one element).
    """

    multicast: np.ndarray
    """(levels,) the network below the level multicasts reads to the instances it feeds."""
    reduction: np.ndarray
    """(levels,) the network below the level reduces the partial sums sent up to it."""
    elem_bits: np.ndarray
    """(levels, tensors) bits of one element in the level's access unit."""
    access_bits: np.ndarray
    """(levels,) bits one access moves."""
    energy_pj: np.ndarray
    """(levels, 3) pJ per access: read, fill, update."""


class NestArrays(NamedTuple):
    """Mappings as loops, outer to inner: a batch ((B, K) loops, (B, levels, tensors) keeps)
    or, inside the kernels, one nest of it ((K,) loops, (levels, tensors) keeps)."""

    rank: np.ndarray
    """The rank each loop runs over."""
    factor: np.ndarray
    """Each loop's factor (unit loops pad a nest)."""
    level: np.ndarray
    """The storage level that owns each loop."""
    spatial: np.ndarray
    """1 for a spatial loop, 0 for a temporal one."""
    keeps: np.ndarray
    """Whether each level keeps each tensor."""


class BatchCounts(NamedTuple):
    """The kernels' outputs, filled in place: for a batch, or one nest's rows of it."""

    counts: np.ndarray
    """(B, levels, tensors, 4) totals over instances of reads, fills, updates, first
    touches."""
    capacity: np.ndarray
    """(B, levels, tensors) the largest data tile."""
    instances: np.ndarray
    """(B, levels, tensors) the instances that hold the tensor."""
    energy: np.ndarray
    """(B, levels, tensors, 3) pJ of reads, fills, updates (accesses rounded up per
    instance)."""
    compute: np.ndarray
    """(B, 3) operations, busy steps, utilized compute instances."""


class Tables(NamedTuple):
    """How a problem's ranks index its tensors (:func:`_problem_tables`)."""

    rel: np.ndarray
    """(tensors, ranks) the rank indexes the tensor."""
    rdiv: np.ndarray
    """(tensors, ranks) the block size of the dimension it indexes (1: a plain index)."""
    tsize: np.ndarray
    """(tensors,) the tensor's element count (single-rank dimensions only)."""


class Work(NamedTuple):
    """The closed form's work arrays for one nest, allocated once per chunk of nests."""

    w: np.ndarray
    """(K,) the step one iteration of each loop adds to its rank's index."""
    ext: np.ndarray
    """(levels + 1, ranks) tile extent of each rank per level (the last row: compute)."""
    scratch: np.ndarray
    """(ranks,) scratch per rank."""
    entries: np.ndarray
    """(levels + 1,) elements of one tensor entering one instance of each level."""
    tiles: np.ndarray
    """(levels,) one tensor's data tile per level."""
    fanout: np.ndarray
    """(levels + 1,) the instances of each level (and of compute)."""
    rel_steps: np.ndarray
    """(levels + 1,) temporal steps above each level up to the innermost one relevant to a
    tensor."""
    rel_fanout: np.ndarray
    """(levels + 1,) product of the spatial factors above each level relevant to a tensor."""
    counted: np.ndarray
    """(levels,) product of the spatial factors owned by each level whose children count
    apart for a tensor."""


class Flow(NamedTuple):
    """What each of a (level, tensor)'s identically busy instances moves (:func:`_store`)."""

    served: int
    """Elements it passes to its children (or takes back from them: partial sums)."""
    entered: int
    """Elements entering it over all its steps."""
    first: int
    """Elements of an accumulated tensor it touches first (no read, no fill)."""
    instances: int
    """How many instances do this work."""
    read_write: bool
    """The tensor is accumulated."""
    backing: bool
    """The level is the tensor's backing store (nothing fills it)."""


@njit(cache=True)
def _nest(nests, b):
    """Nest b of a batch of NestArrays."""
    return NestArrays(nests.rank[b], nests.factor[b], nests.level[b], nests.spatial[b],
                      nests.keeps[b])


@njit(cache=True)
def _counts_of(out, b):
    """Nest b's rows of a batch's BatchCounts."""
    return BatchCounts(out.counts[b], out.capacity[b], out.instances[b], out.energy[b],
                       out.compute[b])

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
def _window_entries(t, lvl, nest, problem, tables, work):
    """Elements entering one instance of level lvl over all its steps, for a tensor with a
    sliding-window dimension (perfect nest).

    One backward pass keeps per rank how far the inner temporal loops have moved the tile
    (``suffix``, in the tensor's coordinates), so each loop's transition shift costs O(1)
    per dimension: ``|tile| - prod(max(0, extent_d - |shift_d|))`` elements enter.
    """
    rank, factor, level, spatial = nest.rank, nest.factor, nest.level, nest.spatial
    dim_rank, dim_div, ndims = problem.dim_rank, problem.dim_div, problem.ndims
    rel, rdiv = tables.rel, tables.rdiv
    w, ext, suffix = work.w, work.ext[lvl], work.scratch
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
def _level_tables(t, nest, merge, tables, work):
    """One pass over the loops (sorted by level) for tensor t; a loop is relevant to t when
    it moves t's data tile (:func:`_loop_step`).

    rel_steps[l]: temporal steps above level l up to the innermost one relevant to t;
    rel_fanout[l]: product of the spatial factors above l of loops relevant to t;
    counted[j]: product of the spatial factors owned by level j whose children count apart
    (the network does not merge them, or they split t).
    """
    rank, factor, level, spatial = nest.rank, nest.factor, nest.level, nest.spatial
    rel, rdiv, w = tables.rel, tables.rdiv, work.w
    rel_steps, rel_fanout, counted = work.rel_steps, work.rel_fanout, work.counted
    nlevels = nest.keeps.shape[0]
    counted[:] = 1
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
def _tensor_entries(t, nest, problem, tables, work, steps):
    """tiles[l]: t's data tile at level l; entries[l]: elements of t entering one instance
    of each level l that keeps t, over all its steps; entries[levels]: operands entering
    compute (one per compute step, ``steps`` of them).

    Without sliding windows, consecutive tiles are identical or disjoint, so every step up
    to the innermost relevant temporal loop above l brings a whole tile.  Returns whether t
    has a sliding-window dimension: the caller then counts entries[l] with
    :func:`_window_entries` (called from here, inlined, it slows every nest by a third).
    """
    keeps = nest.keeps
    dim_rank, dim_div, ndims = problem.dim_rank, problem.dim_div, problem.ndims
    ext, rel_steps, tiles, entries = work.ext, work.rel_steps, work.tiles, work.entries
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
        entries[lvl] = box * rel_steps[lvl] if lvl > 0 else box
    return windows


@njit(cache=True)
def _work(nloops, nlevels, nranks):
    """The closed form's work arrays (:class:`Work`) for nests of ``nloops`` loops."""
    return Work(np.empty(nloops, np.int64), np.empty((nlevels + 1, nranks), np.int64),
                np.empty(nranks, np.int64), np.empty(nlevels + 1, np.int64),
                np.empty(nlevels, np.int64), np.empty(nlevels + 1, np.int64),
                np.empty(nlevels + 1, np.int64), np.empty(nlevels + 1, np.int64),
                np.empty(nlevels, np.int64))


@njit(cache=True)
def _perfect_chunk(lo, hi, nests, problem, levels, out):
    """Fill the outputs of the perfect, aligned nests lo..hi-1 (one call per chunk, so that
    the work arrays are allocated once)."""
    sizes, read_write = problem.sizes, problem.read_write
    counts, capacity, instances, energy, compute = out
    nlevels, ntensors = nests.keeps.shape[1], nests.keeps.shape[2]
    work = _work(nests.rank.shape[1], nlevels, sizes.shape[0])
    entries, fanout = work.entries, work.fanout
    tables = _problem_tables(problem, ntensors)
    ops = 1
    for r in range(sizes.shape[0]):
        ops *= sizes[r]
    for b in range(lo, hi):
        nest = _nest(nests, b)
        fc, lv, sp, kp = nest.factor, nest.level, nest.spatial, nest.keeps
        _fill_weights(nest.rank, fc, work.w, work.scratch)
        _fill_extents(nest.rank, fc, lv, work.ext)
        for lvl in range(nlevels + 1):
            fanout[lvl] = _product_above(lvl, fc, lv, sp, 1)
        steps = _product_above(nlevels, fc, lv, sp, 0)
        for t in range(ntensors):
            merge = levels.reduction if read_write[t] else levels.multicast
            _level_tables(t, nest, merge, tables, work)
            if _tensor_entries(t, nest, problem, tables, work, steps):
                for lvl in range(nlevels):
                    if kp[lvl, t]:
                        entries[lvl] = _window_entries(t, lvl, nest, problem, tables, work)
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
                    served *= work.counted[j]
                first = tables.tsize[t] // work.rel_fanout[lvl] if read_write[t] else 0
                flow = Flow(served, entries[lvl], first, fanout[lvl], read_write[t], backing)
                _store(counts[b, lvl, t], energy[b, lvl, t], flow, levels.elem_bits[lvl, t],
                       levels.access_bits[lvl], levels.energy_pj[lvl])
                capacity[b, lvl, t] = work.tiles[lvl]
                instances[b, lvl, t] = fanout[lvl]
                backing = False
        compute[b, 0] = ops
        compute[b, 1] = steps
        compute[b, 2] = fanout[nlevels]


@njit(cache=True)
def _problem_tables(problem, ntensors):
    """rel[t, r]: rank r indexes tensor t; rdiv[t, r]: its block size (1: a plain index);
    tsize[t]: t's element count (single-rank dimensions only: accumulated tensors have no
    sliding window)."""
    sizes, ndims = problem.sizes, problem.ndims
    dim_rank, dim_div = problem.dim_rank, problem.dim_div
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
    return Tables(rel, rdiv, tsize)


@njit(cache=True, inline="always")
def _store(counts, energy, flow, eb, ab, energy_pj):
    """Rules 4-5 of the oracle for one (level, tensor) whose instances each do the same
    work (``flow``): counts (4,) and energy (3,) are its rows of the outputs; an action on
    n elements costs ceil(n * eb / ab) accesses of energy_pj (3,) each."""
    served, entered, first, n = flow.served, flow.entered, flow.first, flow.instances
    backing = flow.backing
    if flow.read_write:
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
def count_perfect_batch(nests, problem, levels, out):
    """Count a batch of perfectly factorized, aligned nests (closed form); outputs filled in
    place.  Same arguments as :func:`accelsim.cost.walker.count_walk_batch`.

    nests: NestArrays, loops (B, K) outer to inner and keeps (B, levels, tensors);
    problem: ProblemArrays; levels: LevelArrays; out: BatchCounts (layout in its fields).
    """
    nb = nests.rank.shape[0]
    for chunk in prange((nb + CHUNK - 1) // CHUNK):
        _perfect_chunk(chunk * CHUNK, min(nb, (chunk + 1) * CHUNK), nests, problem, levels, out)
