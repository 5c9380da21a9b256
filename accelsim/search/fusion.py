"""Searching fused groups and whole cascades: which Einsums to fuse, and their tiles.

A fused group (:class:`FusedGroup`) is mapped as shared loops at the backing store over
*row ranks* (ranks every member keeps in its output, e.g. batch, tokens and heads for an
attention chain), each member's own loops below them (accelsim.mapping.group).  The
intermediates produced and consumed inside the group then live at the level below the
backing store for one shared tile at a time and never travel off chip.

A group whose state is carried along key blocks (the 1-pass attention cascade) also shares
loops over the query rows and, innermost, over the blocks, one at a time: FlashAttention's
schedule, with K and V streamed once per tile of queries.

A resident schedule (:func:`resident_tilings`, FuseMax's) moves the loops over the query
rows and the blocks into the level below the backing store, which keeps the group's inputs
and outputs for a tile of the row ranks (a head's Q, K, V and output) across them: each
crosses the backing store once, where they fit.

The group mapspace is the tile of each shared rank (a few divisors of its size, from 1 to
the whole rank) times each member's own mapping.  For every tile choice each member is
searched on its own (the single-Einsum mapper, with the rank sizes cut to the tile and no
loops at the backing store, so the whole tile is held on chip; a member with tensors the
shared loops do not index is first searched with the next level keeping them, so they stay
on chip across those loops).  A member's mapping is chosen for its on-chip cost (the
backing store's bandwidth left unlimited: what the member moves off chip depends on the
group), and a member that does MACs gets more tries (:mod:`accelsim.search.members`).  Tilings are
ranked by two estimates from the members' costs and the best few assembled into one group
mapping and evaluated exactly with :func:`accelsim.model.evaluate_group`, which also checks
that the tiles fit.  Member searches
are cached by their cut sizes, so groups that share a member and a tile reuse them.

A cascade (:class:`BoundCascade`) is partitioned into groups by dynamic programming over
its Einsums in order: every run of consecutive Einsums that is connected (linked through
tensors one writes and another reads), shares a row rank and keeps at least one
intermediate inside is a candidate group; each Einsum alone is the unfused choice.  A
candidate whose lower bound (:class:`GroupFloor`) cannot beat the best partition so far is
skipped.  The best partition minimizes the objective summed over groups.  A product
objective (EDP, weights) is not a sum over groups; it is minimized as the weighted sum of
each metric relative to the unfused total, its first-order form around the unfused mapping.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable, Mapping

from accelsim.arch import Architecture
from accelsim.errors import CapacityError, MappingError, SpecError
from accelsim.ir import Cascade, Einsum
from accelsim.ir.sizes import is_derived
from accelsim.mapping import BoundEinsum, einsum_problem
from accelsim.model import Report, default_roles, evaluate_group
from accelsim.search.group_bound import GroupFloor
from accelsim.search.members import MEMBER_BUDGET, MemberSearch
from accelsim.search.space import divisors
from accelsim.spec.mapping import LevelMapping, MappingSpec, TemporalLoop

MAX_GROUP = 16
"""Most Einsums in one candidate group."""
TILES_PER_RANK = 4
"""Tile sizes tried per row rank (1, the whole rank and divisors between) at least."""
MAX_TILE_STEP = 16
"""Largest ratio between neighbouring tile sizes tried: long ranks get more sizes (a rank of
1M tokens offers tiles of 4,096 rows, as one of 4K does)."""
MAX_TILINGS = 24
"""Most row-rank tilings tried per group."""
EXACT_TILINGS = 2
"""Tilings of a group evaluated exactly: the best by each of two estimates."""


@dataclass(frozen=True)
class FusedGroup:
    """Einsums of a cascade (by output name, in cascade order) to run as one fused kernel."""

    cascade: Cascade
    members: tuple[str, ...]
    sizes: Mapping[str, int]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    def einsums(self) -> list[Einsum]:
        return list(self._einsums)

    @cached_property
    def _einsums(self) -> tuple[Einsum, ...]:
        return tuple(self.cascade.einsum(name) for name in self.members)

    @cached_property
    def given(self) -> dict[str, int]:
        """The sizes of the cascade's free ranks (derived ones follow from them)."""
        ranks = self.cascade.ranks
        return {k: int(v) for k, v in self.sizes.items()
                if k in ranks and not is_derived(ranks[k])}

    @cached_property
    def full_sizes(self) -> dict[str, int]:
        return self.cascade.sizes(**self.given)

    def bound(self, einsum: Einsum, sizes: Mapping[str, int] | None = None) -> BoundEinsum:
        return BoundEinsum(einsum, dict(sizes or self.full_sizes), self.all_dtypes,
                           self.all_roles)

    @cached_property
    def all_dtypes(self) -> dict[str, str]:
        return {t: x.dtype for t, x in self.cascade.tensors.items()} | dict(self.dtypes)

    @cached_property
    def all_roles(self) -> dict[str, str]:
        return default_roles(self.cascade) | dict(self.roles)

    def internal(self) -> tuple[str, ...]:
        """Tensors written and read inside the group and nowhere else: kept on chip."""
        return self._internal

    @cached_property
    def _internal(self) -> tuple[str, ...]:
        written = set(self.members)
        outside = {t for e in self.cascade.einsums if e.name not in written for t in e.inputs}
        return tuple(name for name in self.members
                     if name not in self.cascade.outputs and name not in outside
                     and any(name in e.inputs for e in self.einsums()))

    def held(self, einsum: Einsum) -> frozenset[str]:
        """Tensors of a member the group keeps on chip: the group's intermediates and what
        the member reads that another member writes."""
        written = set(self.members) - {einsum.name}
        return frozenset(set(self.internal()) | (set(einsum.inputs) & written))

    def row_ranks(self) -> tuple[str, ...]:
        """Ranks every member has in its output, in the last member's output order."""
        return self._row_ranks

    @cached_property
    def _row_ranks(self) -> tuple[str, ...]:
        out_ranks = [set(_output_ranks(e)) for e in self.einsums()]
        common = set.intersection(*out_ranks) if out_ranks else set()
        return tuple(r for r in _output_ranks(self.einsums()[-1]) if r in common)

    @cached_property
    def block_rank(self) -> str | None:
        """The rank an iterative member carries its state along (the key blocks m1 of a
        1-pass attention cascade), when it is not a row rank: a shared loop over it, inside
        the row loops, streams the blocks through the group one at a time."""
        for einsum in self.einsums():
            if einsum.iterate is None:
                continue
            for rank in einsum.ranks:
                if rank.lower() == einsum.iterate.lower() and rank not in self.row_ranks():
                    return rank
        return None

    @cached_property
    def stream_ranks(self) -> tuple[str, ...]:
        """With a block rank: the other ranks of the carried state's output that the group
        writes out (the query rows p of attention), though not every member has them.  A
        shared loop over them sits outside the block loop; members without them (the
        blocked copies of K and V) run again for each of their tiles, as FlashAttention
        streams K and V once per block of queries."""
        if self.block_rank is None:
            return ()
        carried = [e for e in self.einsums() if e.iterate is not None]
        last = _output_ranks(self.einsums()[-1])
        return tuple(r for r in last if r not in self.row_ranks() and r != self.block_rank
                     and all(r in _output_ranks(e) for e in carried))


