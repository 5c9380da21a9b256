"""The cheap capacity pre-check: tile footprints per level, before any access is counted.

A search prunes with it, and an evaluation fails early with the bytes needed and available.
"""

from __future__ import annotations

from accelsim.arch import Architecture
from accelsim.cost.footprint import projection_elements
from accelsim.cost.nest import LoopNest
from accelsim.cost.nest import Tensor as NestTensor
from accelsim.errors import CapacityError


def tile_elements(nest: LoopNest, level: int, tensor: NestTensor) -> int:
    """The largest tile of ``tensor`` at ``level``: what the loops owned by levels >= level
    span, clipped to the rank sizes (the footprint of accelsim.cost.footprint).  Cheap (no
    counting); an upper bound of what a counter finds when the first tile is partial."""
    extent = {rank: 1 for rank in nest.problem.ranks}
    for loop in nest.loops:
        if loop.level >= level:
            extent[loop.rank] *= loop.factor
    return projection_elements(tensor.dims, extent, nest.problem.ranks)


def precheck_capacity(nest: LoopNest, arch: Architecture, file: str | None = None) -> None:
    """Raise CapacityError, naming bytes needed and available, when the tiles a level keeps
    cannot fit one instance (checked before any access is counted)."""
    for index, level in enumerate(arch.levels):
        if index == 0 or level.capacity_bytes == float("inf"):
            continue
        kept = [t for t in nest.problem.tensors if t.name in nest.levels[index].keeps]
        sizes = {t.name: tile_elements(nest, index, t) * t.bytes_per_element for t in kept}
        need = sum(sizes.values())
        if need > level.capacity_bytes:
            detail = ", ".join(f"{name} {size:g} B" for name, size in sizes.items())
            where = f"{file}: " if file else ""
            raise CapacityError(f"{where}tiles at level {level.name!r} need {need:g} bytes "
                                f"({detail}) but one instance holds {level.capacity_bytes:g} bytes")
