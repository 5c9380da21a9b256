"""The loop-nest data model that every access counter in accelsim reads.

A :class:`LoopNest` is a :class:`Problem` (rank sizes and the tensors an Einsum touches), a
storage hierarchy of :class:`Level` objects (outermost first) above one :class:`Compute`
level, and the :class:`Loop` objects of the mapping, outermost first.  Everything is a frozen
dataclass of plain Python values; :meth:`LoopNest.validate` raises
:class:`~accelsim.errors.MappingError` for a nest that no counter could evaluate.

Conventions (Timeloop's, as its tutorial mappings use them):

* Level 0 is the outermost storage level (the backing store, e.g. DRAM); the last level is
  the innermost storage level; the compute level sits below it.
* ``Loop.level`` names the storage level that *owns* the loop.  The loops owned by levels
  ``>= L`` span the tile of level ``L``; the loops owned by level ``L`` walk over that tile,
  one tile of level ``L + 1`` (or, for the innermost level, one operation) per iteration.
* A spatial loop owned by level ``L`` spreads level ``L``'s tile over instances of level
  ``L + 1`` (or of the compute level), along the mesh axis it names; the network below
  level ``L`` (``Level.multicast``, ``Level.spatial_reduction``) carries that fan-out.
* The index of a rank is the mixed-radix combination of its loops' indices, outer loops most
  significant.  Factors need not divide the rank: iterations whose index reaches the rank size
  are clipped (a partial last tile; a tile left with no operation is empty and moves nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from accelsim.errors import MappingError

AXES = ("x", "y")


@dataclass(frozen=True)
class Projection:
    """One dimension of a tensor: ``offset + sum(coefficient * rank)`` over its terms."""

    terms: tuple[tuple[int, str], ...]
    """The (coefficient, rank name) pairs; ``((1, 'R'), (1, 'P'))`` is the index ``R + P``."""
    offset: int = 0
    """A constant added to the index."""
    divisor: int = 1
    """The index is divided (rounding down) by this: a block index ``m // B`` of a split rank
    (tensors that hold one value per block of ``B`` consecutive ``m``)."""

    @classmethod
    def sum_of(cls, *ranks: str, offset: int = 0) -> "Projection":
        """The unit-coefficient sum of ``ranks``: ``Projection.sum_of('R', 'P')`` is ``R + P``."""
        return cls(tuple((1, rank) for rank in ranks), offset)

    @property
    def ranks(self) -> frozenset[str]:
        """The ranks this dimension depends on (terms with a zero coefficient do not count)."""
        return frozenset(rank for coefficient, rank in self.terms if coefficient != 0)

    def index(self, point: Mapping[str, int]) -> int:
        """This dimension's coordinate at an operation ``point`` (rank name -> index)."""
        value = self.offset + sum(coefficient * point[rank] for coefficient, rank in self.terms)
        return value // self.divisor if self.divisor != 1 else value


@dataclass(frozen=True)
class Tensor:
    """A tensor of the Einsum: a name and one affine projection per dimension."""

    name: str
    """Unique name within its problem, e.g. ``'Inputs'``."""
    dims: tuple[Projection, ...]
    """One projection per tensor dimension, outermost first."""
    read_write: bool = False
    """True for an output that is accumulated (partial sums are read, updated and written)."""
    bytes_per_element: float = 1
    """Size of one element in bytes (0.5 for int4); counts are in elements, energy in
    accesses of ``Level.word_bits``-bit words (see :meth:`Level.access_bits`)."""

    @property
    def bits(self) -> int:
        """Bits in one element."""
        return round(self.bytes_per_element * 8)

    @property
    def ranks(self) -> frozenset[str]:
        """The ranks relevant to this tensor: those that appear in any dimension."""
        return frozenset().union(*(dim.ranks for dim in self.dims))

    def coordinate(self, point: Mapping[str, int]) -> tuple[int, ...]:
        """The element this tensor touches at an operation ``point``."""
        return tuple(dim.index(point) for dim in self.dims)