@dataclass(frozen=True)
class BoundCascade:
    """A cascade with its rank sizes, element types and tensor roles fixed."""

    cascade: Cascade
    sizes: Mapping[str, int]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    def group(self, members) -> FusedGroup:
        return FusedGroup(self.cascade, tuple(members), self.sizes, self.dtypes, self.roles)


@dataclass(frozen=True)
class GroupResult:
    """The best mapping found for one fused group (or one Einsum, when unfused)."""

    members: tuple[str, ...]
    mapping: MappingSpec
    report: Report
    on_chip: tuple[str, ...]
    """Intermediates that never leave the chip."""
    tiles: dict[str, int]
    """Row rank -> the tile of the shared loops (empty when unfused)."""
    tried: tuple[tuple[Report, MappingSpec], ...] = ()
    """Every group mapping evaluated exactly (for the Pareto front)."""


@dataclass(frozen=True)
class CascadeResult:
    """The best partition of a cascade into fused groups, with each group's mapping."""

    groups: tuple[GroupResult, ...]
    energy_pj: float
    latency_s: float
    offchip_bytes: float
    unfused_energy_pj: float
    unfused_latency_s: float
    unfused_offchip_bytes: float
    evaluated: int
    candidates: int
    """Candidate groups evaluated (besides the Einsums alone)."""
    elapsed_s: float
    interrupted: bool
    offchip_bound_bytes: float | None = None
    """Least off-chip bytes of the cascade under any fusion (:func:`cascade_bound`)."""

    @property
    def found_over_bound(self) -> float | None:
        if not self.offchip_bound_bytes:
            return None
        return self.offchip_bytes / self.offchip_bound_bytes

    @property
    def on_chip(self) -> tuple[str, ...]:
        return tuple(t for g in self.groups for t in g.on_chip)


