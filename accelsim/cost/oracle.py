"""The oracle: a literal loop-nest walker that defines accelsim's access counts.

:func:`count` enumerates every iteration of a :class:`~accelsim.cost.nest.LoopNest`, keeps
the set of tensor elements each level instance holds, and counts what moves.  It is slow
(it touches every operation once per level) and meant for small nests; fast counters must
return exactly the same :class:`~accelsim.cost.counts.Counts`.  The rules below *are* the
semantics; they follow Timeloop's conventions (Parashar et al., ISPASS 2019) and reproduce
the published Timeloop tutorial outputs (tests/cost/data/timeloop_cases.json).

Terms
-----
operation point
    One combination of rank indices.  A rank's index is the mixed-radix combination of its
    loops' indices (outer loops most significant); a combination in which some rank's index
    reaches its size is clipped and is no operation.
instance of level L
    One combination of the indices of the spatial loops owned by levels < L (row-major in
    loop order).  Instances of the compute level: all spatial loops.
step of level L
    One combination of the indices of the temporal loops owned by levels < L, taken in
    lexicographic order (outer loops slowest).  Level 0 has one step; the compute level's
    steps are the combinations of all temporal loops.  All instances step together.
tile of level L at (instance, step)
    The operation points reached by all loops owned by levels >= L with the loops above
    fixed.  Its data tile for tensor T is the set of T's elements those points touch.  The
    compute level's tile is a single operation point.
idle
    An (instance, step) whose tile has no operation point.  An idle instance keeps what it
    holds and moves nothing (a clipped iteration does not exist, as in Timeloop's residual
    loops).

Rules, per level L, tensor T that L keeps, instance i
-----------------------------------------------------
1. Holding.  Instance i holds exactly its latest non-empty data tile of T.  At each non-idle
   step the elements of the new data tile that i does not hold *enter* i; i then holds the
   new data tile (what falls outside it is dropped, or drained upward for outputs).  The
   compute level holds nothing: at every non-idle step each operand of its operation enters.
2. Parent and child.  The parent of (L, T) is the nearest level above L that keeps T; levels
   that do not keep T are bypassed.  The child is the nearest level below L that keeps T, or
   the compute level.  The outermost keeper is T's backing store: T is resident there from
   the start, so nothing entering it is a fill.
3. Network keys.  A child instance c under i differs from its siblings in the indices of the
   spatial loops owned by levels L .. child-1.  For an element entering c, its *multicast
   key* is those indices with each replaced by '*' where the owning level's network has
   ``multicast``; its *reduction key* likewise with ``spatial_reduction``.
4. Read-only T.
   fills = elements entering i (0 at the backing store).
   reads = at each child step, the number of distinct (element, multicast key) pairs among
   the elements entering i's children, summed over child steps.  So without multicast,
   reads = the children's entries; with multicast, one read serves every child that needs
   the same element in the same step.  Below the innermost keeper, entries are the compute
   operands, so reads = operations (less multicast).
5. Read-write T (accumulated outputs).
   updates = at each child step, the number of distinct (element, reduction key) pairs
   among the elements entering i's children.  Every residency of an element in a child (and
   every operation) ends in one partial sum written into i; with spatial reduction the
   partial sums of several children for one element in one step arrive as one update.  An
   update is credited to the step at which the residency began (Timeloop's delta).
   first_touches = distinct elements i ever holds (Timeloop's partition size).
   reads = temporal_reductions = updates - first_touches: every update but the first of an
   element reads the old value; the first finds none to read.
   fills = entries - first_touches (0 at the backing store): an element that re-enters
   after being drained brings its partial sum back from the parent; a first entry starts
   from zero.
6. capacity = the largest data tile of T over instances and steps (elements);
   instances = the instances whose data tile of T is non-empty at some step.
7. Compute: operations = operation points; steps = compute steps with at least one
   operation (the cycles of an ideal machine); instances = compute instances that operate.
8. Energy, per action: sum over instances of ceil(count_i * element bits / access bits)
   (ceil(count_i / block_size) when a word holds one element) * pJ per access
   (``counts.action_energy``); compute energy = operations * pJ per operation.

Sliding windows: which overlap is credited
------------------------------------------
When consecutive tiles of a level overlap only in part (the input halo of a convolution,
``Inputs[p + r]``), only the new part enters (rule 1): accelsim credits the exact overlap of
consecutive tiles, whichever loop advanced.  Timeloop credits overlap only while the tile
keeps translating by the same stride: when an outer loop advances above a level boundary and
the tile jumps by a different stride, it drops the residue and refills the whole tile (in
short, overlap is credited only along the innermost non-unit loop above the boundary;
Timeloop issue #295).  At each step Timeloop's count is either accelsim's or the whole tile,
so accelsim's is never larger.  The two agree whenever consecutive tiles are identical or
disjoint -- every projection whose dimensions are single ranks (GEMM, attention, nearly every
Transformer Einsum) and every tutorial case -- and differ only for sliding windows that cross
an outer-loop step (tests/cost/test_oracle_hand.py::test_sliding_window_rule works one
through: 10 fills against Timeloop's 12).  accelsim keeps the exact rule because (a) it is an
element-level definition the oracle walks with no notion of strides, so a fast kernel is
checked against a definition rather than against a heuristic; (b) it is what a buffer that
holds one tile and keeps the overlap (a line buffer) achieves; (c) the difference is confined
to sliding-window convolutions, which are rare in accelsim's Transformer workloads.

Not modelled here: transfers between neighbouring instances (Timeloop's link transfers),
distributed multicast, network and leakage energy, bandwidth and latency.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from accelsim.cost.counts import (ActionCounts, ComputeCounts, Counts, TensorCounts,
                                  action_energy)
from accelsim.cost.nest import LoopNest, Tensor
from accelsim.errors import CapacityError

Point = tuple[int, ...]
"""An operation point: one index per rank, in the problem's rank order."""
Element = tuple[int, ...]
"""A tensor element: one coordinate per tensor dimension."""


