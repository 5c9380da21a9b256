"""Pack loop nests into integer arrays, run the numba kernels, unpack the counts.

:func:`count_nests` is the public wrapper around the batch kernels (the closed form
:func:`accelsim.cost.kernels.count_perfect_batch` and the tile walker
:func:`accelsim.cost.walker.count_walk_batch`): it checks that each nest is valid and within
what the kernels support (see the kernels' module docstring), packs a batch sharing one
problem and one hierarchy, and returns one :class:`FastCounts` per nest.  The oracle
(:mod:`accelsim.cost.oracle`) is the reference these counts must equal.

The packed forms (ProblemArrays, LevelArrays, NestArrays, BatchCounts) live with the
kernels that read them (:mod:`accelsim.cost.kernels`) and are imported from here too.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

import numba
import numpy as np

from accelsim.cost import kernels, walker
from accelsim.cost.kernels import BatchCounts, LevelArrays, NestArrays, ProblemArrays
from accelsim.cost.nest import LoopNest, Problem
from accelsim.errors import MappingError

ACTION_COLUMNS = ("reads", "fills", "updates", "first_touches")


@dataclass(frozen=True)
class FastCounts:
    """Kernel output for one nest: totals over instances, as arrays indexed [level, tensor]."""

    counts: np.ndarray
    """(levels, tensors, 4): reads, fills, updates, first touches."""
    capacity: np.ndarray
    instances: np.ndarray
    energy: np.ndarray
    """(levels, tensors, 3): pJ of reads, fills, updates."""
    operations: int
    steps: int
    compute_instances: int


class UnsupportedNest(MappingError):
    """A nest the fast kernels cannot count exactly (the oracle still can)."""


def encode_problem(problem: Problem) -> ProblemArrays:
    """Check the projections the kernels support and pack the problem."""
    ranks = problem.rank_names
    index = {rank: r for r, rank in enumerate(ranks)}
    width = max((len(t.dims) for t in problem.tensors), default=1) or 1
    dim_rank = np.full((len(problem.tensors), width, 2), -1, np.int64)
    dim_div = np.ones((len(problem.tensors), width), np.int64)
    for t, tensor in enumerate(problem.tensors):
        seen: set[str] = set()
        for d, dim in enumerate(tensor.dims):
            terms = [(c, r) for c, r in dim.terms if c != 0]
            where = f"tensor {tensor.name!r} dimension {d}"
            if len(terms) > 2 or any(c < 0 for c, _ in terms):
                raise UnsupportedNest(f"{where}: only one rank, or a sum of two, is supported")
            if len(terms) == 2 and any(c != 1 for c, _ in terms):
                raise UnsupportedNest(f"{where}: a sum of ranks needs unit coefficients")
            if len(terms) == 2 and tensor.read_write:
                raise UnsupportedNest(f"{where}: an accumulated tensor cannot slide a window")
            if dim.divisor != 1 and (len(terms) != 1 or terms[0][0] != 1 or dim.divisor < 1
                                     or dim.offset != 0):
                raise UnsupportedNest(f"{where}: a block index must be one rank divided by a "
                                      "positive block size, with no offset")
            dim_div[t, d] = dim.divisor
            for q, (_, rank) in enumerate(terms):
                if rank in seen:
                    raise UnsupportedNest(f"{where}: rank {rank!r} indexes two dimensions")
                seen.add(rank)
                dim_rank[t, d, q] = index[rank]
    return ProblemArrays(
        sizes=np.array([problem.ranks[r] for r in ranks], np.int64), dim_rank=dim_rank,
        dim_div=dim_div,
        ndims=np.array([len(t.dims) for t in problem.tensors], np.int64),
        read_write=np.array([t.read_write for t in problem.tensors], np.bool_))


def encode_levels(nest: LoopNest) -> LevelArrays:
    """Pack the hierarchy's flags, block sizes and energies."""
    levels = nest.levels
    return LevelArrays(
        multicast=np.array([lv.multicast for lv in levels], np.bool_),
        reduction=np.array([lv.spatial_reduction for lv in levels], np.bool_),
        elem_bits=np.array([[lv.access_bits(t)[0] for t in nest.problem.tensors] for lv in levels],
                           np.int64),
        access_bits=np.array([lv.access_bits(nest.problem.tensors[0])[1] for lv in levels],
                             np.int64),
        energy_pj=np.array([[lv.energy.read, lv.energy.fill, lv.energy.update] for lv in levels],
                           np.float64))


