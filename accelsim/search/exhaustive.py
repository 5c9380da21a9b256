"""Enumerate a mapspace exhaustively, pruned, in batches of candidate arrays.

Pruning (each step drops only candidates that are invalid or that count exactly like one
that is kept):

1. Keep/bypass: every combination of the optional keep choices.  A level that keeps no
   tensor owns no temporal loops: its boundary is no tile boundary of any tensor, so its
   loops count the same as the innermost loops of the level above it.
2. Factors, per rank: every assignment of divisors to the rank's free slots, innermost
   level first, pruned by the spatial fan-out and by the capacity of each level counting
   that rank alone (tiles only grow as other ranks add factors).  Then the product over
   ranks, an odometer in numba that prunes a prefix of ranks as soon as it overflows a
   level or a fan-out (again monotone).
3. Loop orders: within a level only loops with a factor above 1 are ordered.  In the
   kernels' closed form (perfect nests, no sliding window or block index) a tensor's
   entries at its keeper K are ``tile x temporal steps above K up to the innermost loop
   relevant to it``, so a level's order can change a tensor's counts only through the run
   of irrelevant loops after its innermost relevant loop, and only when the tensor is kept
   below the level with no relevant loop in between (otherwise every loop of the level is
   counted whatever its order).  Two orders of a level that leave the same runs for those
   tensors are equivalent; one representative is kept (for a GEMM level with three
   non-unit loops, at most 3 of the 6 orders).  This applies to imperfect factorizations
   as well, where the walker counts them (tests check that no outcome is lost); with
   windows or block indices every order of the ranks present is kept (overlap depends on
   which loop advances).
"""

from __future__ import annotations

import itertools
from typing import Iterator, NamedTuple

import numpy as np

from accelsim.search.batch_model import extents, tile_bytes, tile_elements
from accelsim.search.exhaustive_kernels import cross_batch
from accelsim.search.space import Candidates, MapSpace, divisors

FACTOR_ROWS = 1024
"""Factor assignments expanded into loop orders per batch."""
MAX_BATCH = 65536
"""Largest batch of candidates handed out at once."""


def _keep_variants(space: MapSpace):
    """Per keep choice: the keep matrix and every rank's factor chains (levels that keep
    nothing own no temporal loops); choices some rank cannot be mapped under are skipped."""
    for keeps in keep_choices(space):
        allowed = space.allowed.copy()
        empty = ~keeps.any(axis=1)
        empty[0] = False
        allowed[: space.n_levels][empty] = False
        chains = [rank_chains(space, r, allowed, keeps) for r in range(space.n_ranks)]
        if all(c.shape[0] for c in chains):
            yield keeps, chains


def enumerate_space(space: MapSpace) -> Iterator[Candidates]:
    """Every candidate of the pruned mapspace, in batches (deterministic order)."""
    for keeps, chains in _keep_variants(space):
        table = order_table(space, keeps)
        for factors in _factor_batches(space, chains, keeps):
            yield from _with_orders(space, factors, keeps, table)


def space_size(space: MapSpace) -> int:
    """The number of candidates :func:`enumerate_space` yields (enumerates factors only)."""
    total = 0
    for keeps, chains in _keep_variants(space):
        lens, _ = order_table(space, keeps)
        for factors in _factor_batches(space, chains, keeps):
            total += int(_order_counts(space, factors, keeps, lens).sum())
    return total


def keep_choices(space: MapSpace) -> Iterator[np.ndarray]:
    """Every (levels, tensors) keep matrix the space allows."""
    optional = np.argwhere(space.keep_ok & ~space.keep_forced)
    for bits in itertools.product((True, False), repeat=len(optional)):
        keeps = space.keep_forced.copy()
        for (j, t), bit in zip(optional, bits):
            keeps[j, t] = bit
        yield keeps