@dataclass(frozen=True)
class Problem:
    """The iteration space of one Einsum: rank sizes and the tensors it reads and writes."""

    ranks: Mapping[str, int]
    """Rank name -> size (stored read-only; its order is the order of operation points)."""
    tensors: tuple[Tensor, ...]
    """The tensors, each with a unique name."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranks", MappingProxyType(dict(self.ranks)))
        object.__setattr__(self, "tensors", tuple(self.tensors))

    def __hash__(self) -> int:
        return hash((tuple(self.ranks.items()), self.tensors))

    @property
    def rank_names(self) -> tuple[str, ...]:
        """The rank names in declaration order."""
        return tuple(self.ranks)

    @property
    def tensor_names(self) -> tuple[str, ...]:
        """The tensor names in declaration order."""
        return tuple(tensor.name for tensor in self.tensors)

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``."""
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise MappingError(f"unknown tensor {name!r}; the problem has {list(self.tensor_names)}")

    def relevant_ranks(self, name: str) -> frozenset[str]:
        """The ranks that index tensor ``name``."""
        return self.tensor(name).ranks

    @property
    def operations(self) -> int:
        """The number of points in the iteration space."""
        return math.prod(self.ranks.values())


@dataclass(frozen=True)
class ActionEnergy:
    """An energy per action: read, fill and update (pJ per access, or pJ in total)."""

    read: float = 0.0
    fill: float = 0.0
    update: float = 0.0

    @property
    def total(self) -> float:
        """The sum over the three actions."""
        return self.read + self.fill + self.update


MULTICAST = True
"""Whether a level's network delivers one read to several children, unless a level says
otherwise: the one default of the Python model and of hardware YAML (``multicast``)."""
SPATIAL_REDUCTION = True
"""Whether a level's network adds partial sums of several children, unless a level says
otherwise (``spatial_reduction``), in Python and YAML alike."""


@dataclass(frozen=True)
class Level:
    """One storage level of the hierarchy, with the network below it."""

    name: str
    """Unique name, e.g. ``'GlobalBuffer'``."""
    keeps: frozenset[str]
    """The tensors this level stores; every other tensor bypasses it."""
    block_size: int = 1
    """Words moved per access: an action of ``n`` elements costs ``ceil(n / block_size)``
    accesses when a word holds one element (``word_bits`` 0)."""
    instances: tuple[int, int] = (1, 1)
    """The physical instances as a mesh ``(mesh_x, mesh_y)``."""
    energy: ActionEnergy = field(default_factory=ActionEnergy)
    """Energy per access (pJ) of a read, a fill and an update."""
    capacity: int | None = None
    """Words each instance holds (None: unbounded); one word holds one element."""
    word_bits: int = 0
    """Bits in one word; 0 means a word holds exactly one element of any tensor (the Timeloop
    tutorials' convention).  Otherwise an action on ``n`` elements of ``b`` bits costs
    ``ceil(n * b / (block_size * word_bits))`` accesses."""
    multicast: bool = MULTICAST
    """The network below this level delivers one read to several children at once."""
    spatial_reduction: bool = SPATIAL_REDUCTION
    """The network below this level adds partial sums of several children into one update."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "keeps", frozenset(self.keeps))
        object.__setattr__(self, "instances", tuple(self.instances))

    def access_bits(self, tensor: "Tensor") -> tuple[int, int]:
        """(bits of one element, bits of one access) for ``tensor`` at this level."""
        if self.word_bits == 0:
            return 1, self.block_size
        return tensor.bits, self.block_size * self.word_bits


@dataclass(frozen=True)
class Compute:
    """The compute level below the innermost storage level (e.g. a MAC array)."""

    name: str = "MAC"
    instances: tuple[int, int] = (1, 1)
    """The physical compute units as a mesh ``(mesh_x, mesh_y)``."""
    energy_per_op: float = 0.0
    """Energy of one operation (pJ)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", tuple(self.instances))


@dataclass(frozen=True)
class Loop:
    """One loop of a mapping."""

    rank: str
    """The rank it iterates."""
    factor: int
    """Its bound (trip count)."""
    level: int
    """Index of the storage level that owns it (0 = outermost)."""
    spatial: bool = False
    """True when its iterations run on different instances of the level below ``level``."""
    axis: str = "x"
    """The mesh axis of a spatial loop (``'x'`` or ``'y'``); ignored for temporal loops."""


