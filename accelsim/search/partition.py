"""The partition of a cascade into fused groups, by dynamic programming.

A cascade (accelsim.search.types.BoundCascade) is partitioned over its Einsums in order:
every run of consecutive Einsums that is connected (linked through tensors one writes and
another reads), shares a row rank and keeps at least one intermediate inside is a
candidate group (:func:`candidate`), searched by accelsim.search.group; each Einsum alone
is the unfused choice.  A candidate whose lower bound
(accelsim.search.group_bound.GroupFloor) cannot beat the best partition so far is
skipped.  The best partition minimizes the objective summed over groups.  A product
objective (EDP, weights) is not a sum over groups; it is minimized as the weighted sum of
each metric relative to the unfused total, its first-order form around the unfused mapping
(:func:`additive_cost`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Mapping

from accelsim.arch import Architecture
from accelsim.errors import MappingError
from accelsim.mapping import BoundEinsum
from accelsim.search.estimate import metrics_of
from accelsim.search.group import search_group
from accelsim.search.group_bound import GroupFloor, cascade_bound
from accelsim.search.members import MEMBER_BUDGET, MemberSearch
from accelsim.search.single import onchip_capacity
from accelsim.search.types import (BoundCascade, CascadeResult, FusedGroup, GroupResult,
                                   SearchOptions)

MAX_GROUP = 16
"""Most Einsums in one candidate group."""


def search_partition(target: BoundCascade, arch: Architecture, weights: Mapping[str, float],
                     options: SearchOptions = SearchOptions()) -> CascadeResult:
    """:func:`search_cascade` under a progress bar, with the cascade's off-chip bound
    (accelsim.search.group_bound.cascade_bound) when ``options.bound``; ``options.budget``
    is per member search (MEMBER_BUDGET when None)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("fusion search"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), disable=not options.progress, transient=True) as bar:
        task = bar.add_task("fusion", total=len(target.cascade.einsums))
        found = search_cascade(target, arch, weights, options.budget or MEMBER_BUDGET,
                               options.seed, options.strategy,
                               callback=lambda done, total: bar.update(task, completed=done))
    if options.bound:
        found = replace(found, offchip_bound_bytes=cascade_bound(target, onchip_capacity(arch)))
    return found


def search_cascade(target: BoundCascade, arch: Architecture, weights: Mapping[str, float],
                   budget: int = MEMBER_BUDGET, seed: int = 0, strategy: str = "anneal",
                   max_group: int = MAX_GROUP,
                   callback: Callable[[int, int], None] | None = None) -> CascadeResult:
    """The best partition of a cascade into fused groups (module docstring), with groups of
    at most ``max_group`` Einsums (1: every Einsum alone).  ``budget``, ``seed`` and
    ``strategy`` are those of each member search (accelsim.search.members).

    ``callback(done, total)`` is called after each Einsum's candidates; KeyboardInterrupt
    ends the search with the best partition of the Einsums done so far plus the rest
    unfused.
    """
    start = time.perf_counter()
    members = MemberSearch(arch, weights, budget, seed, strategy)
    einsums = list(target.cascade.einsums)
    whole = target.group(e.name for e in einsums)
    alone = [unfused(whole.bound(e), members) for e in einsums]
    totals = {"energy": sum(g.report.energy_pj for g in alone),
              "latency": sum(g.report.latency_s for g in alone),
              "traffic": sum(g.report.offchip_bytes for g in alone)}
    table = _Table(alone, additive_cost(weights, totals))
    floor = GroupFloor(arch)
    n = len(einsums)
    tried, interrupted, done = 0, False, 0
    try:
        for i in range(1, n + 1):
            table.alone_at(i)
            for j in range(max(0, i - max_group), i - 1):
                if any(e.name in target.kernel_ends for e in einsums[j:i - 1]):
                    continue
                group = target.group(e.name for e in einsums[j:i])
                if not candidate(group) or table.beyond(i, j, floor(group)):
                    continue
                tried += 1
                found = search_group(group, arch, weights, members)
                if found is not None:
                    table.offer(i, j, found)
            done = i
            if callback:
                callback(i, n)
    except KeyboardInterrupt:
        interrupted = True
        for i in range(done + 1, n + 1):
            table.alone_at(i)
    groups = table.groups()
    return CascadeResult(
        groups=groups, energy_pj=sum(g.report.energy_pj for g in groups),
        latency_s=sum(g.report.latency_s for g in groups),
        offchip_bytes=sum(g.report.offchip_bytes for g in groups),
        unfused_energy_pj=totals["energy"], unfused_latency_s=totals["latency"],
        unfused_offchip_bytes=totals["traffic"], evaluated=members.evaluated, candidates=tried,
        elapsed_s=time.perf_counter() - start, interrupted=interrupted)


