"""Fused groups: several Einsums of a cascade under shared loops, intermediates kept on chip.

A group mapping (``group`` + ``shared`` + ``einsums``) is counted as one loop nest per
member, built from the shared loops that enclose it followed by its own loops:

* Nesting.  The shared loops form a chain, outer to inner.  A member sits inside every
  shared loop down to the innermost one over a rank the member has: in FlashAttention-2
  (query blocks p1, then key blocks m1) the score and running-state Einsums sit inside both
  loops, the final division (no m1) inside p1 only, after the key loop.
* Branch level.  The child of the level owning the innermost shared loop (of the backing
  store when there are none).  A tensor produced and consumed inside the group is held
  there and never written above it, unless a ``keep`` list of an outer level names it (a
  spill, as FlashAttention-1 does with O, l, m).
* Resident tensors.  When the innermost shared loops are temporal loops of an on-chip level
  whose shared ``keep`` list names tensors, that level is split in two (:func:`working_level`):
  the named tensors stay there across the shared loops (FuseMax keeps a head's Q, K, V and
  output in its global buffer while tiles of queries and blocks of keys stream through),
  and a working part just inside it is the branch level.
* Split ranks.  A blocked index ``c*m1 + m0`` with ``c`` = size of m0 splits one rank (M,
  of the accessed tensor's true size N) into blocks.  A member that iterates both m1 and m0
  is counted on the single rank M: its m1 loops, then its m0 loops (which must multiply to
  exactly c), so the index is m1*c + m0 and the last, partial block is clipped at N.  Its
  tensors indexed by m1 alone get the block index M // c.  A member that iterates m1 only
  (block-level statistics) keeps the rank m1.
* Carried state.  The output of an iterative Einsum (``RM[m1+1] = max(RM[m1], ...)``) is
  updated in place: the iterated dimension is dropped wherever the tensor is accessed, so
  each step reads and writes the same elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from accelsim.arch import Architecture
from accelsim.cost.nest import Loop, LoopNest, Problem, Projection
from accelsim.cost.nest import Tensor as NestTensor
from accelsim.errors import CapacityError, SpecError
from accelsim.ir import Cascade, Einsum
from accelsim.mapping.bound import BoundEinsum
from accelsim.mapping.capacity import tile_elements
from accelsim.mapping.nest import Branch, assemble_nest, keep_lists, kept_tensors, level_loops
from accelsim.spec.mapping import MappingSpec


@dataclass(frozen=True)
class Split:
    """Ranks ``outer`` (blocks) and ``inner`` (within a block of ``block``) of one rank
    ``merged`` whose true size is ``total``."""

    outer: str
    inner: str
    block: int
    total: int
    merged: str


def find_splits(cascade: Cascade, given: dict[str, int]) -> list[Split]:
    """Every blocked index ``c*x + y`` (c = size of y) in the cascade, with its true size;
    ``given`` are the rank sizes set by the caller (derived ones are computed)."""
    sizes = cascade.sizes(**given)
    found: dict[tuple[str, str], Split] = {}
    for einsum in cascade.einsums:
        for access in einsum.accesses(sizes):
            if access.tensor not in cascade.tensors:
                continue
            tensor = cascade.tensors[access.tensor]
            shape = cascade.shape(access.tensor, **given)
            for d, proj in enumerate(access.dims):
                terms = sorted(((int(c), r) for c, r in proj.terms if int(c) != 0), reverse=True)
                if len(terms) != 2 or terms[1][0] != 1 or terms[0][0] <= 1:
                    continue
                (c, outer), (_, inner) = terms
                if c == sizes.get(inner) and d < len(tensor.ranks):
                    found[outer, inner] = Split(outer, inner, c, shape[d], tensor.ranks[d])
    return list(found.values())


_SPLITS: dict[tuple, tuple] = {}
_SPLITS_KEPT = 64


def _splits_and_carried(cascade: Cascade, given: dict[str, int]):
    """find_splits and carried_dims, remembered for the last few (cascade, sizes) pairs: a
    search evaluates many group mappings of one cascade."""
    key = (id(cascade), tuple(sorted(given.items())))
    hit = _SPLITS.get(key)
    if hit is None or hit[0] is not cascade:
        if len(_SPLITS) >= _SPLITS_KEPT:
            _SPLITS.pop(next(iter(_SPLITS)))
        hit = _SPLITS[key] = (cascade, find_splits(cascade, given), carried_dims(cascade))
    return hit[1], hit[2]


def carried_dims(cascade: Cascade) -> dict[str, int]:
    """Tensor -> the dimension an iterative Einsum carries it along (updated in place)."""
    carried = {}
    for einsum in cascade.einsums:
        if einsum.iterate is None:
            continue
        out = einsum.accesses()[0]
        for d, proj in enumerate(out.dims):
            if any(r.lower() == einsum.iterate.lower() for _, r in proj.terms):
                carried[out.tensor] = d
    return carried


def member_problem(bound: BoundEinsum, splits: list[Split], carried: dict[str, int]) -> tuple[
        Problem, dict[str, str]]:
    """The loop-analysis problem of one member, and the rank renaming its loops need."""
    space = bound.ranks
    active = [s for s in splits if s.outer in space and s.inner in space]
    rename = {}
    ranks = dict(space)
    for s in active:
        del ranks[s.outer], ranks[s.inner]
        ranks[s.merged] = s.total
        rename[s.outer] = rename[s.inner] = s.merged
    for s in splits:                 # a member over the whole rank: block loops walk it too
        if s.merged in space and s.outer not in space:
            rename[s.outer] = s.merged
    tensors: dict[str, NestTensor] = {}
    for access in bound.einsum.accesses(bound.sizes):
        dims = [p for d, p in enumerate(access.dims) if carried.get(access.tensor) != d]
        projections = _member_dims(dims, active, access.tensor, bound.einsum.name)
        read_write = access.mode != "read"
        old = tensors.get(access.tensor)
        if old is None or read_write:
            tensors[access.tensor] = NestTensor(
                access.tensor, tuple(projections), read_write=read_write,
                bytes_per_element=bound.bytes_per_element(access.tensor))
    return Problem(ranks, tuple(tensors.values())), rename


def _member_dims(dims, active: list[Split], tensor: str, einsum: str) -> list[Projection]:
    outer = {s.outer: s for s in active}
    inner = {s.inner: s for s in active}
    seen_outer: set[str] = set()
    out: list[Projection] = []
    singles = [[r for c, r in p.terms if int(c) != 0] for p in dims]
    for proj, names in zip(dims, singles):
        terms = [(int(c), r) for c, r in proj.terms if int(c) != 0]
        if len(names) == 2 and set(names) <= set(outer) | set(inner):
            split = outer.get(names[0]) or outer.get(names[1])
            out.append(Projection(((1, split.merged),)))
        elif len(names) == 1 and names[0] in outer:
            split = outer[names[0]]
            if [split.inner] in singles:       # x and y as two dimensions: one merged index
                seen_outer.add(split.outer)
                out.append(Projection(((1, split.merged),)))
            else:
                out.append(Projection(((1, split.merged),), 0, split.block))
        elif len(names) == 1 and names[0] in inner:
            split = inner[names[0]]
            if [split.outer] not in singles:
                raise SpecError(f"Einsum {einsum}: {tensor} is indexed by the in-block rank "
                                f"{split.inner} without its block rank {split.outer}; the cost "
                                "model cannot count it")
        else:
            out.append(Projection(tuple(terms)))
    return out


@dataclass(frozen=True)
class Member:
    """One Einsum of a fused group: its bound form, loop nest and how often it repeats."""

    bound: BoundEinsum
    nest: LoopNest
    repeats: int
    """Iterations of enclosing shared loops over ranks the Einsum does not have."""
    machine: Architecture
    """The machine the nest is built on: the architecture, with the level of on-chip
    shared loops split in two (:func:`working_level`)."""
    branch: int
    """The group's branch level as an index of the architecture's levels (a split level
    itself: its working part is the branch)."""


@dataclass(frozen=True)
class GroupFrame:
    """What every member of a group mapping is built and checked against
    (:func:`build_group_nests`)."""

    cascade: Cascade
    arch: Architecture
    """The architecture the mapping names its levels on."""
    machine: Architecture
    """The architecture the nests are built on: ``arch``, with the split level in two
    (:func:`working_level`) when there is one."""
    mapping: MappingSpec
    shared: list[Loop]
    """The shared loops, outer to inner, owned by the machine's levels."""
    branch: int
    """The branch level (index into the machine's levels)."""
    split: int | None
    """The level split into a resident and a working part, or None."""
    splits: list[Split]
    """The cascade's blocked indices (:func:`find_splits`)."""
    carried: dict[str, int]
    """Tensor -> the dimension an iterative Einsum carries it along (:func:`carried_dims`)."""
    internal: frozenset[str]
    """Tensors produced and consumed inside the group only: held at the branch level."""
    written: frozenset[str]
    """Tensors the group's members write."""
    file: str | None
    """The mapping's file, for error messages."""