def rank_chains(space: MapSpace, r: int, allowed: np.ndarray, keeps: np.ndarray) -> np.ndarray:
    """(n, slots): every factor assignment of rank ``r`` that fits alone (step 2)."""
    free = [s for s in np.argsort(-space.slot_level, kind="stable")
            if allowed[s, r] and s != space.remainder[r]]
    fixed = np.maximum(space.fixed[:, r], 1)
    found: set[tuple[int, ...]] = set()
    for pad in space.pads[r][space.pads[r] > 0]:
        start = fixed.copy()
        _assign(space, r, keeps, free, 0, start, max(int(pad) // int(np.prod(fixed)), 1), found)
    if not found:
        return np.zeros((0, space.n_slots), np.int64)
    return np.array(sorted(found), np.int64)


def _assign(space, r, keeps, free, i, factors, left, found) -> None:
    if i == len(free):
        done = factors.copy()
        s = space.remainder[r]
        if s >= 0:
            others = int(np.prod(np.delete(done, s)))
            done[s] = max(-(-int(space.sizes[r]) // others), 1)
        if _alone_fits(space, r, keeps, done, levels=None):
            found.add(tuple(int(x) for x in done))
        return
    s = free[i]
    for d in divisors(left):
        factors[s] = d
        if not _alone_fits(space, r, keeps, factors, levels=int(space.slot_level[s])):
            break
        _assign(space, r, keeps, free, i + 1, factors, left // d, found)
    factors[s] = 1


def _alone_fits(space: MapSpace, r: int, keeps: np.ndarray, column: np.ndarray, levels) -> bool:
    """Whether rank r's factors alone fit the fan-outs and (one or all) levels."""
    spatial = space.slot_axis >= 0
    if (column[spatial] > space.slot_limit[spatial]).any():
        return False
    factors = np.ones((1, space.n_slots, space.n_ranks), np.int64)
    factors[0, :, r] = column
    fits = tile_bytes(space, tile_elements(space, extents(space, factors)), keeps[None])[0]
    check = range(1, space.n_levels if levels is None else levels + 1)
    return all(fits[j] <= space.capacity_bytes[j] for j in check)


class Chains(NamedTuple):
    """Every rank's factor chains, stacked: the odometer's digits."""

    flat: np.ndarray
    """(chains, slots) each chain's factor per slot, the ranks' chains one after another."""
    ext: np.ndarray
    """(chains, levels) each chain's tile extent per level."""
    start: np.ndarray
    """(ranks,) the row of each rank's first chain."""
    count: np.ndarray
    """(ranks,) how many chains each rank has."""


def _factor_batches(space: MapSpace, chains: list[np.ndarray], keeps: np.ndarray):
    flat = np.concatenate(chains)
    start = np.cumsum([0] + [c.shape[0] for c in chains[:-1]]).astype(np.int64)
    count = np.array([c.shape[0] for c in chains], np.int64)
    ext = extents(space, flat[:, :, None] * np.ones((1, 1, space.n_ranks), np.int64))[:, :, 0]
    state = np.zeros(len(chains), np.int64)
    out = np.zeros((FACTOR_ROWS, len(chains)), np.int64)
    stacked = Chains(flat, ext, start, count)
    while state[0] < count[0]:
        n = cross_batch(stacked, state, keeps, space.fit_arrays, space.slots, out)
        if n == 0:
            break
        rows = out[:n] + start[None, :]
        yield np.stack([flat[rows[:, r]] for r in range(len(chains))], axis=2)


def order_table(space: MapSpace, keeps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representative orders per (level, mask of ranks with a factor > 1, set of tensors
    whose counts the level's order can reach), step 3 of the module docstring."""
    nl, nr, nt = space.n_levels, space.n_ranks, keeps.shape[1]
    lens = np.zeros((nl, 1 << nr, 1 << nt), np.int64)
    ids = np.zeros((nl, 1 << nr, 1 << nt, space.perms.shape[0]), np.int64)
    for j in range(nl):
        for mask in range(1 << nr):
            for reach in range(1 << nt):
                seen = {}
                for p in np.flatnonzero(space.perm_ok[j]):
                    seen.setdefault(_signature(space, j, p, mask, reach, nt), p)
                reps = sorted(seen.values())
                lens[j, mask, reach] = len(reps)
                ids[j, mask, reach, :len(reps)] = reps
    return lens, ids


def _trailing(present: list[int], relevant: np.ndarray) -> frozenset:
    run = []
    for r in reversed(present):
        if relevant[r]:
            break
        run.append(r)
    return frozenset(run)


def _masks(space: MapSpace, factors: np.ndarray,
           keeps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, level): the ranks with a temporal factor > 1, and the tensors whose
    entries the level's order reaches: kept below it, with no loop relevant to them
    between it and their nearest keeper below (such a loop ends every trailing run)."""
    nl, nt = space.n_levels, keeps.shape[1]
    temporal = factors[:, :nl, :] > 1
    masks = (temporal * (1 << np.arange(space.n_ranks))).sum(axis=2)
    relevant = (temporal[:, :, None, :] & space.relevant[None, None, :, :]).any(axis=3)
    reach = np.zeros(masks.shape, np.int64)
    for t in range(nt):
        for j in range(nl):
            below = [k for k in range(j + 1, nl) if keeps[k, t]]
            if below:
                blocked = relevant[:, j + 1:below[0], t].any(axis=1)
                reach[:, j] |= np.where(blocked, 0, 1 << t)
    return masks, reach


def _order_counts(space: MapSpace, factors: np.ndarray, keeps: np.ndarray, lens) -> np.ndarray:
    masks, reach = _masks(space, factors, keeps)
    return np.prod(lens[np.arange(space.n_levels)[None, :], masks, reach], axis=1)


def _with_orders(space: MapSpace, factors: np.ndarray, keeps: np.ndarray,
                 table) -> Iterator[Candidates]:
    lens, ids = table
    masks, reach = _masks(space, factors, keeps)
    per_level = lens[np.arange(space.n_levels)[None, :], masks, reach]          # (n, L)
    totals = np.prod(per_level, axis=1)
    ends = np.cumsum(totals)
    first = 0
    while first < factors.shape[0]:
        base = ends[first] - totals[first]
        last = max(int(np.searchsorted(ends, base + MAX_BATCH, "right")), first + 1)
        rows = np.repeat(np.arange(first, last), totals[first:last])
        local = np.arange(rows.shape[0]) - np.repeat(ends[first:last] - totals[first:last] - base,
                                                     totals[first:last])
        perm = np.zeros((rows.shape[0], space.n_levels), np.int64)
        for j in range(space.n_levels - 1, -1, -1):
            radix = per_level[rows, j]
            perm[:, j] = ids[j, masks[rows, j], reach[rows, j], local % radix]
            local = local // radix
        yield Candidates(factors[rows], perm,
                         np.broadcast_to(keeps, (rows.shape[0],) + keeps.shape).copy())
        first = last


def canonical_perms(space: MapSpace, cands: Candidates) -> np.ndarray:
    """Each candidate's orders replaced by the representatives :func:`enumerate_space`
    evaluates for them (same counts by step 3; for tests and diagnostics, not the hot loop)."""
    out = cands.perm.copy()
    tables: dict = {}
    for b in range(len(cands)):
        keeps = cands.keeps[b]
        key = keeps.tobytes()
        if key not in tables:
            tables[key] = order_table(space, keeps)
        lens, ids = tables[key]
        masks, reach = _masks(space, cands.factors[b:b + 1], keeps)
        for j in range(space.n_levels):
            mask, seen = masks[0, j], reach[0, j]
            reps = ids[j, mask, seen, : lens[j, mask, seen]]
            mine = _signature(space, j, out[b, j], mask, seen, keeps.shape[1])
            out[b, j] = next(p for p in reps
                             if _signature(space, j, p, mask, seen, keeps.shape[1]) == mine)
    return out


def _signature(space: MapSpace, j: int, p: int, mask: int, reach: int, nt: int):
    present = [r for r in space.perms[p] if mask >> r & 1]
    if space.windows:
        return tuple(present)
    return tuple(_trailing(present, space.relevant[t]) for t in range(nt) if reach >> t & 1)
