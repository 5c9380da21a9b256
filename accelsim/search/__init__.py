"""Mapping search: the best mapping of an Einsum, a fused group or a cascade on a machine.

``search(target, hardware, objective, ...)`` (accelsim.search.dispatch) takes a
BoundEinsum (one Einsum: accelsim.search.single), a :class:`FusedGroup` (Einsums of a
cascade run as one fused kernel: the tiles of their shared loops and every member's
mapping are searched, accelsim.search.group) or a :class:`BoundCascade` (a whole cascade:
which Einsums to fuse, and each group's mapping, accelsim.search.partition); the last
returns a :class:`CascadeResult`, the others a :class:`SearchResult`.  The method of the
fusion search is told in accelsim.search.fusion; the targets, options and results are in
accelsim.search.types.
"""

from accelsim.search.bound import offchip_lower_bound, ski_slope
from accelsim.search.constraints import Constraints, load_constraints
from accelsim.search.dispatch import search
from accelsim.search.driver import OBJECTIVES
from accelsim.search.single import DEFAULT_BUDGET, onchip_capacity
from accelsim.search.space import build_space
from accelsim.search.strategies import STRATEGIES
from accelsim.search.types import (BoundCascade, CascadeResult, FusedGroup, GroupResult,
                                   Objective, ParetoPoint, Progress, SearchOptions,
                                   SearchResult)

__all__ = ["DEFAULT_BUDGET", "OBJECTIVES", "STRATEGIES", "BoundCascade", "CascadeResult",
           "Constraints", "FusedGroup", "GroupResult", "Objective", "ParetoPoint", "Progress",
           "SearchOptions", "SearchResult", "build_space", "load_constraints",
           "offchip_lower_bound", "onchip_capacity", "search", "ski_slope"]