def build_group_nests(cascade: Cascade, given: dict[str, int], dtypes: dict[str, str],
                      roles: dict[str, str], arch: Architecture, mapping: MappingSpec,
                      file: str | None = None) -> list[Member]:
    """One loop nest per member of a fused-group mapping (see the module docstring);
    ``given`` are the rank sizes the caller sets (derived sizes follow)."""
    sizes = cascade.sizes(**given)
    if mapping.group is None:
        raise SpecError("is a single-Einsum mapping; use build_nest", file=file, path="einsum")
    members = []
    for i, name in enumerate(mapping.group):
        try:
            members.append(cascade.einsum(name))
        except Exception:
            raise SpecError(f"no Einsum writes {name!r} in cascade {cascade.name}", file=file,
                            path=f"group[{i}]") from None
    all_ranks = {r: 1 for e in members for r in e.space(sizes)}
    shared = level_loops(mapping.shared, arch, all_ranks, file, "shared")
    touched = {t for e in members for t in (e.name, *e.inputs)}
    for i, lm in enumerate(mapping.shared):
        for t in lm.keep or ():
            if t not in touched:
                raise SpecError(f"unknown tensor {t!r}; the group touches "
                                f"{', '.join(sorted(touched))}", file=file,
                                path=f"shared[{i}].keep")
    branch = max((loop.level for loop in shared), default=0) + 1  # none: the store's child
    split = working_level(arch, shared, mapping)
    machine = arch
    if split is not None:            # the working part owns the fan-out to the children
        work = replace(arch.levels[split], name=arch.levels[split].name + WORKING)
        machine = replace(arch, levels=arch.levels[:split + 1] + (work,)
                          + arch.levels[split + 1:])
        shared = [replace(loop, level=split + 1) if loop.level == split and loop.spatial
                  else loop for loop in shared]
    written = {e.name for e in members}
    read_elsewhere = {t for e in cascade.einsums if e.name not in written for t in e.inputs}
    internal = frozenset(t for t in written if t not in cascade.outputs and t not in read_elsewhere
                         and any(t in e.inputs for e in members))
    splits, carried = _splits_and_carried(cascade, given)
    frame = GroupFrame(cascade, arch, machine, mapping, shared, branch, split, splits, carried,
                       internal, frozenset(written), file)
    out: list[Member] = []
    named = _kept_at_branch(frame)
    for einsum in members:
        held, hold = _shared_inputs(einsum, out, frame, named)
        out.append(_member(BoundEinsum(einsum, sizes, dtypes, roles), frame, held, hold))
    # the resident part of a split level shares its capacity
    resident = 0.0 if split is None else sum(_level_tiles(out, split).values())
    _check_live_state(frame, out, resident)
    return out