@dataclass(frozen=True)
class _Walk:
    """The tiles of one level (or of compute) at every step and instance."""

    steps: int
    instances: tuple[tuple[int, ...], ...]
    """Instance coordinates: indices of the spatial loops above, in loop order."""
    tiles: tuple[tuple[frozenset[Point], ...], ...]
    """``tiles[step][instance]``: the operation points of that tile (empty when idle)."""


@dataclass(frozen=True)
class _Residency:
    """How one tensor moves into one level instance over the level's steps."""

    entries: tuple[frozenset[Element], ...]
    """Per step: the elements that enter (empty when idle or when nothing new is needed)."""
    held_ever: frozenset[Element]
    """Every element the instance holds at some step."""
    largest: int
    """The largest data tile (elements)."""


def count(nest: LoopNest, *, check_capacity: bool = True) -> Counts:
    """Count every read, fill and update of ``nest`` by walking it (see the module docstring).

    Raises :class:`~accelsim.errors.MappingError` for an invalid nest and, when
    ``check_capacity`` is set, :class:`~accelsim.errors.CapacityError` when the tiles a level
    keeps outgrow its capacity.
    """
    nest.validate()
    weights = _mixed_radix_weights(nest)
    depth = len(nest.levels)
    walks = [_walk(nest, weights, level) for level in range(depth + 1)]
    residencies = {}
    for level in range(depth + 1):
        kept = nest.problem.tensors if level == depth else [
            t for t in nest.problem.tensors if t.name in nest.levels[level].keeps]
        for tensor in kept:
            project = _projector(tensor, nest.problem.rank_names)
            residencies[level, tensor.name] = [
                _reside(walks[level], k, project, hold=level < depth)
                for k in range(len(walks[level].instances))]
    tensors = {}
    for level, name in residencies:
        if level < depth:
            tensors[nest.levels[level].name, name] = _tensor_counts(
                nest, walks, residencies, level, nest.problem.tensor(name))
    if check_capacity:
        _check_capacity(nest, tensors)
    return Counts(tensors=tensors, compute=_compute_counts(nest, walks[depth]))


def _mixed_radix_weights(nest: LoopNest) -> tuple[int, ...]:
    """Per loop: what one step of it adds to its rank's index (the product of the factors
    of the loops of the same rank listed inside it)."""
    weights = []
    for i, loop in enumerate(nest.loops):
        weight = 1
        for inner in nest.loops[i + 1:]:
            if inner.rank == loop.rank:
                weight *= inner.factor
        weights.append(weight)
    return tuple(weights)


def _walk(nest: LoopNest, weights: tuple[int, ...], level: int) -> _Walk:
    """Enumerate the tiles of ``level`` (``len(nest.levels)`` is compute)."""
    above = [i for i, loop in enumerate(nest.loops) if loop.level < level]
    inside = [i for i, loop in enumerate(nest.loops) if loop.level >= level]
    temporal = [i for i in above if not nest.loops[i].spatial]
    spatial = [i for i in above if nest.loops[i].spatial]
    instances = tuple(itertools.product(*(range(nest.loops[i].factor) for i in spatial)))
    tiles = []
    for step in itertools.product(*(range(nest.loops[i].factor) for i in temporal)):
        row = []
        for instance in instances:
            fixed = dict(zip(temporal, step)) | dict(zip(spatial, instance))
            row.append(_tile(nest, weights, fixed, inside))
        tiles.append(tuple(row))
    return _Walk(steps=len(tiles), instances=instances, tiles=tuple(tiles))


def _tile(nest: LoopNest, weights: tuple[int, ...], fixed: dict[int, int],
          inside: list[int]) -> frozenset[Point]:
    """The operation points reached by the loops ``inside`` with the loops ``fixed``."""
    ranks = nest.problem.rank_names
    sizes = [nest.problem.ranks[rank] for rank in ranks]
    position = {rank: r for r, rank in enumerate(ranks)}
    base = [0] * len(ranks)
    for i, index in fixed.items():
        base[position[nest.loops[i].rank]] += index * weights[i]
    points = []
    for indices in itertools.product(*(range(nest.loops[i].factor) for i in inside)):
        point = list(base)
        for i, index in zip(inside, indices):
            point[position[nest.loops[i].rank]] += index * weights[i]
        if all(p < size for p, size in zip(point, sizes)):
            points.append(tuple(point))
    return frozenset(points)


