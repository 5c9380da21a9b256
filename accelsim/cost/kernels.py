"""numba kernels that count a batch of loop nests at once; they import only numpy and numba.

Arrays in, arrays out (see :mod:`accelsim.cost.fast` for the packing).  Two exact batch
kernels, both defined by the oracle's rules (:mod:`accelsim.cost.oracle`), compiled apart so
that a search over perfect factorizations never pays for the walker's compilation:

* perfect nests (every rank's loop factors multiply to its size): a closed form.  All
  utilized instances do identical work; at each transition of a temporal loop above a
  level, the new tile differs from the previous one by a shift per tensor dimension, so the
  elements entering are ``|tile| - prod(max(0, extent_d - |shift_d|))``.
* imperfect nests (partial tiles, idle instances): a walker over (step, instance) tiles,
  treating each data tile as a box of intervals.  Its cost grows with the number of tiles,
  not of elements.

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
def _extents(lvl, rank, factor, level, nranks):
    """Tile extent of every rank at level ``lvl``: the product of factors owned by levels >= lvl."""
    ext = np.ones(nranks, np.int64)
    for i in range(rank.shape[0]):
        if level[i] >= lvl:
            ext[rank[i]] *= factor[i]
    return ext


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


@njit(cache=True)
def _starts(code, loops, factor, rank, w, out):
    """Add each decoded loop's contribution to its rank's start (row-major, last loop fastest)."""
    for q in range(loops.shape[0] - 1, -1, -1):
        i = loops[q]
        digit = code % factor[i]
        code //= factor[i]
        out[rank[i]] += digit * w[i]


@njit(cache=True)
def _box(t, start, ext, sizes, dim_rank, dim_div, ndims, lo, hi):
    """The data tile of tensor t for rank starts ``start`` (clipped), as intervals lo/hi."""
    for d in range(ndims[t]):
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
def _union(t, k, c, sa, ta, rank, factor, w, sizes, ext, dim_rank, dim_div, ndims):
    """Distinct elements instance k of level c ever holds (single-rank dimensions).

    The non-idle steps are every combination of each rank's valid digits, so the elements
    ever held are the product over dimensions of the values each dimension's rank covers.
    """
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
def _walk_tensor(t, c, parent, rank, factor, level, spatial, w, sizes, dim_rank, dim_div, ndims,
                 merge, entries, ever, served):
    """Walk level c (c == number of levels: compute) for tensor t.

    Fills ``entries[k]`` and ``ever[k]`` per instance k of c, and adds to ``served[p]``,
    per instance p of ``parent`` (if >= 0), the distinct (element, key) pairs entering c's
    instances at each of c's steps.  Returns the largest data tile.
    """
    nlevels = merge.shape[0]
    hold = c < nlevels
    sa, ta = _loop_lists(c, level, spatial)
    n_inst = _prod(sa, factor)
    n_steps = _prod(ta, factor)
    ext = _extents(c, rank, factor, level, sizes.shape[0])
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
            _box(t, start, ext, sizes, dim_rank, dim_div, ndims, lo, hi)
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
def _walk(rank, factor, level, spatial, keeps, sizes, dim_rank, dim_div, ndims, read_write, multicast,
          reduction, elem_bits, access_bits, energy_pj, counts, capacity, instances, energy,
          compute):
    """Fill the outputs of one nest by walking tiles (exact for partial tiles and idle steps)."""
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
        ext = _extents(c, rank, factor, level, sizes.shape[0])
        for t in range(ntensors):
            if c < nlevels and not keeps[c, t]:
                continue
            parent = -1
            for p in range(min(c, nlevels) - 1, -1, -1):
                if keeps[p, t]:
                    parent = p
                    break
            merge = reduction if read_write[t] else multicast
            entries = np.zeros(n_inst, np.int64)
            ever = np.zeros(n_inst, np.bool_)
            sink = served[parent, t] if parent >= 0 else served[0, t]
            largest = _walk_tensor(t, c, parent, rank, factor, level, spatial, w, sizes,
                                   dim_rank, dim_div, ndims, merge, entries, ever, sink)
            if c == nlevels:
                if t == 0:
                    compute[0] = entries.sum()
                    compute[2] = ever.sum()
                continue
            _finish(t, c, parent < 0, n_inst, sa, ta, rank, factor, w, sizes, ext, dim_rank, dim_div,
                    ndims, read_write[t], entries, ever, served[c, t], elem_bits[c, t], access_bits[c], energy_pj[c],
                    counts, energy)
            capacity[c, t] = largest
            instances[c, t] = ever.sum()
    compute[1] = _busy_steps(rank, factor, level, spatial, sizes, nlevels)


@njit(cache=True)
def _finish(t, c, backing, n_inst, sa, ta, rank, factor, w, sizes, ext, dim_rank, dim_div, ndims,
            read_write, entries, ever, served, eb, ab, energy_pj, counts, energy):
    """Per-instance rules 4-5 and energy (ceil per instance) for one (level, tensor)."""
    for k in range(n_inst):
        if read_write:
            first = _union(t, k, c, sa, ta, rank, factor, w, sizes, ext, dim_rank, dim_div,
                           ndims) if ever[k] else 0
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


@njit(parallel=True, cache=True)
def count_walk_batch(rank, factor, level, spatial, keeps, sizes, dim_rank, dim_div, ndims,
                     read_write,
                     multicast, reduction, elem_bits, access_bits, energy_pj, counts, capacity, instances, energy,
                     compute):
    """Count a batch of nests of any factorization by walking tiles (same arrays as above)."""
    for b in prange(rank.shape[0]):
        _walk(rank[b], factor[b], level[b], spatial[b], keeps[b], sizes, dim_rank, dim_div, ndims,
              read_write, multicast, reduction, elem_bits, access_bits, energy_pj, counts[b], capacity[b],
              instances[b], energy[b], compute[b])