class _Table:
    """The dynamic program's table: ``best[i]``, the least cost of the first i Einsums, and
    ``choice[i] = (j, the group of Einsums j..i-1 that ends that partition)``."""

    def __init__(self, alone: list[GroupResult], cost: Callable[[Mapping[str, float]], float]):
        self.alone, self.cost = alone, cost
        self.best = [0.0] * (len(alone) + 1)
        self.choice: list[tuple[int, GroupResult]] = [(0, alone[0])] * (len(alone) + 1)

    def alone_at(self, i: int) -> None:
        """Einsum i-1 alone after the best partition of those before it."""
        self.best[i] = self.best[i - 1] + self.cost(metrics_of(self.alone[i - 1].report))
        self.choice[i] = (i - 1, self.alone[i - 1])

    def beyond(self, i: int, j: int, floor: Mapping[str, float]) -> bool:
        """Whether a group of Einsums j..i-1 whose metrics are at least ``floor`` cannot
        end a better partition of the first i Einsums."""
        return self.best[j] + self.cost(floor) >= self.best[i]

    def offer(self, i: int, j: int, found: GroupResult) -> None:
        """Take the group of Einsums j..i-1 when it ends a better partition."""
        if self.best[j] + self.cost(metrics_of(found.report)) < self.best[i]:
            self.best[i], self.choice[i] = (self.best[j] + self.cost(metrics_of(found.report)),
                                            (j, found))

    def groups(self) -> tuple[GroupResult, ...]:
        """The groups of the best partition of all the Einsums, in order."""
        groups = []
        i = len(self.alone)
        while i > 0:
            j, found = self.choice[i]
            groups.append(found)
            i = j
        return tuple(reversed(groups))


def candidate(group: FusedGroup) -> bool:
    """Connected (members linked through tensors one writes and another reads), with a
    row rank to share and an intermediate to keep on chip."""
    einsums = group.einsums()
    index = {e.name: i for i, e in enumerate(einsums)}
    parent = list(range(len(einsums)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, einsum in enumerate(einsums):
        for tensor in einsum.inputs:
            if tensor in index:
                parent[root(index[tensor])] = root(i)
    connected = len({root(i) for i in range(len(einsums))}) == 1
    return connected and bool(group.row_ranks()) and bool(group.internal())


def unfused(bound: BoundEinsum, members: MemberSearch) -> GroupResult:
    """One Einsum as its own kernel."""
    found = members(bound, on_chip_only=False)
    if found is None:
        raise MappingError(f"no valid mapping of {bound.einsum.name} on {members.arch.name}")
    return GroupResult((bound.einsum.name,), found.mapping, found.report, (), {})


def additive_cost(weights: Mapping[str, float], totals: Mapping[str, float]):
    """The per-group cost the partition sums: each weighted metric relative to ``totals``
    (the unfused cascade's), so a single-metric objective is that metric's sum."""
    def cost(metrics: Mapping[str, float]) -> float:
        return sum(w * metrics[k] / (totals[k] or 1.0) for k, w in weights.items() if w)
    return cost
