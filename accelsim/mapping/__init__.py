"""Bind an Einsum, a hardware description and a mapping into a :class:`LoopNest`.

The bridge between the IR (what is computed), the architecture (where data can live) and the
mapping spec (the loop nest the user or a mapper chose).  Every problem a user can cause is
a :class:`~accelsim.errors.SpecError` that names the mapping file and the field, e.g.
``mappings/x.yaml: levels[3].spatial[0].factor: 64 instances along x, O_acc has 32``.

Projections are translated for the loop analysis: offsets are dropped (they shift a tile,
not its size); a blocked index ``c*m1 + m0`` whose inner rank never reaches ``c`` is one
index split in two, so it becomes two dimensions; guards (``where``) are not modelled:
guarded-out points are counted as if they moved data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping as TMapping

from accelsim.arch import Architecture
from accelsim.cost.nest import ActionEnergy, Compute, Level, Loop, LoopNest, Problem, Projection
from accelsim.cost.nest import Tensor as NestTensor
from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.errors import CapacityError, MappingError, SpecError
from accelsim.ir import Einsum
from accelsim.spec.mapping import LevelMapping, MappingSpec


@dataclass(frozen=True)
class BoundEinsum:
    """An Einsum with its rank sizes, element types and tensor roles fixed."""

    einsum: Einsum
    sizes: TMapping[str, int]
    dtypes: TMapping[str, str]
    """Tensor name -> element type."""
    roles: TMapping[str, str]
    """Tensor name -> input | weight | output | intermediate."""

    @property
    def ranks(self) -> dict[str, int]:
        return self.einsum.space(self.sizes)

    def bytes_per_element(self, tensor: str) -> float:
        return BYTES_PER_ELEMENT[self.dtypes.get(tensor, "fp32")]


def einsum_problem(bound: BoundEinsum) -> Problem:
    """The loop-analysis problem of an Einsum: its ranks and each tensor's projections."""
    ranks = bound.ranks
    tensors = []
    for access in bound.einsum.accesses(bound.sizes):
        dims: list[Projection] = []
        for proj in access.dims:
            dims.extend(_split_blocked(proj, ranks))
        read_write = access.mode != "read"
        tensors.append(NestTensor(access.tensor, tuple(dims), read_write=read_write,
                                  bytes_per_element=bound.bytes_per_element(access.tensor)))
    merged: dict[str, NestTensor] = {}
    for tensor in tensors:       # a tensor both read and written (iterations) is one read-write
        old = merged.get(tensor.name)
        merged[tensor.name] = tensor if old is None or tensor.read_write else old
    return Problem(ranks, tuple(merged.values()))


def _split_blocked(proj, ranks: dict[str, int]) -> list[Projection]:
    terms = [(int(c), r) for c, r in proj.terms if int(c) != 0]
    if len(terms) == 2:
        (c0, r0), (c1, r1) = sorted(terms, key=lambda t: -t[0])
        if c1 == 1 and c0 >= ranks[r1] and c0 > 1:
            return [Projection(((1, r0),)), Projection(((1, r1),))]
    return [Projection(tuple(terms))]


def _resolve_rank(name: str, ranks: dict[str, int], where: str, file: str | None) -> str:
    for rank in ranks:
        if rank == name or rank.lower() == name.lower():
            return rank
    raise SpecError(f"unknown rank {name!r}; the Einsum's ranks are {', '.join(ranks)}",
                    file=file, path=where)


def _level_loops(levels: list[LevelMapping], arch: Architecture, ranks: dict[str, int],
                 file: str | None, prefix: str) -> list[Loop]:
    loops: list[Loop] = []
    last = -1
    for i, lm in enumerate(levels):
        where = f"{prefix}[{i}]"
        try:
            index = arch.level_index(lm.level)
        except SpecError as exc:
            raise SpecError(exc.message, file=file, path=f"{where}.level") from None
        if index < last:
            raise SpecError(f"level {lm.level!r} is listed after an inner level; list levels "
                            "outer to inner", file=file, path=f"{where}.level")
        last = index
        for j, tl in enumerate(lm.temporal):
            rank = _resolve_rank(tl.rank, ranks, f"{where}.temporal[{j}].rank", file)
            loops.append(Loop(rank, tl.factor, index))
        for j, sl in enumerate(lm.spatial):
            rank = _resolve_rank(sl.rank, ranks, f"{where}.spatial[{j}].rank", file)
            loops.append(Loop(rank, sl.factor, index, spatial=True, axis=sl.axis))
    return loops


