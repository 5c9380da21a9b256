"""One search run: the objective, the budget, the best mapping and the Pareto front so far.

A strategy hands batches of candidates to :meth:`Run.evaluate`, which pre-checks them,
counts the survivors with the kernels, applies the batch model and the objective, and
records the best and the energy/latency front.  When the budget (evaluations or seconds)
is spent, :meth:`Run.evaluate` raises :class:`StopSearch`; the single-Einsum search
(accelsim.search.single) catches it, and KeyboardInterrupt, and returns what was found.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.errors import SpecError
from accelsim.search.batch_model import BatchConstants, Metrics, count, metrics, precheck
from accelsim.search.space import Candidates, MapSpace, concat, covers
from accelsim.search.types import Objective, Progress

OBJECTIVES: dict[str, dict[str, float]] = {
    "energy": {"energy": 1.0},
    "latency": {"latency": 1.0},
    "edp": {"energy": 1.0, "latency": 1.0},
    "traffic": {"traffic": 1.0},
}
"""Named objectives as weights of log(metric): a dict ``{'energy': a, 'latency': b}`` minimizes
energy**a x latency**b (``edp`` is a = b = 1)."""
METRICS = ("energy", "latency", "traffic")
GUARD = 200
"""Stop after this many candidates per evaluation (at least 10^6) without a valid one."""

def objective_weights(objective: Objective) -> dict[str, float]:
    """The metric weights of a named or weighted objective."""
    if isinstance(objective, str):
        if objective not in OBJECTIVES:
            raise SpecError(f"unknown objective {objective!r}; expected one of "
                            f"{', '.join(OBJECTIVES)} or a dict of weights over "
                            f"{', '.join(METRICS)}")
        return dict(OBJECTIVES[objective])
    weights = {str(k): float(v) for k, v in dict(objective).items()}
    bad = [k for k in weights if k not in METRICS]
    if bad or not weights or any(v < 0 or math.isnan(v) for v in weights.values()) \
            or not any(weights.values()):
        raise SpecError(f"objective weights {dict(objective)!r}: expected non-negative weights "
                        f"over {', '.join(METRICS)}, not all zero")
    return weights


class StopSearch(Exception):
    """The budget is spent (raised by Run.evaluate, caught by the single-Einsum search)."""


@dataclass
class Front:
    """The energy/latency Pareto front of the mappings evaluated so far, with their metrics."""

    cands: Candidates | None = None
    energy: np.ndarray = None   # type: ignore[assignment]
    latency: np.ndarray = None  # type: ignore[assignment]
    traffic: np.ndarray = None  # type: ignore[assignment]


class Run:
    """The state of one search (see the module docstring)."""

    def __init__(self, space: MapSpace, const: BatchConstants, weights: dict[str, float],
                 rng: np.random.Generator, budget: int | None, seconds: float | None,
                 callback: Callable[[Progress], None] | None = None, bar=None):
        self.space, self.const, self.weights, self.rng = space, const, weights, rng
        self.budget, self.seconds, self.callback, self.bar = budget, seconds, callback, bar
        self.start = time.perf_counter()
        self.evaluated = self.considered = 0
        self.best: Candidates | None = None
        self.best_key = (math.inf, math.inf, math.inf)
        self.best_score = math.inf
        self.front = Front()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def fraction_spent(self) -> float:
        """How much of the budget is used (0..1), for schedules such as annealing's."""
        parts = [0.0]
        if self.budget:
            parts.append(self.evaluated / self.budget)
        if self.seconds:
            parts.append(self.elapsed() / self.seconds)
        return min(max(parts), 1.0)

    def score(self, m: Metrics) -> np.ndarray:
        values = {"energy": m.energy_pj, "latency": m.latency_s, "traffic": m.offchip_bytes}
        total = np.zeros(m.energy_pj.shape[0])
        for name, w in self.weights.items():
            if w:
                total = total + w * np.log(np.maximum(values[name], 1e-300))
        return total

    def evaluate(self, cands: Candidates) -> np.ndarray:
        """Scores of ``cands`` (inf: invalid, or beyond the budget); may raise StopSearch."""
        self.considered += len(cands)
        scores = np.full(len(cands), np.inf)
        rows = np.flatnonzero(precheck(self.space, cands) & covers(self.space, cands.factors))
        stop = False
        if self.budget is not None and rows.size >= self.budget - self.evaluated:
            rows, stop = rows[: max(self.budget - self.evaluated, 0)], True
        if rows.size:
            sub = cands if rows.size == len(cands) else cands.take(rows)
            m = metrics(self.space, self.const, count(self.space, sub), sub.keeps)
            good = m.valid & (m.busy_utilization >= self.space.min_utilization - 1e-12)
            got = np.where(good, self.score(m), np.inf)
            scores[rows] = got
            self.evaluated += rows.size
            self._record(sub, m, got, good)
        if self.bar is not None:
            self.bar(self)
        if self.callback is not None:
            self.callback(Progress(self.evaluated, self.considered, self.elapsed(),
                                   self.best_score))
        guard = max(GUARD * len(cands), 10**6)
        if stop or (self.seconds is not None and self.elapsed() >= self.seconds) or \
                (self.evaluated == 0 and self.considered >= guard):
            raise StopSearch
        return scores

    def _record(self, sub: Candidates, m: Metrics, scores: np.ndarray, good: np.ndarray) -> None:
        rows = np.flatnonzero(good)
        if rows.size == 0:
            return
        i = rows[np.lexsort((m.latency_s[rows], m.energy_pj[rows], scores[rows]))[0]]
        key = (float(scores[i]), float(m.energy_pj[i]), float(m.latency_s[i]))
        if key < self.best_key:
            self.best_key, self.best_score, self.best = key, key[0], sub.take([i])
        rows = rows[pareto(m.energy_pj[rows], m.latency_s[rows])]
        self._merge_front(sub.take(rows), m.energy_pj[rows], m.latency_s[rows],
                          m.offchip_bytes[rows])

    def _merge_front(self, cands: Candidates, energy, latency, traffic) -> None:
        f = self.front
        if f.cands is not None:
            cands = concat([f.cands, cands])
            energy, latency, traffic = (np.concatenate(pair) for pair in (
                (f.energy, energy), (f.latency, latency), (f.traffic, traffic)))
        keep = pareto(energy, latency)
        self.front = Front(cands.take(keep), energy[keep], latency[keep], traffic[keep])


def pareto(energy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both energy and latency (first of ties)."""
    order = np.lexsort((np.arange(energy.shape[0]), latency, energy))
    lat = latency[order]
    before = np.concatenate([[np.inf], np.minimum.accumulate(lat)[:-1]])
    return order[lat < before]