WORKING = " (working tile)"
"""Suffix of the name of a split level's working part (:func:`working_level`)."""


def working_level(arch: Architecture, shared: list[Loop],
                  mapping: MappingSpec) -> int | None:
    """The level whose temporal loops are the innermost shared loops, when it is on chip
    (below the backing store) and the shared mapping there names tensors to keep, else None.

    Such a level holds two things: what that keep list names (for the whole span of
    its shared loops: a head's K and V in FuseMax's global buffer) and a working tile of one
    shared iteration (the members' own loops there and the group's intermediates, as when
    the shared loops sit at the backing store).  The nests count them as two levels of the
    same memory, the working one just inside the other (so a tile moved from the resident
    copy into the working one counts as a read and a fill of that memory); their tiles
    share its capacity."""
    inner = max((loop.level for loop in shared), default=0)
    if inner == 0 or not any(loop.level == inner and not loop.spatial for loop in shared):
        return None
    named = [lm.keep for lm in mapping.shared if arch.level_index(lm.level) == inner]
    return inner if any(named) else None


def _check_live_state(frame: GroupFrame, members: list[Member], resident: float = 0.0) -> None:
    """State carried along a shared loop stays live at the branch level while the shared
    loops inside it run over other tiles of it (FlashAttention-2's accumulators under a key
    loop that encloses the query loop): one iteration's tiles plus those extra live tiles
    must fit the branch level (less ``resident`` bytes), unless the state is spilled."""
    cascade, shared, branch, internal = frame.cascade, frame.shared, frame.branch, frame.internal
    carried, arch, file = frame.carried, frame.machine, frame.file
    if branch >= len(arch.levels):
        return
    tiles = _level_tiles(members, branch)
    extra: dict[str, float] = {}
    for member in members:
        name = member.bound.einsum.name
        if name in internal and name in carried and not any(
                name in level.keeps for level in member.nest.levels[:branch]):
            inside = _loops_inside_carry(member, cascade, shared, carried[name])
            if inside:
                extra[name] = tiles[name] * (math.prod(l.factor for l in inside) - 1)
    capacity = arch.levels[branch].capacity_bytes - resident
    need = sum(tiles.values()) + sum(extra.values())
    if extra and need > capacity:
        state = ", ".join(f"{t} +{b:g} B" for t, b in extra.items())
        raise CapacityError(f"{file + ': ' if file else ''}state carried along an outer shared "
                            f"loop stays live while the shared loops inside it run ({state}): "
                            f"{need:g} bytes at {arch.levels[branch].name!r}, which holds "
                            f"{capacity:g}; spill it (keep it at an outer level) or swap the loops")


