"""A batch of candidate mappings of one Einsum: pre-checked, counted, and modelled.

Three steps, Timeloop-style (loop analysis apart from the hardware model):

1. :func:`precheck` -- the cheap capacity pre-check: per level, the bytes of the tiles it
   keeps (from the loop factors alone, no counting) against one instance's capacity, plus
   the spatial fan-out limits.  It prunes before counting.
2. :func:`count` -- candidates encoded as the kernels' integer arrays
   (:class:`~accelsim.cost.fast.NestArrays`) and counted by the numba batch kernels.
3. :func:`metrics` -- counts to bytes, cycles, energy and off-chip traffic by the batch
   model (:mod:`accelsim.model.batch`), which runs the exact model's cost terms in the
   same order, so the floats agree with :func:`accelsim.model.evaluate` to the last bit.
   Tiles larger than a level's capacity (the exact model's CapacityError) are marked
   invalid.
"""

from __future__ import annotations

import numpy as np

from accelsim.cost.fast import NestArrays, count_arrays
from accelsim.cost.footprint import tile_elements_batch
from accelsim.cost.kernels import BatchCounts
from accelsim.model.batch import BatchConstants, Metrics, batch_metrics, model_constants
from accelsim.search import kernels as search_kernels
from accelsim.search.space import Candidates, MapSpace

__all__ = ["BatchConstants", "Metrics", "capacity_ok", "count", "encode", "extents",
           "fanout_ok", "metrics", "model_constants", "precheck", "tile_bytes",
           "tile_elements"]


# ---------------------------------------------------------------------------- pre-check

def extents(space: MapSpace, factors: np.ndarray) -> np.ndarray:
    """(B, levels, ranks): each level's tile extent per rank (loops owned at or below it)."""
    per_level = np.ones((factors.shape[0], space.n_levels, space.n_ranks), np.int64)
    for s in range(space.n_slots):
        per_level[:, space.slot_level[s]] *= factors[:, s]
    return np.flip(np.cumprod(np.flip(per_level, 1), axis=1), 1)


def tile_elements(space: MapSpace, ext: np.ndarray) -> np.ndarray:
    """(B, levels, tensors): the first (largest unless a block index straddles) data tile
    (accelsim.cost.footprint)."""
    p = space.problem_arrays
    out = np.ones(ext.shape[:2] + (len(space.tensor_names),), np.int64)
    tile_elements_batch(ext, space.sizes, p.dim_rank, p.dim_div, p.ndims, out)
    return out


def tile_bytes(space: MapSpace, tiles: np.ndarray, keeps: np.ndarray) -> np.ndarray:
    """(B, levels): bytes of the tiles each level keeps (the model's footprint)."""
    total = np.zeros(tiles.shape[:2], np.float64)
    for t in range(tiles.shape[2]):
        total = total + np.where(keeps[:, :, t], tiles[:, :, t] * space.bytes_per_element[t], 0.0)
    return total


def _prechecked(space: MapSpace, cands: Candidates) -> tuple[np.ndarray, np.ndarray]:
    n = len(cands)
    fan, fits = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    search_kernels.precheck_batch(cands, space.slots, space.fit_arrays, fan, fits)
    return fan, fits


def fanout_ok(space: MapSpace, cands: Candidates) -> np.ndarray:
    """True where every spatial slot's factors fit its level's fan-out."""
    return _prechecked(space, cands)[0]


def capacity_ok(space: MapSpace, cands: Candidates) -> np.ndarray:
    """True where the tiles each level keeps fit one instance (levels below the first)."""
    return _prechecked(space, cands)[1]


def precheck(space: MapSpace, cands: Candidates) -> np.ndarray:
    """True for candidates whose fan-out fits the mesh and whose tiles fit every level."""
    fan, fits = _prechecked(space, cands)
    return fan & fits


# ---------------------------------------------------------------------------- counting

def encode(space: MapSpace, cands: Candidates) -> NestArrays:
    """The kernels' loop arrays: per level temporal loops in order, then spatial loops;
    unit loops dropped (padding at the innermost level, as the kernels expect)."""
    n = len(cands)
    width = max(int((cands.factors > 1).sum(axis=(1, 2)).max(initial=0)), 1)
    loops = NestArrays(*(np.empty((n, width), np.int64) for _ in range(4)),
                       np.ascontiguousarray(cands.keeps))
    search_kernels.encode_batch(cands, space.perms, space.slot_level, loops)
    return loops


def count(space: MapSpace, cands: Candidates) -> BatchCounts:
    """Count a batch with the numba kernels (accelsim.cost.fast.count_arrays)."""
    covered = np.prod(cands.factors, axis=1)
    perfect = (covered == space.sizes).all(axis=1)
    return count_arrays(encode(space, cands), space.problem_arrays, space.level_arrays, perfect)


# ---------------------------------------------------------------------------- the model

def metrics(space: MapSpace, const: BatchConstants, out: BatchCounts,
            keeps: np.ndarray) -> Metrics:
    """The model's numbers for each counted mapping (:func:`accelsim.model.batch_metrics`)."""
    return batch_metrics(const, out, keeps, space.bytes_per_element)