def _output_ranks(einsum: Einsum) -> list[str]:
    out = einsum.accesses()[0]
    ranks = []
    for proj in out.dims:
        for _, r in proj.terms:
            if r not in ranks:
                ranks.append(r)
    return ranks


def tile_options(size: int, count: int = TILES_PER_RANK) -> list[int]:
    """``count`` tiles of a rank of ``size`` at most, or more where needed to keep
    neighbours at most MAX_TILE_STEP apart: 1, ``size`` and the divisors nearest to evenly
    spaced points between them on a log scale (fewer where divisors coincide)."""
    if size <= 1:
        return [1]
    count = max(count, math.ceil(math.log(size) / math.log(MAX_TILE_STEP) - 1e-9) + 1)
    found = {1, size}
    divs = divisors(size)
    for k in range(1, count - 1):
        target = math.log(size) * k / (count - 1)
        found.add(min(divs, key=lambda d: abs(math.log(d) - target)))
    return sorted(found)


def tilings(group: FusedGroup) -> list[dict[str, int]]:
    """Row-rank tilings to try, at most MAX_TILINGS (evenly spread over the full product);
    with a block rank (:attr:`FusedGroup.block_rank`), tilings of the row and stream ranks,
    each with a loop over the blocks, one at a time, innermost, at the backing store (so K
    and V stream once per tile of query rows, as in FlashAttention)."""
    sizes = group.full_sizes
    block = group.block_rank
    rows = group.row_ranks() + group.stream_ranks
    options = [tile_options(sizes[r]) for r in rows]
    combos = list(itertools.product(*options))
    if len(combos) > MAX_TILINGS:
        step = len(combos) / MAX_TILINGS
        combos = [combos[int(k * step)] for k in range(MAX_TILINGS)] + [combos[-1]]
    found = [dict(zip(rows, c)) for c in dict.fromkeys(combos)]
    if block is not None and sizes[block] > 1:
        return [tiles | {block: 1} for tiles in found]
    return found


def resident_tilings(group: FusedGroup, arch: Architecture) -> list[dict[str, int]]:
    """With a block rank and a level below the backing store: tilings of the row ranks
    (loops at the backing store) for a schedule whose query-row and block loops sit at that
    level (the global buffer), FuseMax's: the buffer then keeps the row tile's K and V, read
    from the backing store once, while the tiles of query rows and key blocks stream
    through the arrays.  The stream ranks' tiles are those of :func:`tilings`."""
    if group.block_rank is None or len(arch.levels) < 3:
        return []
    return tilings(group)


def metrics_of(report: Report) -> dict[str, float]:
    """The metrics an objective weighs: energy (pJ), latency (s), off-chip traffic (B)."""
    return {"energy": report.energy_pj, "latency": report.latency_s,
            "traffic": report.offchip_bytes}


def score(report: Report, weights: Mapping[str, float]) -> float:
    """log of energy^a x latency^b x traffic^c (lower is better)."""
    return log_score(metrics_of(report), weights)


def log_score(metrics: Mapping[str, float], weights: Mapping[str, float]) -> float:
    return sum(w * math.log(max(metrics[k], 1e-30)) for k, w in weights.items() if w)


def group_mapping(group: FusedGroup, arch: Architecture, tiles: Mapping[str, int],
                  members: Mapping[str, MappingSpec], resident: bool = False) -> MappingSpec:
    """Shared loops over the row ranks at the backing store, each member's own loops below.
    A resident tiling (:func:`resident_tilings`) puts the shared loops over the stream and
    block ranks at the level below, which keeps the group's inputs and outputs across them
    (accelsim.mapping.group: the level's working tile holds one iteration's intermediates)."""
    sizes = group.full_sizes
    top = arch.levels[0].name
    loops = {r: TemporalLoop(rank=r, factor=math.ceil(sizes[r] / t))
             for r, t in tiles.items() if sizes[r] > t}
    lower = set(group.stream_ranks) | {group.block_rank} if resident else set()
    shared = [LevelMapping(level=top, temporal=[x for r, x in loops.items() if r not in lower])]
    if resident:
        buffer = arch.levels[1]
        touched = dict.fromkeys(t for e in group.einsums() for t in (*e.inputs, e.name))
        outside = [t for t in touched if t not in group.members or t in group.cascade.outputs]
        keep = [t for t in outside if buffer.may_keep(t, group.all_roles.get(t, "input"))]
        shared.append(LevelMapping(level=buffer.name, keep=keep,
                                   temporal=[x for r, x in loops.items() if r in lower]))
    own = {name: [lm for lm in found.levels if lm.level != top or lm.temporal or lm.spatial]
           for name, found in members.items()}
    roles = {t: r for t, r in group.all_roles.items()
             if r in ("input", "weight", "output", "intermediate")}
    tile_text = ", ".join(f"{r}={t}" for r, t in tiles.items())
    where = f"; {', '.join(sorted(lower))} loops at {arch.levels[1].name}" if resident else ""
    return MappingSpec(kind="mapping", version=1, name="+".join(group.members),
                       description=f"fused: shared tiles {tile_text or 'none'}{where}",
                       group=list(group.members), shared=shared, einsums=own, roles=roles)