def _projector(tensor: Tensor, ranks: tuple[str, ...]) -> Callable[[Point], Element]:
    """A function from an operation point to the element of ``tensor`` it touches."""
    def project(point: Point) -> Element:
        return tensor.coordinate(dict(zip(ranks, point)))
    return project


def _reside(walk: _Walk, instance: int, project: Callable[[Point], Element],
            hold: bool) -> _Residency:
    """Rule 1: what enters one instance at each step, given what it holds."""
    held: frozenset[Element] = frozenset()
    ever: set[Element] = set()
    entries = []
    largest = 0
    for step in range(walk.steps):
        points = walk.tiles[step][instance]
        if not points:
            entries.append(frozenset())
            continue
        data = frozenset(project(point) for point in points)
        entries.append(data - held if hold else data)
        held = data if hold else frozenset()
        ever |= data
        largest = max(largest, len(data))
    return _Residency(tuple(entries), frozenset(ever), largest)


def _child(nest: LoopNest, level: int, tensor: str) -> int:
    """The nearest level below ``level`` that keeps ``tensor``, else compute."""
    inner = [i for i in nest.keepers(tensor) if i > level]
    return inner[0] if inner else len(nest.levels)


def _serve(nest: LoopNest, walks: list[_Walk], residencies: dict, level: int, tensor: str,
           merge: str) -> dict[tuple[int, ...], int]:
    """Rules 3-5: per instance of ``level``, the distinct (element, key) pairs entering its
    children per child step, where ``merge`` names the Level flag that merges siblings."""
    child = _child(nest, level, tensor)
    spatial = [loop for loop in nest.loops if loop.spatial and loop.level < child]
    mine = sum(1 for loop in spatial if loop.level < level)
    merged = [getattr(nest.levels[loop.level], merge) for loop in spatial[mine:]]
    child_walk = walks[child]
    served: dict[tuple[int, ...], int] = defaultdict(int)
    for step in range(child_walk.steps):
        keys: dict[tuple[int, ...], set] = defaultdict(set)
        for k, coords in enumerate(child_walk.instances):
            entering = residencies[child, tensor][k].entries[step]
            if not entering:
                continue
            key = tuple(None if m else c for m, c in zip(merged, coords[mine:]))
            keys[coords[:mine]].update((element, key) for element in entering)
        for parent_instance, pairs in keys.items():
            served[parent_instance] += len(pairs)
    return served


def _tensor_counts(nest: LoopNest, walks: list[_Walk], residencies: dict, level: int,
                   tensor: Tensor) -> TensorCounts:
    """Rules 4-6 for one (level, tensor) pair."""
    walk = walks[level]
    backing = nest.parent(tensor.name, level) is None
    served = _serve(nest, walks, residencies, level, tensor.name,
                    "spatial_reduction" if tensor.read_write else "multicast")
    per_instance = []
    for k, coords in enumerate(walk.instances):
        residency = residencies[level, tensor.name][k]
        entered = sum(len(e) for e in residency.entries)
        if tensor.read_write:
            first = len(residency.held_ever)
            updates = served.get(coords, 0)
            per_instance.append(ActionCounts(
                reads=updates - first, fills=0 if backing else entered - first,
                updates=updates, first_touches=first, temporal_reductions=updates - first))
        else:
            per_instance.append(ActionCounts(reads=served.get(coords, 0),
                                             fills=0 if backing else entered))
    kept = residencies[level, tensor.name]
    return TensorCounts(
        level=nest.levels[level].name, tensor=tensor.name, per_instance=tuple(per_instance),
        capacity=max(r.largest for r in kept),
        instances=sum(1 for r in kept if r.held_ever),
        energy=action_energy(tuple(per_instance), nest.levels[level], tensor))


def _compute_counts(nest: LoopNest, walk: _Walk) -> ComputeCounts:
    """Rule 7."""
    operations = sum(len(tile) for row in walk.tiles for tile in row)
    steps = sum(1 for row in walk.tiles if any(row))
    used = sum(1 for k in range(len(walk.instances)) if any(row[k] for row in walk.tiles))
    mesh_x, mesh_y = nest.compute.instances
    return ComputeCounts(name=nest.compute.name, operations=operations, steps=steps,
                         instances=used, available=mesh_x * mesh_y,
                         energy=operations * nest.compute.energy_per_op)


def _check_capacity(nest: LoopNest, tensors: dict[tuple[str, str], TensorCounts]) -> None:
    """Raise CapacityError when the largest tiles a level keeps outgrow its capacity."""
    for level in nest.levels:
        if level.capacity is None:
            continue
        need = {t: c.capacity for (name, t), c in tensors.items() if name == level.name}
        if sum(need.values()) > level.capacity:
            raise CapacityError(f"level {level.name!r}: tiles need {sum(need.values())} words "
                                f"({need}) but it holds {level.capacity}")
