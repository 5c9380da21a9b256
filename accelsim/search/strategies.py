"""Search strategies: plain functions ``strategy(space, run) -> None`` in one registry.

Each strategy proposes batches of candidate arrays and hands them to ``run.evaluate``
(which counts them with the numba kernels, scores them and raises StopSearch when the
budget is spent); it draws every random number from ``run.rng``, so a seed fixes the run.

* ``exhaustive``: every candidate of the pruned mapspace (accelsim.search.exhaustive).
* ``random``: independent capacity-aware samples (accelsim.search.moves.sample).
* ``anneal``: simulated annealing on parallel chains; each chain proposes a batch of
  neighbours (one or two local moves), moves to the best of them when it improves or with
  the Metropolis probability at a temperature that falls with the budget spent, and
  restarts from the best mapping so far after stalling.
* ``genetic``: a (mu + lambda) genetic search: tournament selection, crossover that takes
  each rank's factors and each level's order and keeps from either parent, mutation by the
  same local moves, and a few fresh samples per generation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from accelsim.errors import SpecError
from accelsim.search.driver import Run
from accelsim.search.exhaustive import enumerate_space
from accelsim.search.moves import mutate, sample
from accelsim.search.space import Candidates, MapSpace, concat

Strategy = Callable[[MapSpace, Run], None]

RANDOM_BATCH = 4096
CHAINS, NEIGHBOURS, STALL, T0 = 16, 16, 12, 0.03
"""Annealing: parallel chains, neighbours per chain and step (a batch of 256: large enough
to amortize the parallel kernels' start-up, small enough for many steps per budget), steps
without improvement before a restart, initial temperature (in units of log(objective))."""
POPULATION, TOURNAMENT, IMMIGRANTS = 512, 3, 0.1
"""Genetic: population, tournament size, share of fresh samples per generation."""


def exhaustive(space: MapSpace, run: Run) -> None:
    """Evaluate the whole pruned mapspace."""
    for cands in enumerate_space(space):
        run.evaluate(cands)


def random_sampling(space: MapSpace, run: Run) -> None:
    """Evaluate independent random samples until the budget is spent."""
    while True:
        run.evaluate(sample(space, RANDOM_BATCH, run.rng))


def _seed_population(space: MapSpace, run: Run, size: int) -> tuple[Candidates, np.ndarray]:
    """The ``size`` best of a few rounds of samples (valid ones first)."""
    pool, scores = [], []
    for _ in range(8):
        cands = sample(space, 4 * size, run.rng)
        pool.append(cands)
        scores.append(run.evaluate(cands))
        if np.isfinite(np.concatenate(scores)).sum() >= size:
            break
    cands, scores = concat(pool), np.concatenate(scores)
    best = np.argsort(scores, kind="stable")[:size]
    return cands.take(best), scores[best]


def anneal(space: MapSpace, run: Run) -> None:
    """Simulated annealing on parallel chains (see the module docstring)."""
    state, score = _seed_population(space, run, CHAINS)
    stall = np.zeros(state.factors.shape[0], np.int64)
    chains = np.arange(state.factors.shape[0])
    while True:
        parents = np.repeat(chains, NEIGHBOURS)
        proposals = mutate(space, state.take(parents), run.rng, moves=1)
        twice = run.rng.random(parents.shape[0]) < 0.3
        if twice.any():
            again = mutate(space, proposals.take(np.flatnonzero(twice)), run.rng, moves=1)
            for field, new in zip(proposals, again):
                field[twice] = new
        got = run.evaluate(proposals).reshape(chains.shape[0], NEIGHBOURS)
        pick = np.argmin(got, axis=1)
        best = got[chains, pick]
        temperature = T0 * max(1.0 - run.fraction_spent(), 1e-3)
        with np.errstate(over="ignore", invalid="ignore"):
            chance = np.exp((score - best) / temperature)
            lucky = run.rng.random(chains.shape[0]) < chance
        accept = (best < score) | (np.isfinite(best) & lucky)
        stall = np.where(best < score, 0, stall + 1)
        moved = np.flatnonzero(accept)
        for field, new in zip(state, proposals.take(moved * NEIGHBOURS + pick[moved])):
            field[moved] = new
        score[moved] = best[moved]
        stuck = np.flatnonzero(stall >= STALL)
        if stuck.size and run.best is not None:
            copies = Candidates(*(np.repeat(f, stuck.size, axis=0) for f in run.best))
            restart = mutate(space, copies, run.rng, moves=2)
            for field, new in zip(state, restart):
                field[stuck] = new
            score[stuck] = np.inf
            stall[stuck] = 0


def _crossover(a: Candidates, b: Candidates, rng: np.random.Generator) -> Candidates:
    n, _, nr = a.factors.shape
    nl = a.perm.shape[1]
    by_rank = rng.random((n, 1, nr)) < 0.5
    by_level = rng.random((n, nl)) < 0.5
    keeps = np.where(rng.random((n, nl, 1)) < 0.5, a.keeps, b.keeps)
    return Candidates(np.where(by_rank, a.factors, b.factors), np.where(by_level, a.perm, b.perm),
                      keeps)


def genetic(space: MapSpace, run: Run) -> None:
    """(mu + lambda) genetic search (see the module docstring)."""
    population, score = _seed_population(space, run, POPULATION)
    n = population.factors.shape[0]
    fresh = max(int(IMMIGRANTS * n), 1)
    while True:
        contest = run.rng.integers(0, n, (2, n - fresh, TOURNAMENT))
        winners = [c[np.arange(n - fresh), np.argmin(score[c], axis=1)] for c in contest]
        children = _crossover(population.take(winners[0]), population.take(winners[1]), run.rng)
        mutated = run.rng.random(n - fresh) < 0.8
        if mutated.any():
            moved = mutate(space, children.take(np.flatnonzero(mutated)), run.rng,
                           moves=1 + int(run.rng.random() < 0.3))
            for field, new in zip(children, moved):
                field[mutated] = new
        children = concat([children, sample(space, fresh, run.rng)])
        got = run.evaluate(children)
        merged, merged_score = concat([population, children]), np.concatenate([score, got])
        keep = _distinct_best(merged, merged_score, n)
        population, score = merged.take(keep), merged_score[keep]


def _distinct_best(cands: Candidates, score: np.ndarray, n: int) -> np.ndarray:
    """The n best rows, dropping exact duplicates first (keeps the population diverse)."""
    flat = np.concatenate([cands.factors.reshape(len(cands), -1), cands.perm,
                           cands.keeps.reshape(len(cands), -1)], axis=1)
    _, first = np.unique(flat, axis=0, return_index=True)
    order = first[np.argsort(score[first], kind="stable")]
    if order.size < n:
        rest = np.setdiff1d(np.argsort(score, kind="stable"), order, assume_unique=True)
        order = np.concatenate([order, rest[: n - order.size]])
    return order[:n]


STRATEGIES: dict[str, Strategy] = {
    "exhaustive": exhaustive,
    "random": random_sampling,
    "anneal": anneal,
    "genetic": genetic,
}
"""Strategy name -> function; :func:`get_strategy` resolves names."""


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; an unknown name lists the valid ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise SpecError(f"unknown search strategy {name!r}; expected one of "
                        f"{', '.join(STRATEGIES)}") from None