def _level_tiles(members: list[Member], level: int) -> dict[str, float]:
    """Tensor -> the largest tile (bytes) any member keeps at nest level ``level``."""
    tiles: dict[str, float] = {}
    for member in members:
        for tensor in member.nest.problem.tensors:
            if tensor.name in member.nest.levels[level].keeps:
                size = tile_elements(member.nest, level, tensor) * tensor.bytes_per_element
                tiles[tensor.name] = max(tiles.get(tensor.name, 0.0), size)
    return tiles


def _loops_inside_carry(member: Member, cascade: Cascade, shared: list[Loop],
                        dim: int) -> list[Loop]:
    """Shared loops inside the loop a tensor is carried along, over ranks that index it."""
    name = member.bound.einsum.name
    rank = next(r for _, r in member.bound.einsum.accesses(member.bound.sizes)[0].dims[dim].terms)
    position = next((i for i, loop in enumerate(shared) if loop.rank == rank), None)
    if position is None:
        return []
    indexed = set(cascade.tensors[name].ranks) if name in cascade.tensors else set()
    return [loop for loop in shared[position + 1:] if loop.rank in indexed]


def _streams_above_branch(name: str, frame: GroupFrame) -> bool:
    """Whether the member's own loops include one (factor > 1) owned by a level above the
    branch level: the branch then holds one part of a shared iteration's tile at a time."""
    for lm in frame.mapping.einsums.get(name, []):
        index = frame.arch.level_index(lm.level)
        if frame.split is not None and index >= frame.split:
            index += 1
        if index < frame.branch and any(loop.factor > 1 for loop in (*lm.temporal, *lm.spatial)):
            return True
    return False


def _kept_at_branch(frame: GroupFrame) -> frozenset[str]:
    """Group inputs the shared mapping keeps at the branch level (a keep list there, with the
    shared loops above it): each is read from above once per shared iteration, by the first
    member that reads it, and every later member reads it at the branch level."""
    if frame.split is not None or frame.branch >= len(frame.arch.levels):
        return frozenset()
    name = frame.arch.levels[frame.branch].name
    return frozenset(t for lm in frame.mapping.shared if lm.level == name
                     for t in (lm.keep or ()) if t not in frame.written)


