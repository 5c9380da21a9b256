"""Random candidates and local moves, as numba loops over integer arrays.

Every random decision reads a uniform number drawn beforehand by a seeded
``numpy.random.Generator`` (one row per candidate), so a search is deterministic for a seed
and the kernels here need no random state of their own.

* :func:`sample` builds candidates from the innermost level outwards: each free factor is a
  divisor of what is left of its rank, drawn among those that keep the tiles of that level
  and of every level above it within capacity and the spatial slot within its fan-out (a
  spatial slot takes the largest such divisor half of the time, to favour full arrays).
  The outermost free slot takes the rest.  Samples therefore pass the capacity pre-check
  by construction (barring fixed factors that do not fit).
* :func:`mutate` applies one local move: move a prime factor of a rank to another slot,
  swap a rank's factors between two slots, trade a prime between two ranks of a spatial
  slot (the array stays as full), re-draw one level's loop order, or flip one keep/bypass
  choice.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from accelsim.search.moves_kernels import mutate_batch, refit_remainders, sample_batch
from accelsim.search.space import Candidates, MapSpace

KEEP_PROBABILITY = 0.75
"""Chance that a sample keeps a tensor at a level that may (but need not) keep it."""


class Orders(NamedTuple):
    """Per level, the loop orders a candidate may take."""

    ids: np.ndarray
    """(levels, orders) the allowed order ids, padded."""
    counts: np.ndarray
    """(levels,) how many there are."""


class Draws(NamedTuple):
    """What a sample's first choices are drawn from
    (:func:`accelsim.search.moves_kernels.sample_batch`)."""

    pads: np.ndarray
    """(ranks, P) the sizes each rank may be padded to (0: unused)."""
    fixed: np.ndarray
    """(slots, ranks) a fixed factor, or 0."""
    orders: Orders
    keep_ok: np.ndarray
    """(levels, tensors) the level may keep the tensor."""
    keep_forced: np.ndarray
    """(levels, tensors) the level must keep the tensor."""
    keep_p: float
    """The chance of keeping a tensor that a level may keep."""


def _perm_table(space: MapSpace) -> Orders:
    """Per level, the allowed order ids (padded) and how many there are."""
    nl, n_perm = space.perm_ok.shape
    ids = np.zeros((nl, n_perm), np.int64)
    counts = np.zeros(nl, np.int64)
    for j in range(nl):
        ok = np.flatnonzero(space.perm_ok[j])
        ids[j, :ok.size] = ok
        counts[j] = ok.size
    return Orders(ids, counts)


def sample(space: MapSpace, n: int, rng: np.random.Generator) -> Candidates:
    """``n`` random candidates (see the module docstring)."""
    s, r, nl = space.n_slots, space.n_ranks, space.n_levels
    nt = len(space.tensor_names)
    u = rng.random((n, nl * nt + r + nl + 3 * s * r))
    out = Candidates(np.ones((n, s, r), np.int64), np.zeros((n, nl), np.int64),
                     np.zeros((n, nl, nt), np.bool_))
    draws = Draws(space.pads, space.fixed, _perm_table(space), space.keep_ok,
                  space.keep_forced, KEEP_PROBABILITY)
    sample_batch(u, space.slots, space.allowed, space.remainder, draws, space.fit_arrays, out)
    return out


def mutate(space: MapSpace, cands: Candidates, rng: np.random.Generator,
           moves: int = 1) -> Candidates:
    """A copy of ``cands`` with ``moves`` local moves applied to each candidate."""
    out = Candidates(cands.factors.copy(), cands.perm.copy(), cands.keeps.copy())
    orders = _perm_table(space)
    optional = space.keep_ok & ~space.keep_forced
    for _ in range(moves):
        u = rng.random((len(out), 8))
        mutate_batch(u, space.allowed, space.slot_axis, orders, optional, out)
    if space.imperfect:     # after a move, as after sampling
        refit_remainders(out.factors, space.remainder, space.sizes)
    return out
