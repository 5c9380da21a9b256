"""The search of one fused group: the tiles of its shared loops and its members' mappings.

The group mapspace is the tile of each shared rank (accelsim.search.tiling) times each
member's own mapping.  For every tiling each member is searched on its own
(accelsim.search.members: the single-Einsum mapper, with the rank sizes cut to the tile and
no loops at the backing store, so the whole tile is held on chip; a member with tensors the
shared loops do not index is first searched with the next level keeping them, so they stay
on chip across those loops).  Tilings are ranked by two estimates from the members' costs
(accelsim.search.estimate) and the best few assembled into one group mapping and evaluated
exactly with :func:`accelsim.model.evaluate_group`, which also checks that the tiles fit.
Member searches are cached by their cut sizes, so groups that share a member and a tile
reuse them.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Mapping

from accelsim.arch import Architecture
from accelsim.errors import CapacityError, MappingError, SpecError
from accelsim.mapping import einsum_problem
from accelsim.model import evaluate_group
from accelsim.search.estimate import estimate, score
from accelsim.search.group_bound import group_bound
from accelsim.search.members import MEMBER_BUDGET, MemberSearch
from accelsim.search.single import onchip_capacity
from accelsim.search.space import divisors
from accelsim.search.tiling import group_mapping, resident_tilings, tile_options, tilings
from accelsim.search.types import (FusedGroup, GroupResult, ParetoPoint, SearchOptions,
                                   SearchResult)

EXACT_TILINGS = 2
"""Tilings of a group evaluated exactly: the best by each of two estimates."""


def search_fused_group(group: FusedGroup, arch: Architecture, weights: Mapping[str, float],
                       options: SearchOptions = SearchOptions()) -> SearchResult:
    """The best mapping of ``group`` as a SearchResult: ``options.budget`` is per member
    search (MEMBER_BUDGET when None), the Pareto front is that of the group mappings
    evaluated exactly, and the bound is :func:`group_bound`."""
    per_member = options.budget or MEMBER_BUDGET
    capacity = onchip_capacity(arch)
    start = time.perf_counter()
    members = MemberSearch(arch, weights, per_member, options.seed, options.strategy)
    best = search_group(group, arch, weights, members)
    if best is None:
        raise MappingError(f"no fused mapping of {'+'.join(group.members)} on {arch.name} "
                           "fits: every tiling of its shared loops overflows the chip")
    reports = best.tried
    pareto = [ParetoPoint(r.energy_pj, r.latency_s, r.offchip_bytes, m) for r, m in reports
              if not any(o.energy_pj <= r.energy_pj and o.latency_s <= r.latency_s
                         and (o.energy_pj, o.latency_s) != (r.energy_pj, r.latency_s)
                         for o, _ in reports)]
    limit = group_bound(group, capacity) if options.bound else None
    return SearchResult(
        mapping=best.mapping, report=best.report, objective=dict(weights),
        pareto=tuple(sorted(pareto, key=lambda p: p.energy_pj)), evaluated=members.evaluated,
        considered=len(members.cache), elapsed_s=time.perf_counter() - start,
        strategy=options.strategy, seed=options.seed, interrupted=False,
        offchip_bound_bytes=limit,
        bound_note=(f"sum over members of the least off-chip bytes with {capacity:g} B on chip, "
                    "the group's intermediates free" if options.bound else ""))


def search_group(group: FusedGroup, arch: Architecture, weights: Mapping[str, float],
                 members: MemberSearch, exact: int = EXACT_TILINGS) -> GroupResult | None:
    """The best tiling of a fused group and its members' mappings (module docstring);
    None when no tiling fits on chip.

    Every tiling's members are searched; the tilings are ranked by two estimates from the
    members' tile costs (:func:`estimate`, with and without reuse), and the best ``exact``
    that fit by each are assembled and evaluated exactly, as is every resident tiling
    (:func:`resident_tilings`) whose members have mappings."""
    full = group.full_sizes
    outcome: dict[tuple, tuple | None] = {}     # tiling -> (report, mapping), None: no fit

    def exactly(tiles, found, resident=False):
        key = (tuple(tiles.items()), resident)
        if key not in outcome:
            outcome[key] = _evaluated(group, arch, tiles, found, resident, weights)
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
            order = sorted(ranked, key=lambda item: estimate(group, item[1], item[0], full,
                                                             arch, weights, reuse))
            fitted = 0
            for tiles, found in order:
                fitted += exactly(tiles, found) is not None
                if fitted >= exact:
                    break

        def fits(tiles) -> bool:
            found = _members_for(group, tiles, full, members)
            return found is not None and exactly(tiles, found) is not None

        fitting = [dict(key) for (key, on_buffer), value in outcome.items()
                   if value and not on_buffer]
        for rank in (ranked[0][0] if ranked else ()):
            if rank != group.block_rank and fitting:
                _largest_fitting(rank, fitting, full, fits)
    return _best(group, outcome, weights)


def _evaluated(group: FusedGroup, arch: Architecture, tiles, found, resident: bool,
               weights: Mapping[str, float]):
    """A tiling evaluated exactly, (report, mapping) or None where nothing fits: the better
    (by the objective) of its two forms, each member reading its own inputs, and the
    group's shared inputs kept below the backing store, read once per shared iteration
    (``share`` of :func:`group_mapping`)."""
    own = {n: r.mapping for n, (r, _, _) in found.items()}
    forms = [group_mapping(group, arch, tiles, own, resident, share)
             for share in ((False,) if resident else (False, True))]
    best = None
    for k, mapping in enumerate(forms):
        if mapping in forms[:k]:
            continue
        try:
            report = evaluate_group(group.cascade, arch, mapping, sizes=group.given)
        except (CapacityError, MappingError, SpecError):
            continue
        if best is None or score(report, weights) < score(best[0], weights):
            best = (report, mapping)
    return best


def _best(group: FusedGroup, outcome: Mapping[tuple, tuple | None],
          weights: Mapping[str, float]) -> GroupResult | None:
    """The best of the group mappings evaluated exactly, with every one of them as tried."""
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


def _largest_fitting(rank: str, fitting: list[dict], full, fits) -> None:
    """Try tiles of ``rank`` between the coarse options (:func:`tilings` steps by up to
    MAX_TILE_STEP): from the evaluated tiling that fits with the largest tile of it, the
    divisors below the next coarse option, by bisection (``fits`` evaluates a tiling), so
    the largest that fits is evaluated, with its neighbours on the way.  Capacity decides
    the best tile of a long rank (FuseMax at 64K rows: a tile of 32,768 query rows streams
    K and V twice, the coarse 4,096 sixteen times)."""
    base = max(fitting, key=lambda tiles: tiles[rank])
    above = next((c for c in tile_options(full[rank]) if c > base[rank]), 0)
    between = [d for d in divisors(full[rank]) if base[rank] < d < above]
    lo, hi = 0, len(between)
    while lo < hi:                                      # fitting shrinks as the tile grows
        mid = (lo + hi) // 2
        if fits(dict(base) | {rank: between[mid]}):
            lo = mid + 1
        else:
            hi = mid


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