def search_group(group: FusedGroup, arch: Architecture, weights: Mapping[str, float],
                 members: MemberSearch, exact: int = EXACT_TILINGS) -> GroupResult | None:
    """The best tiling of a fused group and its members' mappings (module docstring);
    None when no tiling fits on chip.

    Every tiling's members are searched; the tilings are ranked by two estimates from the
    members' tile costs (:func:`_estimate`, with and without reuse), and the best ``exact``
    that fit by each are assembled and evaluated exactly, as is every resident tiling
    (:func:`resident_tilings`) whose members have mappings."""
    full = group.full_sizes
    outcome: dict[tuple, tuple | None] = {}     # tiling -> (report, mapping), None: no fit

    def exactly(tiles, found, resident=False):
        key = (tuple(tiles.items()), resident)
        if key not in outcome:
            mapping = group_mapping(group, arch, tiles,
                                    {n: r.mapping for n, (r, _, _) in found.items()}, resident)
            try:
                outcome[key] = (evaluate_group(group.cascade, arch, mapping,
                                               sizes=group.given), mapping)
            except (CapacityError, MappingError, SpecError):
                outcome[key] = None
        return outcome[key]

    for options, resident in ((tilings(group), False), (resident_tilings(group, arch), True)):
        ranked = []
        for tiles in options:
            found = _members_for(group, tiles, full, members, resident)
            if found is not None:
                ranked.append((tiles, found))
        if resident:             # the estimates assume loops at the backing store: all, exactly
            for tiles, found in ranked:
                exactly(tiles, found, resident=True)
            continue
        # the best few that fit by each estimate (neither is exact), evaluated exactly
        for reuse in (False, True):
            order = sorted(ranked, key=lambda item: _estimate(group, item[1], item[0], full,
                                                              arch, weights, reuse))
            fitted = 0
            for tiles, found in order:
                fitted += exactly(tiles, found) is not None
                if fitted >= exact:
                    break
    best: GroupResult | None = None
    best_score = math.inf
    tried = []
    for (tiles, _), result in outcome.items():
        if result is None:
            continue
        report, mapping = result
        tried.append((report, mapping))
        s = score(report, weights)
        if s < best_score:
            best_score, best = s, GroupResult(group.members, mapping, report,
                                              group.internal(), dict(tiles))
    return None if best is None else replace(best, tried=tuple(tried))


def _members_for(group: FusedGroup, tiles, full, members: MemberSearch,
                 resident: bool = False):
    """Each member's best mapping on its tile: {name: (result, tensor -> its ranks, held)},
    or None when a member has no mapping.  Under a resident tiling nothing needs holding:
    the buffer keeps what the shared loops do not index."""
    cut = dict(full) | dict(tiles)
    found = {}
    looping = {r for r, t in tiles.items() if full[r] > t}
    for einsum in group.einsums():
        bound = group.bound(einsum, cut)
        dims = {x.name: frozenset(r for p in x.dims for r in p.ranks)
                for x in einsum_problem(bound).tensors}
        reused = not resident and bool(looping) and any(not looping <= ranks
                                                         for ranks in dims.values())
        held = reused and members(bound, True, hold=True)
        result = held or members(bound, True)
        if result is None:
            return None
        found[einsum.name] = (result, dims, bool(held))
    return found


