"""Mapping search: the best mapping of an Einsum on a machine, with a traffic lower bound.

``search(target, hardware, objective, constraints, strategy, budget, ...)`` builds the
mapspace (accelsim.search.space), runs one strategy from the registry
(accelsim.search.strategies) that evaluates candidates in batches through the numba
kernels and the vectorized model (accelsim.search.batch_model), converts the winner and
the Pareto front to MappingSpecs, re-evaluates the winner with accelsim.model.evaluate for
its full Report, and states found / bound for off-chip traffic (accelsim.search.bound).

``target`` is a BoundEinsum (one Einsum), a :class:`FusedGroup` (Einsums of a cascade run
as one fused kernel: the tiles of their shared loops and every member's mapping are
searched) or a :class:`BoundCascade` (a whole cascade: which Einsums to fuse, and each
group's mapping); see accelsim.search.fusion.  The last returns a :class:`CascadeResult`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Callable, Union

import numpy as np

from accelsim.arch import Architecture, load_architecture
from accelsim.errors import MappingError, SpecError
from accelsim.mapping import BoundEinsum
from accelsim.model import Report, evaluate
from accelsim.search.batch_model import model_constants
from accelsim.search.bound import offchip_lower_bound, ski_slope
from accelsim.search.constraints import Constraints, load_constraints
from accelsim.search.fusion import (BoundCascade, CascadeResult, FusedGroup, search_cascade,
                                    search_group)
from accelsim.search.group_bound import cascade_bound, group_bound
from accelsim.search.members import MEMBER_BUDGET, MemberSearch
from accelsim.search.driver import (OBJECTIVES, Objective, Progress, Run, StopSearch,
                                    objective_weights)
from accelsim.search.space import MapSpace, build_space, to_mapping
from accelsim.search.strategies import STRATEGIES, get_strategy
from accelsim.spec.mapping import MappingSpec

__all__ = ["OBJECTIVES", "STRATEGIES", "BoundCascade", "CascadeResult", "Constraints",
           "FusedGroup", "ParetoPoint", "Progress", "SearchResult",
           "build_space", "load_constraints", "offchip_lower_bound", "onchip_capacity",
           "search", "ski_slope"]

DEFAULT_BUDGET = 20_000
"""Evaluations for the sampling strategies when neither budget is given."""


@dataclass(frozen=True)
class ParetoPoint:
    """One mapping of the energy/latency Pareto front of the evaluated mappings."""

    energy_pj: float
    latency_s: float
    offchip_bytes: float
    mapping: MappingSpec


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`search`."""

    mapping: MappingSpec
    """The best mapping found."""
    report: Report
    """Its full evaluation (accelsim.model.evaluate)."""
    objective: dict[str, float]
    """The objective as weights of log(energy), log(latency), log(traffic)."""
    pareto: tuple[ParetoPoint, ...]
    """Energy/latency Pareto front of the evaluated mappings, by increasing energy."""
    evaluated: int
    """Mappings counted by the kernels (the budget counts these)."""
    considered: int
    """Candidates proposed, including those the capacity pre-check pruned."""
    elapsed_s: float
    """Seconds spent searching (the bound is computed afterwards)."""
    strategy: str
    seed: int
    interrupted: bool
    """True when Ctrl-C (KeyboardInterrupt) ended the search early."""
    offchip_bound_bytes: float | None
    """The least off-chip traffic of any mapping with this machine's on-chip capacity
    (accelsim.search.bound); None when the Einsum is not GEMM-like."""
    bound_note: str

    @property
    def found_over_bound(self) -> float | None:
        """The best mapping's off-chip traffic / the lower bound (>= 1)."""
        if not self.offchip_bound_bytes:
            return None
        return self.report.offchip_bytes / self.offchip_bound_bytes


def onchip_capacity(arch: Architecture) -> float:
    """Bytes of all on-chip storage: every level below the backing store, all instances."""
    return float(sum(lv.capacity_bytes * lv.fanout for lv in arch.levels[1:]))


def search(target: Union[BoundEinsum, FusedGroup, BoundCascade], hardware: Union[Architecture, str, os.PathLike],
           objective: Objective = "energy",
           constraints: Union[None, str, os.PathLike, dict, Constraints] = None,
           strategy: str = "anneal", budget: int | None = None,
           budget_seconds: float | None = None, seed: int = 0, progress: bool = True,
           callback: Callable[[Progress], None] | None = None,
           bound: bool = True, report_on: Architecture | None = None) -> SearchResult:
    """Search the mappings of ``target`` on ``hardware`` for the best under ``objective``.

    ``budget`` caps the mappings evaluated, ``budget_seconds`` the time (the exhaustive
    strategy runs to the end of its space without either; the others default to
    DEFAULT_BUDGET evaluations).  ``callback`` is called with a :class:`Progress` after
    every batch; KeyboardInterrupt (Ctrl-C, or raised by the callback) ends the search and
    the best mapping so far is returned.  ``report_on``: the machine the winner's report is
    evaluated on (the same levels as ``hardware``, other figures), when it differs from the
    one the search ranks mappings on.
    """
    run_strategy = get_strategy(strategy)
    weights = objective_weights(objective)
    arch = hardware if isinstance(hardware, Architecture) else load_architecture(str(hardware))
    if report_on is not None and [lv.name for lv in report_on.levels] != [
            lv.name for lv in arch.levels]:
        raise SpecError(f"report_on ({report_on.name}) must have the levels of {arch.name}")
    if isinstance(target, (FusedGroup, BoundCascade)):
        if report_on is not None:
            raise SpecError("report_on applies to single-Einsum searches")
        if constraints is not None:
            raise SpecError("constraints apply to single-Einsum searches; a group's members "
                            "are searched without them")
        return _search_fused(target, arch, weights, strategy, budget, seed, progress, bound)
    if not isinstance(target, BoundEinsum):
        raise SpecError(f"search takes a BoundEinsum, a FusedGroup or a BoundCascade, not "
                        f"{type(target).__name__}")
    space = build_space(target, arch, load_constraints(constraints))
    if budget is None and budget_seconds is None and strategy != "exhaustive":
        budget = DEFAULT_BUDGET
    run = Run(space, model_constants(target, arch), weights, np.random.default_rng(seed),
              budget, budget_seconds, callback)
    interrupted = _run(run_strategy, space, run, progress, strategy)
    elapsed = run.elapsed()
    if run.best is None:
        raise MappingError(f"no valid mapping of {target.einsum.name} on {arch.name} found in "
                           f"{run.considered} candidates ({run.evaluated} counted)")
    return _result(space, run, strategy, seed, weights, interrupted, elapsed, bound,
                   report_on or arch)


