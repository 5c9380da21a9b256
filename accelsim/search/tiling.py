"""The tiles a fused group's shared loops may take, and the group mapping they make.

A fused group (accelsim.search.types.FusedGroup) is mapped as shared loops at the backing
store over its *row ranks* (ranks every member keeps in its output), each member's own
loops below them (accelsim.mapping.group).  :func:`tilings` lists the tiles of those loops
to try (a few divisors of each rank, from 1 to the whole rank); with a block rank, a loop
over the blocks, one at a time, innermost (FlashAttention's schedule).
:func:`resident_tilings` lists the same tiles for FuseMax's schedule, whose loops over the
query rows and blocks sit in the level below the backing store.  :func:`group_mapping`
assembles a tiling and the members' mappings into one MappingSpec.
"""

from __future__ import annotations

import itertools
import math
from typing import Mapping

from accelsim.arch import Architecture
from accelsim.dtypes import ROLES
from accelsim.search.space import divisors
from accelsim.search.types import FusedGroup
from accelsim.spec.mapping import LevelMapping, MappingSpec, TemporalLoop

TILES_PER_RANK = 4
"""Tile sizes tried per row rank (1, the whole rank and divisors between) at least."""
MAX_TILE_STEP = 16
"""Largest ratio between neighbouring tile sizes tried: long ranks get more sizes (a rank of
1M tokens offers tiles of 4,096 rows, as one of 4K does)."""
MAX_TILINGS = 24
"""Most row-rank tilings tried per group."""


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


def shared_inputs(group: FusedGroup, arch: Architecture) -> list[str]:
    """Inputs of the group that two or more members read and that the level below the
    backing store may keep."""
    readers: dict[str, int] = {}
    for einsum in group.einsums():
        for t in dict.fromkeys(einsum.inputs):
            if t not in group.members:
                readers[t] = readers.get(t, 0) + 1
    level = arch.levels[1] if len(arch.levels) > 1 else None
    return [t for t, n in readers.items() if n > 1 and level is not None
            and level.may_keep(t, group.all_roles.get(t, "input"))]


def group_mapping(group: FusedGroup, arch: Architecture, tiles: Mapping[str, int],
                  members: Mapping[str, MappingSpec], resident: bool = False,
                  share: bool = False) -> MappingSpec:
    """Shared loops over the row ranks at the backing store, each member's own loops below.
    A resident tiling (:func:`resident_tilings`) puts the shared loops over the stream and
    block ranks at the level below, which keeps the group's inputs and outputs across them
    (accelsim.mapping.group: the level's working tile holds one iteration's intermediates).
    ``share`` (not resident): the level below the backing store keeps the group inputs that
    several members read (:func:`shared_inputs`), fetched once per shared iteration."""
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
    elif share and len(arch.levels) > 1 and shared_inputs(group, arch):
        shared.append(LevelMapping(level=arch.levels[1].name, keep=shared_inputs(group, arch)))
    own = {name: [lm for lm in found.levels if lm.level != top or lm.temporal or lm.spatial]
           for name, found in members.items()}
    roles = {t: r for t, r in group.all_roles.items()
             if r in ROLES}
    tile_text = ", ".join(f"{r}={t}" for r, t in tiles.items())
    where = f"; {', '.join(sorted(lower))} loops at {arch.levels[1].name}" if resident else ""
    return MappingSpec(kind="mapping", version=1, name="+".join(group.members),
                       description=f"fused: shared tiles {tile_text or 'none'}{where}",
                       group=list(group.members), shared=shared, einsums=own, roles=roles)