@dataclass(frozen=True)
class LoopNest:
    """A problem mapped onto a hierarchy: levels outer to inner, loops outer to inner."""

    problem: Problem
    levels: tuple[Level, ...]
    compute: Compute
    loops: tuple[Loop, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        object.__setattr__(self, "loops", tuple(self.loops))

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels)

    def level_index(self, name: str) -> int:
        """The index of the storage level called ``name``."""
        if name not in self.level_names:
            raise MappingError(f"unknown level {name!r}; the levels are {list(self.level_names)}")
        return self.level_names.index(name)

    def keepers(self, tensor: str) -> tuple[int, ...]:
        """The indices of the levels that keep ``tensor``, outermost first."""
        return tuple(i for i, level in enumerate(self.levels) if tensor in level.keeps)

    def parent(self, tensor: str, level: int) -> int | None:
        """The nearest level above ``level`` that keeps ``tensor`` (None for its backing store).

        ``level`` may be ``len(levels)``, the compute level.
        """
        above = [i for i in self.keepers(tensor) if i < level]
        return above[-1] if above else None

    def fanout(self, level: int) -> dict[str, int]:
        """Instances of ``level`` (compute: ``len(levels)``) the mapping uses, per mesh axis."""
        used = {axis: 1 for axis in AXES}
        for loop in self.loops:
            if loop.spatial and loop.level < level:
                used[loop.axis] *= loop.factor
        return used

    def validate(self) -> None:
        """Raise :class:`MappingError` if no counter could evaluate this nest."""
        _check_problem(self.problem)
        _check_levels(self)
        _check_loops(self)


def _check_problem(problem: Problem) -> None:
    names = problem.tensor_names
    if len(set(names)) != len(names):
        raise MappingError(f"tensor names repeat: {list(names)}")
    for rank, size in problem.ranks.items():
        if not isinstance(size, int) or size < 1:
            raise MappingError(f"rank {rank!r}: size {size!r} is not a positive integer")
    for tensor in problem.tensors:
        unknown = tensor.ranks - set(problem.ranks)
        if unknown:
            raise MappingError(f"tensor {tensor.name!r} uses unknown ranks {sorted(unknown)}")


def _check_levels(nest: LoopNest) -> None:
    if not nest.levels:
        raise MappingError("a loop nest needs at least one storage level")
    names = nest.level_names
    if len(set(names)) != len(names):
        raise MappingError(f"level names repeat: {list(names)}")
    tensors = set(nest.problem.tensor_names)
    for level in nest.levels:
        unknown = level.keeps - tensors
        if unknown:
            raise MappingError(f"level {level.name!r} keeps unknown tensors {sorted(unknown)}")
        if level.block_size < 1:
            raise MappingError(f"level {level.name!r}: block_size must be at least 1")
    for tensor in nest.problem.tensor_names:
        if not nest.keepers(tensor):
            raise MappingError(f"no level keeps tensor {tensor!r}")


def _check_loops(nest: LoopNest) -> None:
    depth = len(nest.levels)
    last_level = 0
    for i, loop in enumerate(nest.loops):
        where = f"loops[{i}] ({loop.rank} {loop.factor})"
        if loop.rank not in nest.problem.ranks:
            raise MappingError(f"{where}: unknown rank; the ranks are {list(nest.problem.ranks)}")
        if not isinstance(loop.factor, int) or loop.factor < 1:
            raise MappingError(f"{where}: factor must be a positive integer")
        if not 0 <= loop.level < depth:
            raise MappingError(f"{where}: level {loop.level} is not in 0..{depth - 1}")
        if loop.level < last_level:
            raise MappingError(f"{where}: loops must be listed outer to inner level by level")
        if loop.spatial and loop.axis not in AXES:
            raise MappingError(f"{where}: axis {loop.axis!r} is not one of {AXES}")
        last_level = loop.level
    for rank, size in nest.problem.ranks.items():
        covered = math.prod(loop.factor for loop in nest.loops if loop.rank == rank)
        if covered < size:
            raise MappingError(f"the loop factors of rank {rank!r} multiply to {covered}, which "
                               f"does not cover its size {size}")
    targets = [(level.name, level.instances) for level in nest.levels[1:]]
    targets.append((nest.compute.name, nest.compute.instances))
    for index, (name, (mesh_x, mesh_y)) in enumerate(targets, start=1):
        used = nest.fanout(index)
        if used["x"] > mesh_x or used["y"] > mesh_y:
            raise MappingError(f"spatial loops above {name!r} use {used['x']}x{used['y']} "
                               f"instances (x by y) but it has {mesh_x}x{mesh_y}")