def encode_nests(nests: Sequence[LoopNest], problem: ProblemArrays) -> NestArrays:
    """Pack the loops of every nest, padding with unit loops (which change no count)."""
    first = nests[0]
    ranks = {rank: r for r, rank in enumerate(first.problem.rank_names)}
    depth = max(len(n.loops) for n in nests) or 1
    shape = (len(nests), depth)
    rank = np.zeros(shape, np.int64)
    factor = np.ones(shape, np.int64)
    level = np.full(shape, len(first.levels) - 1, np.int64)
    spatial = np.zeros(shape, np.int64)
    keeps = np.zeros((len(nests), len(first.levels), len(first.problem.tensors)), np.bool_)
    for b, nest in enumerate(nests):
        for i, loop in enumerate(nest.loops):
            rank[b, i] = ranks[loop.rank]
            factor[b, i] = loop.factor
            level[b, i] = loop.level
            spatial[b, i] = loop.spatial
        for lv, level_spec in enumerate(nest.levels):
            for t, tensor in enumerate(nest.problem.tensors):
                keeps[b, lv, t] = tensor.name in level_spec.keeps
    batch = NestArrays(rank, factor, level, spatial, keeps)
    closed = closed_form_mask(batch, problem)
    for b, nest in enumerate(nests):
        _check_spatial_windows(nest, problem, blocks_aligned=bool(closed[b]))
    return batch


def _check_spatial_windows(nest: LoopNest, problem: ProblemArrays, blocks_aligned: bool) -> None:
    """A merging network may fan a sliding-window rank out never, and a block-index rank
    only in a nest the closed form counts (siblings then hold identical or disjoint tiles)."""
    names = nest.problem.rank_names
    for loop in nest.loops:
        if not loop.spatial or loop.factor == 1:
            continue
        lv = nest.levels[loop.level]
        r = names.index(loop.rank)
        for t, tensor in enumerate(nest.problem.tensors):
            merges = lv.spatial_reduction if tensor.read_write else lv.multicast
            shared = [d for d in range(problem.ndims[t]) if r in problem.dim_rank[t, d]
                      and (problem.dim_rank[t, d, 1] >= 0
                           or (problem.dim_div[t, d] > 1 and not blocks_aligned))]
            if merges and shared:
                raise UnsupportedNest(f"spatial loop over {loop.rank!r} at {lv.name!r} merges "
                                      f"instances whose tiles of {tensor.name!r} may overlap "
                                      "(a sliding window or an unaligned block index)")


def perfect_mask(batch: NestArrays, sizes: np.ndarray) -> np.ndarray:
    """True for nests whose loop factors multiply to exactly each rank's size (no clipping)."""
    onehot = batch.rank[:, :, None] == np.arange(sizes.shape[0])[None, None, :]
    cover = np.where(onehot, batch.factor[:, :, None], 1).prod(axis=1)
    return (cover == sizes[None, :]).all(axis=1)


def loop_weights(batch: NestArrays) -> np.ndarray:
    """(B, K): what one iteration of each loop adds to its rank's index (the product of the
    factors of the loops over the same rank listed inside it)."""
    weights = np.ones_like(batch.factor)
    for r in np.unique(batch.rank):
        mine = batch.rank == r
        own = np.where(mine, batch.factor, 1)
        inside = np.cumprod(own[:, ::-1], axis=1)[:, ::-1] // own   # exclusive suffix product
        weights = np.where(mine, inside, weights)
    return weights


