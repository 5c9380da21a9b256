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
def level_bytes(j, ext, keeps, dim_rank, dim_div, ndims, sizes, bpe):
    """Bytes of the first data tiles level j keeps, for extents ext[j] (clipped to sizes)."""
    total = 0.0
    for t in range(keeps.shape[1]):
        if not keeps[j, t]:
            continue
        total += tile_elements(t, ext[j], sizes, dim_rank, dim_div, ndims) * bpe[t]
    return total


@njit(cache=True)
def precheck_batch(factors, keeps, slot_level, slot_axis, slot_limit, dim_rank, dim_div, ndims,
                   sizes, bpe, cap, fan_ok, cap_ok):
    """Per candidate: spatial slots within their fan-out (fan_ok) and every level below
    the first holding its tiles (cap_ok)."""
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
            if level_bytes(j, ext, keeps[b], dim_rank, dim_div, ndims, sizes, bpe) > cap[j]:
                fits = False
                break
        cap_ok[b] = fits


@njit(cache=True)
def encode_batch(factors, perm, perms, slot_level, slot_axis, nl, rank, factor, level, spatial):
    """Fill the loop arrays (B, width) of a batch; width >= the most non-unit loops."""
    n, ns, nr = factors.shape
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


@njit(cache=True)
def model_batch(counts, capacity, instances, energy, keeps, bpe, read_bw, write_bw, cap,
                double_buffer, has_energy, compute_cycles, compute_pj, leakage,
                out_energy, out_cycles, out_offchip, out_bottleneck, out_valid):
    """accelsim.model's level and total formulas per mapping, in the model's float order.

    compute_cycles: the slowest compute unit's cycles per mapping.  Outputs: energy (pJ),
    cycles, off-chip bytes, bottleneck (0 compute, 1 + j level j), valid (tiles fit).
    """
    n, nl, nt = keeps.shape
    for b in range(n):
        exposed = 0.0
        valid = True
        best = -np.inf
        best_at = 0
        energy_total = 0.0
        offchip = 0.0
        level_cycles = np.empty(nl)
        shown = np.zeros(nl, np.bool_)
        for j in range(nl):
            read_b = write_b = per_read = per_write = tile = level_energy = 0.0
            for t in range(nt):
                if not keeps[b, j, t]:
                    continue
                rb = counts[b, j, t, 0] * bpe[t]
                wb = (counts[b, j, t, 1] + counts[b, j, t, 2]) * bpe[t]
                inst = max(instances[b, j, t], 1)
                read_b += rb
                write_b += wb
                per_read += rb / inst
                per_write += wb / inst
                tile += capacity[b, j, t] * bpe[t]
                level_energy += energy[b, j, t, 0] + energy[b, j, t, 1] + energy[b, j, t, 2]
            if write_bw[j] == read_bw[j]:
                cyc = (per_read + per_write) / read_bw[j]
            else:
                cyc = max(per_read / read_bw[j], per_write / write_bw[j])
            level_cycles[j] = cyc
            double = double_buffer[j] and 2 * tile <= cap[j]
            shown[j] = double or j == 0
            if j > 0:
                if tile > cap[j]:
                    valid = False
                if not double and cyc > 0:
                    exposed += cyc
            else:
                offchip = read_b + write_b
            if has_energy[j]:
                energy_total += level_energy
        best = compute_cycles[b] + exposed
        for j in range(nl):
            if shown[j] and level_cycles[j] > best:
                best = level_cycles[j]
                best_at = j + 1
        out_cycles[b] = best
        out_bottleneck[b] = best_at
        out_energy[b] = energy_total + compute_pj + leakage * best
        out_offchip[b] = offchip
        out_valid[b] = valid
