"""``search(target, hardware, objective, ...)``: one entry point for every search target.

It checks the arguments and hands the target to its search: a BoundEinsum to the
single-Einsum mapper (accelsim.search.single), a :class:`FusedGroup` to the group search
(accelsim.search.group), both giving a :class:`SearchResult`, and a :class:`BoundCascade`
to the partition search (accelsim.search.partition), giving a :class:`CascadeResult`.
"""

from __future__ import annotations

import os
from typing import Any, Union, overload

from accelsim.arch import Architecture, load_architecture
from accelsim.errors import SpecError
from accelsim.mapping import BoundEinsum
from accelsim.search.driver import objective_weights
from accelsim.search.group import search_fused_group
from accelsim.search.partition import search_partition
from accelsim.search.single import ConstraintsLike, search_einsum
from accelsim.search.strategies import get_strategy
from accelsim.search.types import (BoundCascade, CascadeResult, FusedGroup, Objective,
                                   SearchOptions, SearchResult)

Hardware = Union[Architecture, str, os.PathLike]
"""A machine, or the path of its hardware spec."""


@overload
def search(target: BoundEinsum | FusedGroup, hardware: Hardware, objective: Objective = ...,
           constraints: ConstraintsLike = ..., *, report_on: Architecture | None = ...,
           options: SearchOptions | None = ..., **knobs: Any) -> SearchResult: ...


@overload
def search(target: BoundCascade, hardware: Hardware, objective: Objective = ...,
           constraints: ConstraintsLike = ..., *, report_on: Architecture | None = ...,
           options: SearchOptions | None = ..., **knobs: Any) -> CascadeResult: ...


def search(target, hardware, objective="energy", constraints=None, *, report_on=None,
           options=None, **knobs):
    """Search the mappings of ``target`` on ``hardware`` for the best under ``objective``.

    ``constraints`` and ``report_on`` (the machine the winner's report is evaluated on,
    with the levels of ``hardware``) apply to a single Einsum only.  How the search runs
    is a :class:`SearchOptions`, given as ``options`` or field by field as keywords
    (``strategy``, ``budget``, ``budget_seconds``, ``seed``, ``progress``, ``callback``,
    ``bound``), the keywords replacing the fields of ``options``.  ``budget`` counts the
    mappings evaluated by a single-Einsum search and by each member search of a group or
    a cascade.
    """
    options = SearchOptions.merge(options, knobs)
    get_strategy(options.strategy)               # an unknown name fails before any work
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
    if isinstance(target, BoundCascade):
        return search_partition(target, arch, weights, options)
    if isinstance(target, FusedGroup):
        return search_fused_group(target, arch, weights, options)
    if isinstance(target, BoundEinsum):
        return search_einsum(target, arch, weights, constraints, report_on, options)
    raise SpecError(f"search takes a BoundEinsum, a FusedGroup or a BoundCascade, not "
                    f"{type(target).__name__}")