def _kept(problem: Problem, arch: Architecture, roles: TMapping[str, str],
          keep_lists: dict[int, tuple[str, list[str]]], file: str | None,
          internal: frozenset[str] = frozenset(), branch: int = 0,
          on_chip: frozenset[str] = frozenset()) -> list[frozenset[str]]:
    """Tensors each level keeps: what the hardware allows there, narrowed by the mapping's
    keep lists (level index -> (field path, names)).  The outermost level keeps every tensor
    except ``internal`` ones (a fused group's intermediates), which live at ``branch`` and
    below unless a keep list names them higher up.  ``on_chip`` tensors (read here, written
    by another member of the group in the same iteration) are read at ``branch`` whatever
    the keep lists say."""
    names = problem.tensor_names
    keeps = []
    for index, level in enumerate(arch.levels):
        allowed = {t for t in names if level.may_keep(t, roles.get(t, "input"))}
        if index == 0:
            allowed = set(names)
        if index < branch:
            allowed -= internal
        elif index == branch:
            allowed |= internal & set(names)
        if index in keep_lists:
            path, wanted = keep_lists[index]
            for t in wanted:
                if t not in names:
                    continue
                if not (index == 0 or level.may_keep(t, roles.get(t, "input"))):
                    raise SpecError(f"level {level.name!r} cannot keep {t!r} (the hardware "
                                    "bypasses it there)", file=file, path=path)
            allowed = (set(wanted) & set(names)) | (allowed if index == 0 else set())
            if index == branch:
                allowed |= internal & set(names)
        if index < branch:
            allowed -= on_chip
        elif index == branch:
            allowed |= on_chip & set(names)
        keeps.append(frozenset(allowed))
    return keeps


def _keep_lists(levels: list[LevelMapping], arch: Architecture, prefix: str,
                names: tuple[str, ...], file: str | None,
                strict: bool = True) -> dict[int, tuple[str, list[str]]]:
    """Level index -> (field path, tensors) of each keep list; ``strict``: every name must
    be one of ``names`` (a group's shared lists may name tensors of other members)."""
    found = {}
    for i, lm in enumerate(levels):
        if lm.keep is None:
            continue
        for t in lm.keep:
            if strict and t not in names:
                raise SpecError(f"unknown tensor {t!r}; the Einsum touches {', '.join(names)}",
                                file=file, path=f"{prefix}[{i}].keep")
        found[arch.level_index(lm.level)] = (f"{prefix}[{i}].keep", list(lm.keep))
    return found


def build_nest(bound: BoundEinsum, arch: Architecture, mapping: MappingSpec,
               file: str | None = None) -> LoopNest:
    """The loop nest of a single-Einsum mapping; checks names, order, coverage and fan-out."""
    if mapping.einsum is None:
        raise SpecError("is a fused-group mapping; build each member's nest with "
                        "build_group_nests", file=file, path="group")
    problem = einsum_problem(bound)
    loops = _level_loops(mapping.levels, arch, problem.ranks, file, "levels")
    lists = _keep_lists(mapping.levels, arch, "levels", problem.tensor_names, file)
    keeps = _kept(problem, arch, bound.roles, lists, file)
    return _assemble(problem, arch, keeps, loops, file)


def _assemble(problem: Problem, arch: Architecture, keeps: list[frozenset[str]],
              loops: list[Loop], file: str | None) -> LoopNest:
    levels = tuple(
        Level(name=lv.name, keeps=keeps[i], block_size=lv.block_words, word_bits=lv.word_bits,
              instances=lv.instances,
              energy=ActionEnergy(lv.read_pj or 0.0, lv.fill_pj or 0.0, lv.update_pj or 0.0),
              multicast=lv.multicast, spatial_reduction=lv.spatial_reduction)
        for i, lv in enumerate(arch.levels))
    mac = arch.unit_for("mac") or arch.compute[0]
    nest = LoopNest(problem, levels, Compute(mac.name, instances=mac.instances), tuple(loops))
    try:
        nest.validate()          # coverage of every rank, fan-out within each level's mesh
    except MappingError as exc:
        raise SpecError(str(exc), file=file, path="levels") from None
    return nest


def tile_elements(nest: LoopNest, level: int, tensor: NestTensor) -> int:
    """The largest tile of ``tensor`` at ``level``: what the loops owned by levels >= level
    span, clipped to the rank sizes.  Cheap (no counting); an upper bound of what a counter
    finds when the first tile is partial."""
    extent = {rank: 1 for rank in nest.problem.ranks}
    for loop in nest.loops:
        if loop.level >= level:
            extent[loop.rank] *= loop.factor
    elements = 1
    for dim in tensor.dims:
        spans = [min(extent[r], nest.problem.ranks[r]) for c, r in dim.terms if c != 0]
        span = sum(spans) - len(spans) + 1 if spans else 1
        elements *= -(-span // dim.divisor) if dim.divisor > 1 else span
    return elements


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