def aligned_mask(batch: NestArrays, problem: ProblemArrays) -> np.ndarray:
    """True for nests that respect every block index ``m // B`` (kernels' module docstring):
    each loop over m with factor > 1 steps whole blocks (its weight is a multiple of B) or
    stays inside one block (its weight times its factor divides B)."""
    ok = np.ones(batch.rank.shape[0], np.bool_)
    blocks = {(int(problem.dim_rank[t, d, 0]), int(problem.dim_div[t, d]))
              for t, d in zip(*np.nonzero(problem.dim_div > 1))}
    if not blocks:
        return ok
    weights = loop_weights(batch)
    span = weights * batch.factor
    for r, q in sorted(blocks):
        whole = weights % q == 0
        inside = (span <= q) & (q % span == 0)
        ok &= ((batch.rank != r) | (batch.factor == 1) | whole | inside).all(axis=1)
    return ok


def closed_form_mask(batch: NestArrays, problem: ProblemArrays,
                     perfect: np.ndarray | None = None) -> np.ndarray:
    """True for the nests :func:`accelsim.cost.kernels.count_perfect_batch` counts: perfect
    and aligned; the tile walker counts the rest."""
    if perfect is None:
        perfect = perfect_mask(batch, problem.sizes)
    return perfect & aligned_mask(batch, problem)


SERIAL_BELOW = 512
"""Batches smaller than this run on the calling thread: starting the parallel region costs
more than the work (a single nest counts about ten times faster this way on a loaded
machine, where the OpenMP threads spin waiting for a core)."""


@contextmanager
def _threads_for(n: int):
    if n >= SERIAL_BELOW:
        yield
        return
    try:
        before = numba.get_num_threads()
    except Exception:                  # threading layer unavailable: nothing to change
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def count_arrays(batch: NestArrays, problem: ProblemArrays, levels: LevelArrays,
                 perfect: np.ndarray | None = None) -> BatchCounts:
    """Count a packed batch: the closed form for perfect, aligned nests, the walker for the
    rest (decided per nest by :func:`closed_form_mask`).

    ``perfect`` may be given when the caller already knows it (one bool per nest).
    """
    b, nl, nt = batch.keeps.shape
    out = BatchCounts(np.zeros((b, nl, nt, 4), np.int64), np.zeros((b, nl, nt), np.int64),
                      np.zeros((b, nl, nt), np.int64), np.zeros((b, nl, nt, 3), np.float64),
                      np.zeros((b, 3), np.int64))
    closed = closed_form_mask(batch, problem, perfect)
    for kernel, rows in ((kernels.count_perfect_batch, np.flatnonzero(closed)),
                         (walker.count_walk_batch, np.flatnonzero(~closed))):
        if rows.size == 0:
            continue
        whole = rows.size == b
        loops = batch if whole else NestArrays(*(a[rows] for a in batch))
        part = out if whole else BatchCounts(*(a[rows] for a in out))
        with _threads_for(rows.size):
            kernel(loops, problem, levels, part)
        if not whole:
            for full, got in zip(out, part):
                full[rows] = got
    return out


def count_nests(nests: Sequence[LoopNest]) -> list[FastCounts]:
    """Count a batch of nests sharing one problem and one hierarchy (their loops may differ)."""
    if not nests:
        return []
    first = nests[0]
    for nest in nests:
        nest.validate()
        if nest.problem != first.problem or [lv.name for lv in nest.levels] != list(first.level_names):
            raise MappingError("a batch must share one problem and one hierarchy")
    problem = encode_problem(first.problem)
    out = count_arrays(encode_nests(nests, problem), problem, encode_levels(first))
    return [FastCounts(out.counts[i], out.capacity[i], out.instances[i], out.energy[i],
                       int(out.compute[i, 0]), int(out.compute[i, 1]), int(out.compute[i, 2]))
            for i in range(len(nests))]