def _shared_inputs(einsum: Einsum, earlier: list[Member], frame: GroupFrame,
                   named: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(held, hold) of a member for the group inputs in ``named``: those an earlier member
    brought to the branch level, read there; those it brings there itself (it is the first
    to read them whole).  A member whose own loops run above the branch level sees a shared
    iteration's tile in parts and holds nothing (softmax's maximum and exponential both read
    a row of X: with the row kept, it crosses from the backing store once)."""
    mine = [t for t in einsum.inputs if t in named]
    if not mine:
        return frozenset(), frozenset()
    holders = {t for m in earlier if not _streams_above_branch(m.bound.einsum.name, frame)
               for t in m.bound.einsum.inputs}
    held = frozenset(t for t in mine if t in holders)
    if _streams_above_branch(einsum.name, frame):
        return held, frozenset()
    return held, frozenset(mine) - held


def _member(bound: BoundEinsum, frame: GroupFrame, held: frozenset[str] = frozenset(),
            hold: frozenset[str] = frozenset()) -> Member:
    """One member's nest: the shared loops that enclose it, then its own loops; ``held`` and
    ``hold``: group inputs it reads at the branch level, and those it brings there
    (:func:`_shared_inputs`)."""
    shared, branch, internal, written = frame.shared, frame.branch, frame.internal, frame.written
    arch, machine, mapping, file, split = (frame.arch, frame.machine, frame.mapping, frame.file,
                                           frame.split)
    splits, carried = frame.splits, frame.carried
    name = bound.einsum.name
    problem, rename = member_problem(bound, splits, carried)
    space = bound.ranks
    depth = max((i for i, loop in enumerate(shared)
                 if loop.rank in space or rename.get(loop.rank) in problem.ranks), default=-1)
    enclosing = shared[:depth + 1]
    own_levels = mapping.einsums.get(name, [])
    own = level_loops(own_levels, arch, space, file, f"einsums.{name}")
    if split is not None:                # own loops at the split level: its working tile
        own = [replace(loop, level=loop.level + 1) if loop.level >= split else loop
               for loop in own]
    if enclosing and own and min(l.level for l in own) < max(l.level for l in enclosing):
        raise SpecError(f"{name}'s own loops must be owned by levels at or below the innermost "
                        "shared loop's level", file=file, path=f"einsums.{name}")
    ranks = dict(problem.ranks)
    repeats = 1
    loops = []
    for loop in enclosing + own:
        rank = rename.get(loop.rank, loop.rank)
        if rank not in problem.ranks:            # a shared loop the member merely sits inside
            ranks[rank] = ranks.get(rank, 1) * loop.factor
            repeats *= loop.factor
        loops.append(Loop(rank, loop.factor, loop.level, loop.spatial, loop.axis))
    _check_splits(loops, enclosing + own, splits, rename, name, file)
    problem = Problem(ranks, problem.tensors)
    names = problem.tensor_names + tuple(internal)
    lists = keep_lists(list(mapping.shared), arch, "shared", names, file, strict=False)
    own_lists = keep_lists(list(own_levels), arch, f"einsums.{name}", names, file)
    if split is not None:
        # the split machine has one more level: lists below the split level move down one,
        # and the member's own list at it is the working tile's
        lists = {index + (index > split): v for index, v in lists.items()}
        own_lists = {index + (index >= split): v for index, v in own_lists.items()}
    lists.update(own_lists)
    produced_elsewhere = frozenset(t for t in bound.einsum.inputs
                                   if t in written and t != name) | held
    keeps = kept_tensors(problem, machine, bound.roles, lists, file,
                         Branch(branch, internal, produced_elsewhere, hold))
    return Member(bound, assemble_nest(problem, machine, keeps, loops, file), repeats, machine,
                  branch if split is None else split)


def _check_splits(loops: list[Loop], original: list[Loop], splits: list[Split],
                  rename: dict[str, str], einsum: str, file: str | None) -> None:
    """A merged rank's block loops come before its in-block loops, which multiply to c."""
    for split in splits:
        if rename.get(split.outer) != split.merged:
            continue
        inner = [i for i, loop in enumerate(original)
                 if loop.rank in (split.inner, split.merged)]
        outer = [i for i, loop in enumerate(original) if loop.rank == split.outer]
        if inner and outer and max(outer) > min(inner):
            raise SpecError(f"Einsum {einsum}: every loop over {split.outer} (blocks) must be "
                            f"outside every loop over {split.inner} (within a block)", file=file,
                            path=f"einsums.{einsum}")
        product = math.prod(original[i].factor for i in inner)
        if product != split.block:
            raise SpecError(f"Einsum {einsum}: the loops over {split.inner} multiply to "
                            f"{product}, but a block holds {split.block}", file=file,
                            path=f"einsums.{einsum}")
