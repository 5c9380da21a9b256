"""The mapping search of one Einsum on one machine.

:func:`search_einsum` builds the mapspace (accelsim.search.space), runs one strategy from
the registry (accelsim.search.strategies) that evaluates candidates in batches through the
numba kernels and the vectorized model (accelsim.search.batch_model), converts the winner
and the Pareto front to MappingSpecs, re-evaluates the winner with accelsim.model.evaluate
for its full Report, and states found / bound for off-chip traffic (accelsim.search.bound).
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Union

import numpy as np

from accelsim.arch import Architecture
from accelsim.errors import MappingError
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.search.batch_model import model_constants
from accelsim.search.bound import offchip_lower_bound
from accelsim.search.constraints import Constraints, load_constraints
from accelsim.search.driver import Run, StopSearch
from accelsim.search.space import MapSpace, build_space, to_mapping
from accelsim.search.strategies import get_strategy
from accelsim.search.types import ParetoPoint, SearchOptions, SearchResult

DEFAULT_BUDGET = 20_000
"""Evaluations for the sampling strategies when neither budget is given."""

ConstraintsLike = Union[None, str, os.PathLike, dict, Constraints]
"""A constraints file, its parsed YAML, a Constraints value, or None for none."""


def onchip_capacity(arch: Architecture) -> float:
    """Bytes of all on-chip storage: every level below the backing store, all instances."""
    return float(sum(lv.capacity_bytes * lv.fanout for lv in arch.levels[1:]))


def search_einsum(bound: BoundEinsum, arch: Architecture, weights: Mapping[str, float],
                  constraints: ConstraintsLike = None, report_on: Architecture | None = None,
                  options: SearchOptions = SearchOptions()) -> SearchResult:
    """The best mapping of ``bound`` on ``arch`` under the objective ``weights``.

    ``options.budget`` caps the mappings evaluated, ``options.budget_seconds`` the time
    (the exhaustive strategy runs to the end of its space without either; the others
    default to DEFAULT_BUDGET evaluations).  ``options.callback`` is called with a
    Progress after every batch; KeyboardInterrupt (Ctrl-C, or raised by the callback) ends
    the search and the best mapping so far is returned.  ``report_on``: the machine the
    winner's report is evaluated on (the levels of ``arch``, other figures), when it
    differs from the one the search ranks mappings on.
    """
    run_strategy = get_strategy(options.strategy)
    space = build_space(bound, arch, load_constraints(constraints))
    budget = options.budget
    if budget is None and options.budget_seconds is None and options.strategy != "exhaustive":
        budget = DEFAULT_BUDGET
    run = Run(space, model_constants(bound, arch), dict(weights),
              np.random.default_rng(options.seed), budget, options.budget_seconds,
              options.callback)
    interrupted = _run(run_strategy, space, run, options.progress, options.strategy)
    elapsed = run.elapsed()
    if run.best is None:
        raise MappingError(f"no valid mapping of {bound.einsum.name} on {arch.name} found in "
                           f"{run.considered} candidates ({run.evaluated} counted)")
    return _result(space, run, options, interrupted, elapsed, report_on or arch)


def _run(run_strategy, space: MapSpace, run: Run, progress: bool, name: str) -> bool:
    """Run the strategy under a progress bar; True when KeyboardInterrupt ended it."""
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


def _result(space: MapSpace, run: Run, options: SearchOptions, interrupted: bool,
            elapsed: float, report_on: Architecture) -> SearchResult:
    """The winner and the front as MappingSpecs, the winner's report and the bound."""
    strategy, seed = options.strategy, options.seed
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
    if options.bound:
        capacity = onchip_capacity(space.arch)
        try:
            limit = offchip_lower_bound(space.bound, capacity, "bytes")
            note = (f"least off-chip bytes of any perfectly factorized mapping with "
                    f"{capacity:g} B on chip (uneven 2-level tilings, exhaustive)")
        except MappingError as exc:
            note = f"no bound: {exc}"
    return SearchResult(mapping=mapping, report=report, objective=run.weights, pareto=pareto,
                        evaluated=run.evaluated, considered=run.considered, elapsed_s=elapsed,
                        strategy=strategy, seed=seed, interrupted=interrupted,
                        offchip_bound_bytes=limit if limit is not None and math.isfinite(limit)
                        else None,
                        bound_note=note)