def _estimate(group: FusedGroup, found, tiles, full, arch: Architecture, weights,
              reuse: bool = True) -> float:
    """Weighted log-cost of a tiling from its members' tile reports, for ranking tilings.

    Without ``reuse``, each member's tile cost times the shared iterations (it overrates
    small tiles' off-chip traffic).  With it, the same except off-chip traffic: a tensor
    that stays on chip in the group (an intermediate, or one another member writes) costs
    none, and one a held member keeps across the shared loops that do not index it is
    fetched once per iteration of those that do; a member bound by the backing store has its
    time scaled by the same ratio, and its backing-store energy with it (it underrates a
    member whose compute the smaller tile slows)."""
    factors = {r: math.ceil(full[r] / t) for r, t in tiles.items()}
    order = list(tiles)
    launch, top = arch.launch_overhead_s, arch.levels[0].name
    internal = set(group.internal())
    on_chip = internal | set(group.members)
    energy = latency = traffic = 0.0
    for name, (result, dims, held) in found.items():
        report = result.report
        # a member sits inside the shared loops down to the innermost over a rank it has
        own = set().union(*dims.values())
        depth = max((i for i, r in enumerate(order) if r in own), default=-1)
        inside = {r: factors[r] for r in order[:depth + 1]}
        repeats = math.prod(inside.values())
        raw = moved = 0.0
        for row in (r for r in report.tensors if r.level == top):
            raw += row.bytes * repeats
            if not reuse:
                continue
            written_out = row.tensor == name and name not in internal
            if row.tensor in on_chip and not written_out:
                continue
            times = (math.prod(f for r, f in inside.items() if r in dims.get(row.tensor, ()))
                     if held else repeats)
            moved += row.bytes * times
        if not reuse:
            moved = raw
        ratio = moved / raw if raw else 1.0
        scale = ratio if report.bottleneck == top else 1.0
        latency += (report.latency_s - launch) * repeats * scale
        offchip_pj = report.energy_breakdown.get(top, 0.0) * repeats
        # energy drawn per cycle (leakage, a chip's run power) shrinks with the time
        timed_pj = sum(report.energy_breakdown.get(k, 0.0) for k in ("leakage", "run power"))
        energy += (report.energy_pj * repeats - offchip_pj * (1.0 - ratio)
                   - timed_pj * repeats * (1.0 - scale))
        traffic += moved
    return log_score({"energy": energy, "latency": latency + launch, "traffic": traffic},
                     weights)


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


def search_cascade(target: BoundCascade, arch: Architecture, weights: Mapping[str, float],
                   search_fn: Callable, budget: int = MEMBER_BUDGET, seed: int = 0,
                   strategy: str = "anneal",
                   fuse: bool = True, max_group: int = MAX_GROUP,
                   callback: Callable[[int, int], None] | None = None) -> CascadeResult:
    """The best partition of a cascade into fused groups (module docstring).

    ``callback(done, total)`` is called after each Einsum's candidates; KeyboardInterrupt
    ends the search with the best partition of the Einsums done so far plus the rest
    unfused.
    """
    start = time.perf_counter()
    members = MemberSearch(arch, search_fn, weights, budget, seed, strategy)
    einsums = list(target.cascade.einsums)
    whole = target.group(e.name for e in einsums)
    alone = [unfused(whole.bound(e), members) for e in einsums]
    totals = {"energy": sum(g.report.energy_pj for g in alone),
              "latency": sum(g.report.latency_s for g in alone),
              "traffic": sum(g.report.offchip_bytes for g in alone)}
    cost = additive_cost(weights, totals)
    floor = GroupFloor(arch)
    n = len(einsums)
    best = [0.0] * (n + 1)
    choice: list[tuple[int, GroupResult]] = [(0, alone[0])] * (n + 1)
    tried, interrupted, done = 0, False, 0
    try:
        for i in range(1, n + 1):
            best[i] = best[i - 1] + cost(metrics_of(alone[i - 1].report))
            choice[i] = (i - 1, alone[i - 1])
            for j in range(max(0, i - max_group), i - 1) if fuse else ():
                group = target.group(e.name for e in einsums[j:i])
                if not candidate(group) or best[j] + cost(floor(group)) >= best[i]:
                    continue
                tried += 1
                found = search_group(group, arch, weights, members)
                if found is not None and best[j] + cost(metrics_of(found.report)) < best[i]:
                    best[i], choice[i] = best[j] + cost(metrics_of(found.report)), (j, found)
            done = i
            if callback:
                callback(i, n)
    except KeyboardInterrupt:
        interrupted = True
        for i in range(done + 1, n + 1):
            best[i] = best[i - 1] + cost(metrics_of(alone[i - 1].report))
            choice[i] = (i - 1, alone[i - 1])
    groups = []
    i = n
    while i > 0:
        j, found = choice[i]
        groups.append(found)
        i = j
    groups.reverse()
    return CascadeResult(
        groups=tuple(groups), energy_pj=sum(g.report.energy_pj for g in groups),
        latency_s=sum(g.report.latency_s for g in groups),
        offchip_bytes=sum(g.report.offchip_bytes for g in groups),
        unfused_energy_pj=totals["energy"], unfused_latency_s=totals["latency"],
        unfused_offchip_bytes=totals["traffic"], evaluated=members.evaluated, candidates=tried,
        elapsed_s=time.perf_counter() - start, interrupted=interrupted)

