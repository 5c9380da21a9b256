"""Single-Einsum searches of a fused group's members on their cut (tile) sizes, cached.

A member's mapping is chosen for its on-chip cost: the search ranks mappings on the machine
with the backing store's bandwidth unlimited (what the member moves off chip depends on the
group: its inputs may be another member's output, held on chip) and reports the winner on
the real machine; the group's exact evaluation then counts the real traffic.
"""

from __future__ import annotations

import math
from dataclasses import replace

from accelsim.arch import Architecture
from accelsim.errors import CapacityError, MappingError
from accelsim.mapping import BoundEinsum, einsum_problem
from accelsim.search.constraints import Constraints, LevelConstraint
from accelsim.search.group_bound import footprint
from accelsim.search.single import search_einsum
from accelsim.search.types import SearchOptions

MEMBER_BUDGET = 200
"""Mappings evaluated per member search."""
MATRIX_BUDGET = 5
"""Times more for a member that does MACs on a machine with a large spatial array (at least
LARGE_ARRAY PEs under one level): its mapping sets the group's time, and filling the array
takes more tries (200 leave FuseMax's 256x256 array half idle on a block of scores)."""
LARGE_ARRAY = 1024


class MemberSearch:
    """Single-Einsum searches of group members on cut sizes, cached."""

    def __init__(self, arch: Architecture, objective, budget: int, seed: int,
                 strategy: str = "anneal"):
        self.arch, self.objective = arch, objective
        self.budget, self.seed, self.strategy = budget, seed, strategy
        self.cache: dict[tuple, object] = {}
        self.evaluated = 0
        self.matrix = MATRIX_BUDGET if max(lv.fanout for lv in arch.levels) >= LARGE_ARRAY else 1
        top = arch.levels[0]
        self.on_chip = replace(arch, levels=(replace(
            top, read_bytes_per_cycle=math.inf, write_bytes_per_cycle=math.inf),)
            + arch.levels[1:])
        """The machine with an unlimited backing-store bandwidth: a fused member's mapping is
        chosen for its on-chip cost, since what it moves off chip depends on the group (its
        inputs may be another member's output, held on chip); the exact group evaluation
        then counts the real traffic."""

    def __call__(self, bound: BoundEinsum, on_chip_only: bool, hold: bool = False):
        """The best mapping of ``bound`` (None if none fits).  ``on_chip_only``: no loops
        at the backing store (a fused member's whole tile on chip).  ``hold``: the level
        below the backing store keeps every tensor it may, so what the shared loops do
        not index stays there across their iterations (K and V under a loop over query
        rows) instead of streaming from the backing store again."""
        key = (bound.einsum.name, tuple(sorted(bound.ranks.items())), on_chip_only, hold)
        if key not in self.cache:
            levels = []
            if on_chip_only:
                levels.append(LevelConstraint(level=self.arch.levels[0].name,
                                              factors={r: 1 for r in bound.ranks}))
            if hold:
                if len(self.arch.levels) < 2:
                    return None
                branch = self.arch.levels[1]
                tensors = [t for t in einsum_problem(bound).tensors
                           if branch.may_keep(t.name, bound.roles.get(t.name, "input"))]
                need = sum(footprint(t.dims, bound.ranks) * t.bytes_per_element
                           for t in tensors)
                if need > branch.capacity_bytes:         # cannot hold them all: no search
                    self.cache[key] = None
                    return None
                levels.append(LevelConstraint(level=branch.name, keep=[t.name for t in tensors]))
            try:
                budget = self.budget * (self.matrix if bound.einsum.op_counts(bound.sizes).mac
                                        else 1)
                options = SearchOptions(strategy=self.strategy, budget=budget, seed=self.seed,
                                        progress=False, bound=False)
                found = search_einsum(bound, self.on_chip if on_chip_only else self.arch,
                                      self.objective, Constraints(levels=levels),
                                      report_on=self.arch, options=options)
                self.evaluated += found.evaluated
            except (MappingError, CapacityError):
                found = None
            self.cache[key] = found
        return self.cache[key]
