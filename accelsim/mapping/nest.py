"""A single-Einsum mapping spec on an architecture, as a :class:`LoopNest`.

The mapping's levels are checked against the machine (names, outer-to-inner order, rank
names, keep lists the hardware allows) and every problem is a
:class:`~accelsim.errors.SpecError` naming the mapping file and the field.  The pieces
(:func:`level_loops`, :func:`keep_lists`, :func:`kept_tensors`, :func:`assemble_nest`) are
shared with fused-group mappings (:mod:`accelsim.mapping.group`).
"""

from __future__ import annotations

from typing import Mapping as TMapping
from typing import NamedTuple

from accelsim.arch import Architecture
from accelsim.cost.nest import ActionEnergy, Compute, Level, Loop, LoopNest, Problem
from accelsim.errors import MappingError, SpecError
from accelsim.mapping.bound import BoundEinsum, einsum_problem
from accelsim.spec.mapping import LevelMapping, MappingSpec


def _resolve_rank(name: str, ranks: dict[str, int], where: str, file: str | None) -> str:
    for rank in ranks:
        if rank == name or rank.lower() == name.lower():
            return rank
    raise SpecError(f"unknown rank {name!r}; the Einsum's ranks are {', '.join(ranks)}",
                    file=file, path=where)


def level_loops(levels: list[LevelMapping], arch: Architecture, ranks: dict[str, int],
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


def check_no_empty_iterations(ranks: TMapping[str, int], loops: list[Loop], arch: Architecture,
                              file: str | None) -> None:
    """Refuse a rank whose loop factors multiply to twice its size or more while its
    outermost loop is temporal and runs iterations that cover nothing (32 x 32 for a size of
    512, where 16 x 32 covers it): a mistake that only costs time, much of it (the tile
    walker steps through every empty tile).  A partial last tile is fine (100 as 4 x 32,
    and the imperfect search's padding, at most 1.25x), and so is a spatial loop wider than
    the rank (30 columns of a 32-wide array: idle instances)."""
    for rank, size in ranks.items():
        mine = [loop for loop in loops if loop.rank == rank]
        if not mine or mine[0].spatial:
            continue
        inner = 1
        for loop in mine[1:]:
            inner *= loop.factor
        needed = -(-size // inner)
        if mine[0].factor > needed and mine[0].factor * inner >= 2 * size:
            where = arch.levels[mine[0].level].name
            raise SpecError(f"rank {rank!r}: its loop factors multiply to "
                            f"{mine[0].factor * inner}, twice its size {size} or more: the outer "
                            f"loop at {where!r} ({mine[0].factor}) needs only {needed} "
                            f"iterations of its {inner}-wide tiles", file=file, path="levels")


class Branch(NamedTuple):
    """Where a fused group's member keeps what the group shares (accelsim.mapping.group)."""

    level: int = 0
    """The branch level's index."""
    internal: frozenset[str] = frozenset()
    """The group's intermediates: at the branch level and below only."""
    on_chip: frozenset[str] = frozenset()
    """Read at the branch level whatever the keep lists say (another member wrote them, or
    brought them there)."""
    hold: frozenset[str] = frozenset()
    """Kept at the branch level too (group inputs that later members read there)."""


def kept_tensors(problem: Problem, arch: Architecture, roles: TMapping[str, str],
                 lists: dict[int, tuple[str, list[str]]], file: str | None,
                 group: Branch = Branch()) -> list[frozenset[str]]:
    """Tensors each level keeps: what the hardware allows there, narrowed by the mapping's
    keep lists (level index -> (field path, names)).  The outermost level keeps every tensor
    except ``group.internal`` ones (a fused group's intermediates), which live at the
    branch level and below unless a keep list names them higher up.  ``group.on_chip``
    tensors are read at the branch level whatever the keep lists say; ``group.hold``
    tensors are kept there too."""
    internal, branch, on_chip, hold = group.internal, group.level, group.on_chip, group.hold
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
        if index in lists:
            path, wanted = lists[index]
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
            allowed |= (on_chip | hold) & set(names)
        keeps.append(frozenset(allowed))
    return keeps


def keep_lists(levels: list[LevelMapping], arch: Architecture, prefix: str,
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
    loops = level_loops(mapping.levels, arch, problem.ranks, file, "levels")
    lists = keep_lists(mapping.levels, arch, "levels", problem.tensor_names, file)
    keeps = kept_tensors(problem, arch, bound.roles, lists, file)
    return assemble_nest(problem, arch, keeps, loops, file)


def assemble_nest(problem: Problem, arch: Architecture, keeps: list[frozenset[str]],
                  loops: list[Loop], file: str | None) -> LoopNest:
    """The loop nest of ``problem`` on ``arch``: each level keeping ``keeps[i]``, the MAC unit
    as compute; coverage of every rank and fan-out are checked."""
    check_no_empty_iterations(problem.ranks, loops, arch, file)
    meshes = arch.meshes()       # a grid level's fan-out may exceed its instances
    levels = tuple(
        Level(name=lv.name, keeps=keeps[i], block_size=lv.block_words, word_bits=lv.word_bits,
              instances=meshes[i],
              energy=ActionEnergy(lv.read_pj or 0.0, lv.fill_pj or 0.0, lv.update_pj or 0.0),
              multicast=lv.multicast, spatial_reduction=lv.spatial_reduction)
        for i, lv in enumerate(arch.levels))
    mac = arch.unit_for("mac") or arch.compute[0]
    nest = LoopNest(problem, levels, Compute(mac.name, instances=meshes[-1]), tuple(loops))
    try:
        nest.validate()          # coverage of every rank, fan-out within each level's mesh
    except MappingError as exc:
        raise SpecError(str(exc), file=file, path="levels") from None
    return nest
