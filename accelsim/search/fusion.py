"""Searching fused groups and whole cascades: which Einsums to fuse, and their tiles.

This module tells the method and gathers its public names; the parts live in
accelsim.search.tiling (the shared tiles and the group mapping), accelsim.search.estimate
(ranking tilings), accelsim.search.members (the members' single-Einsum searches),
accelsim.search.group (one group) and accelsim.search.partition (a whole cascade).

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
group), and a member that does MACs gets more tries (accelsim.search.members).  Tilings
are ranked by two estimates from the members' costs (:func:`estimate`) and the best few
assembled into one group mapping and evaluated exactly with
:func:`accelsim.model.evaluate_group`, which also checks that the tiles fit.  Member
searches are cached by their cut sizes, so groups that share a member and a tile reuse
them.

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

from accelsim.search.estimate import estimate, log_score, metrics_of, score
from accelsim.search.group import EXACT_TILINGS, search_fused_group, search_group
from accelsim.search.group_bound import GroupFloor, cascade_bound, group_bound
from accelsim.search.members import MEMBER_BUDGET, MemberSearch
from accelsim.search.partition import (MAX_GROUP, additive_cost, candidate, search_cascade,
                                       search_partition, unfused)
from accelsim.search.tiling import (MAX_TILE_STEP, MAX_TILINGS, TILES_PER_RANK, group_mapping,
                                    resident_tilings, tile_options, tilings)
from accelsim.search.types import BoundCascade, CascadeResult, FusedGroup, GroupResult

__all__ = ["EXACT_TILINGS", "MAX_GROUP", "MAX_TILE_STEP", "MAX_TILINGS", "MEMBER_BUDGET",
           "TILES_PER_RANK", "BoundCascade", "CascadeResult", "FusedGroup", "GroupFloor",
           "GroupResult", "MemberSearch", "additive_cost", "candidate", "cascade_bound",
           "estimate", "group_bound", "group_mapping", "log_score", "metrics_of",
           "resident_tilings", "score", "search_cascade", "search_fused_group",
           "search_group", "search_partition", "tile_options", "tilings", "unfused"]