def _run(run_strategy, space: MapSpace, run: Run, progress: bool, name: str) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn(f"search ({name})"), BarColumn(), MofNCompleteColumn(),
             TextColumn("best {task.fields[best]}"), TimeElapsedColumn(),
             disable=not progress, transient=True) as bar:
        task = bar.add_task("search", total=run.budget, best="-")
        run.bar = lambda r: bar.update(task, completed=r.evaluated, best=f"{r.best_score:.4g}")
        try:
            run_strategy(space, run)
        except StopSearch:
            pass
        except KeyboardInterrupt:
            return True
    return False


def _result(space: MapSpace, run: Run, strategy: str, seed: int, weights, interrupted: bool,
            elapsed: float, bound: bool, report_on: Architecture) -> SearchResult:
    label = f"{space.bound.einsum.name}-{strategy}-best"
    mapping = to_mapping(space, run.best, 0, label, f"found by accelsim.search ({strategy}, "
                         f"seed {seed}, {run.evaluated} mappings evaluated)")
    report = evaluate(space.bound, report_on, mapping)
    front = run.front
    order = np.argsort(front.energy, kind="stable")
    pareto = tuple(ParetoPoint(float(front.energy[i]), float(front.latency[i]),
                               float(front.traffic[i]),
                               to_mapping(space, front.cands, int(i), f"{label}-pareto-{k}"))
                   for k, i in enumerate(order))
    limit, note = None, ""
    if bound:
        capacity = onchip_capacity(space.arch)
        try:
            limit = offchip_lower_bound(space.bound, capacity, "bytes")
            note = (f"least off-chip bytes of any perfectly factorized mapping with "
                    f"{capacity:g} B on chip (uneven 2-level tilings, exhaustive)")
        except MappingError as exc:
            note = f"no bound: {exc}"
    return SearchResult(mapping=mapping, report=report, objective=weights, pareto=pareto,
                        evaluated=run.evaluated, considered=run.considered, elapsed_s=elapsed,
                        strategy=strategy, seed=seed, interrupted=interrupted,
                        offchip_bound_bytes=limit if limit is not None and math.isfinite(limit)
                        else None,
                        bound_note=note)


def _search_fused(target, arch: Architecture, weights, strategy: str, budget: int | None,
                  seed: int, progress: bool, bound: bool):
    """Groups and cascades (accelsim.search.fusion); ``budget`` is per member search."""
    import time

    per_member = budget or MEMBER_BUDGET
    capacity = onchip_capacity(arch)
    if isinstance(target, BoundCascade):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar
        with Bar(TextColumn("fusion search"), BarColumn(), MofNCompleteColumn(),
                 TimeElapsedColumn(), disable=not progress, transient=True) as bar:
            task = bar.add_task("fusion", total=len(target.cascade.einsums))
            found = search_cascade(target, arch, weights, search, per_member, seed, strategy,
                                   callback=lambda done, total: bar.update(task, completed=done))
        if bound:
            found = replace(found, offchip_bound_bytes=cascade_bound(target, capacity))
        return found
    start = time.perf_counter()
    members = MemberSearch(arch, search, weights, per_member, seed, strategy)
    best = search_group(target, arch, weights, members)
    if best is None:
        raise MappingError(f"no fused mapping of {'+'.join(target.members)} on {arch.name} "
                           "fits: every tiling of its shared loops overflows the chip")
    reports = best.tried
    pareto = [ParetoPoint(r.energy_pj, r.latency_s, r.offchip_bytes, m) for r, m in reports
              if not any(o.energy_pj <= r.energy_pj and o.latency_s <= r.latency_s
                         and (o.energy_pj, o.latency_s) != (r.energy_pj, r.latency_s)
                         for o, _ in reports)]
    limit = group_bound(target, capacity) if bound else None
    return SearchResult(
        mapping=best.mapping, report=best.report, objective=dict(weights),
        pareto=tuple(sorted(pareto, key=lambda p: p.energy_pj)), evaluated=members.evaluated,
        considered=len(members.cache), elapsed_s=time.perf_counter() - start,
        strategy=strategy, seed=seed, interrupted=False, offchip_bound_bytes=limit,
        bound_note=(f"sum over members of the least off-chip bytes with {capacity:g} B on chip, "
                    "the group's intermediates free" if bound else ""))
