"""The mapspace of one Einsum on one machine; candidate mappings as integer arrays.

A candidate is three arrays (no Python object per candidate):

* ``factors[s, r]``: the loop factor of rank ``r`` in *slot* ``s``.  Slot ``j < levels`` is
  level ``j``'s temporal loops; the other slots are the spatial loops of a level along one
  mesh axis (``slot_level``, ``slot_axis``), one factor per rank, whose product is at most
  that level's fan-out on that axis (``slot_limit``: the child's instances / the level's).
  Per rank, the factors multiply to the rank size (perfect) or to a padded size >= it
  (``imperfect``: the last tile is partial and clipped).
* ``perm[j]``: the order of level ``j``'s temporal loops, an index into ``perms``.
* ``keeps[j, t]``: whether level ``j`` keeps tensor ``t`` (level 0 keeps everything).

Within a level, temporal loops come in ``perm`` order, then the spatial loops (x, then y),
as :func:`accelsim.mapping.build_nest` orders the loops of a MappingSpec level.  Winners are
turned into a :class:`~accelsim.spec.mapping.MappingSpec` with :func:`to_mapping`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from accelsim.arch import Architecture
from accelsim.cost.fast import LevelArrays, ProblemArrays, encode_levels, encode_problem
from accelsim.dtypes import ROLES
from accelsim.errors import SpecError
from accelsim.mapping import BoundEinsum, build_nest
from accelsim.search.constraints import Constraints, LevelConstraint
from accelsim.spec.mapping import LevelMapping, MappingSpec, SpatialLoop, TemporalLoop

AXES = ("x", "y")
PAD_STEPS = (2, 4, 8, 16, 32, 64)
"""Imperfect factorization pads a rank up to a multiple of one of these (or of a fan-out)."""
MAX_PAD = 1.25
"""... when that multiple is at most this many times the rank size."""


class Candidates(NamedTuple):
    """A batch of candidate mappings (see the module docstring)."""

    factors: np.ndarray
    """(B, slots, ranks) int64."""
    perm: np.ndarray
    """(B, levels) int64, rows of ``MapSpace.perms``."""
    keeps: np.ndarray
    """(B, levels, tensors) bool."""

    def take(self, rows) -> "Candidates":
        return Candidates(self.factors[rows], self.perm[rows], self.keeps[rows])

    def __len__(self) -> int:  # type: ignore[override]
        return self.factors.shape[0]


class Slots(NamedTuple):
    """Where each slot's loops sit (see the module docstring)."""

    level: np.ndarray
    """(slots,) the level of the slot's loops."""
    axis: np.ndarray
    """(slots,) -1 for a temporal slot, else the mesh axis (0 x, 1 y)."""
    limit: np.ndarray
    """(slots,) the largest product of a spatial slot's factors (0 for temporal slots)."""


class FitArrays(NamedTuple):
    """What the numba capacity checks read to size the tiles a level keeps
    (accelsim.search.kernels.level_bytes) and compare them with its capacity."""

    dim_rank: np.ndarray
    """(tensors, dims, 2) the ranks of each tensor dimension (-1: none)."""
    dim_div: np.ndarray
    """(tensors, dims) each dimension's divisor (a block index)."""
    ndims: np.ndarray
    """(tensors,) how many dimensions each tensor has."""
    sizes: np.ndarray
    """(ranks,) the rank sizes."""
    bpe: np.ndarray
    """(tensors,) bytes per element."""
    cap: np.ndarray
    """(levels,) capacity in bytes."""


def concat(parts: list[Candidates]) -> Candidates:
    """One batch from several."""
    return Candidates(*(np.concatenate([getattr(p, f) for p in parts]) for f in Candidates._fields))


@dataclass(frozen=True, eq=False)
class MapSpace:
    """Everything a strategy needs to build, check and encode candidates."""

    bound: BoundEinsum
    arch: Architecture
    problem_arrays: ProblemArrays
    level_arrays: LevelArrays
    rank_names: tuple[str, ...]
    tensor_names: tuple[str, ...]
    sizes: np.ndarray
    slot_level: np.ndarray
    slot_axis: np.ndarray
    """-1 for a temporal slot, else the mesh axis (0 x, 1 y)."""
    slot_limit: np.ndarray
    """Largest product of a spatial slot's factors (0 for temporal slots)."""
    allowed: np.ndarray
    """(slots, ranks): the factor may be searched (not fixed, not forbidden)."""
    fixed: np.ndarray
    """(slots, ranks): a fixed factor, or 0."""
    remainder: np.ndarray
    """(ranks,): the slot that takes what the other slots leave of each rank."""
    pads: np.ndarray
    """(ranks, P): the sizes each rank may be padded to (0: unused); column 0 is the size."""
    perms: np.ndarray
    perm_ok: np.ndarray
    """(levels, len(perms)): orders the constraints allow."""
    keep_ok: np.ndarray
    keep_forced: np.ndarray
    relevant: np.ndarray
    """(tensors, ranks): the rank indexes the tensor."""
    capacity_bytes: np.ndarray
    bytes_per_element: np.ndarray
    windows: bool
    """Some projection is a sliding window or a block index (order pruning is then off)."""
    min_utilization: float
    imperfect: bool

    @property
    def n_levels(self) -> int:
        return len(self.arch.levels)

    @property
    def n_slots(self) -> int:
        return self.slot_level.shape[0]

    @property
    def n_ranks(self) -> int:
        return self.sizes.shape[0]

    @property
    def slots(self) -> Slots:
        return Slots(self.slot_level, self.slot_axis, self.slot_limit)

    @property
    def fit_arrays(self) -> FitArrays:
        p = self.problem_arrays
        return FitArrays(p.dim_rank, p.dim_div, p.ndims, self.sizes, self.bytes_per_element,
                         self.capacity_bytes)


def build_space(bound: BoundEinsum, arch: Architecture, constraints: Constraints) -> MapSpace:
    """The mapspace of ``bound`` on ``arch`` under ``constraints``."""
    probe = _probe_nest(bound, arch)
    problem = probe.problem
    ranks, tensors = problem.rank_names, problem.tensor_names
    sizes = np.array([problem.ranks[r] for r in ranks], np.int64)
    arrays = encode_problem(problem)
    slots = _slots(arch)
    slot_level, slot_axis, slot_limit = slots
    by_level = _constraints_by_level(arch, constraints)
    fixed = np.zeros((slot_level.shape[0], len(ranks)), np.int64)
    allowed = np.ones_like(fixed, dtype=np.bool_) & (sizes > 1)[None, :]
    for j, (i, lc) in by_level.items():
        _fix_level(j, f"levels[{i}]", lc, ranks, slots, fixed, allowed)
    allowed &= fixed == 0
    _no_merged_windows(arrays, arch, slot_level, slot_axis, allowed)
    perms = np.array(list(itertools.permutations(range(len(ranks)))),
                     np.int64).reshape(-1, len(ranks))
    perm_ok = np.ones((len(arch.levels), perms.shape[0]), np.bool_)
    keep_ok, keep_forced = _keep_options(bound, arch, tensors)
    for j, (i, lc) in by_level.items():
        if lc.order is not None:
            listed = [_rank(r, ranks, f"levels[{i}].order") for r in lc.order]
            perm_ok[j] = _orders_ok(perms, listed)
        if lc.keep is not None:
            _force_keep(j, f"levels[{i}].keep", lc.keep, tensors, arch, keep_ok, keep_forced)
    rel = np.array([[any(r in arrays.dim_rank[t, d] for d in range(arrays.ndims[t]))
                     for r in range(len(ranks))] for t in range(len(tensors))], np.bool_)
    remainder = _remainder_slots(sizes, len(arch.levels), slot_level, allowed, fixed, ranks,
                                 constraints.imperfect)
    return MapSpace(
        bound=bound, arch=arch, problem_arrays=arrays, level_arrays=encode_levels(probe),
        rank_names=ranks, tensor_names=tensors, sizes=sizes, slot_level=slot_level,
        slot_axis=slot_axis, slot_limit=slot_limit, allowed=allowed, fixed=fixed,
        remainder=remainder, pads=_pads(sizes, slot_limit, constraints.imperfect),
        perms=perms, perm_ok=perm_ok, keep_ok=keep_ok, keep_forced=keep_forced, relevant=rel,
        capacity_bytes=np.array([lv.capacity_bytes for lv in arch.levels], np.float64),
        bytes_per_element=np.array([t.bytes_per_element for t in problem.tensors], np.float64),
        windows=bool((arrays.dim_rank[:, :, 1] >= 0).any() or (arrays.dim_div > 1).any()),
        min_utilization=constraints.min_utilization, imperfect=constraints.imperfect)


def _probe_nest(bound: BoundEinsum, arch: Architecture):
    """A trivial nest (every rank at the outermost level) for the problem and level arrays."""
    loops = [TemporalLoop(rank=r, factor=max(s, 1)) for r, s in bound.ranks.items()]
    spec = MappingSpec(kind="mapping", version=1, name="probe", einsum=bound.einsum.name,
                       levels=[LevelMapping(level=arch.levels[0].name, temporal=loops)])
    return build_nest(bound, arch, spec)


def _slots(arch: Architecture) -> Slots:
    """One temporal slot per level, then one spatial slot per (level, axis) with fan-out."""
    n = len(arch.levels)
    levels, axes, limits = list(range(n)), [-1] * n, [0] * n
    meshes = arch.meshes()
    for j in range(len(arch.levels)):
        for a in range(2):
            # a fan-out must also fit the compute mesh below every level (a level may have
            # more instances than the MAC unit, as a vector unit's buffer beside it does)
            limit = min(meshes[j + 1][a], meshes[-1][a]) // max(meshes[j][a], 1)
            if limit >= 2:
                levels.append(j)
                axes.append(a)
                limits.append(limit)
    return Slots(np.array(levels, np.int64), np.array(axes, np.int64), np.array(limits, np.int64))


def _constraints_by_level(arch: Architecture, constraints: Constraints):
    names = [lv.name for lv in arch.levels]
    found: dict[int, tuple[int, LevelConstraint]] = {}
    for i, lc in enumerate(constraints.levels):
        if lc.level not in names:
            raise SpecError(f"unknown level {lc.level!r}; the levels of {arch.name} are "
                            f"{', '.join(names)}", path=f"levels[{i}].level")
        if names.index(lc.level) in found:
            raise SpecError(f"level {lc.level!r} is constrained twice", path=f"levels[{i}].level")
        found[names.index(lc.level)] = (i, lc)
    return found


def _rank(name: str, ranks: tuple[str, ...], where: str) -> int:
    for r, rank in enumerate(ranks):
        if rank == name or rank.lower() == name.lower():
            return r
    raise SpecError(f"unknown rank {name!r}; the Einsum's ranks are {', '.join(ranks)}",
                    path=where)


def _fix_level(j, where, lc, ranks, slots: Slots, fixed, allowed) -> None:
    """Fix the factors level ``j``'s constraint ``lc`` gives (in ``fixed``) and forbid
    searching its spatial slots when it lists their loops (in ``allowed``)."""
    slot_level, slot_axis, slot_limit = slots
    for name, factor in lc.factors.items():
        fixed[j, _rank(name, ranks, f"{where}.factors")] = factor
    if lc.spatial is None:
        return
    own = {int(slot_axis[s]): s for s in np.flatnonzero(slot_level == j) if slot_axis[s] >= 0}
    for s in own.values():
        allowed[s, :] = False
    for k, loop in enumerate(lc.spatial):
        axis = AXES.index(loop.axis)
        if axis not in own:
            raise SpecError(f"level has no fan-out along {loop.axis}", path=f"{where}.spatial[{k}]")
        s = own[axis]
        fixed[s, _rank(loop.rank, ranks, f"{where}.spatial[{k}].rank")] = loop.factor
        used = int(np.prod(np.maximum(fixed[s], 1)))
        if used > slot_limit[s]:
            raise SpecError(f"{used} instances along {loop.axis}, the fan-out is {slot_limit[s]}",
                            path=f"{where}.spatial[{k}].factor")


def _no_merged_windows(arrays: ProblemArrays, arch: Architecture, slot_level, slot_axis,
                       allowed) -> None:
    """Forbid spatial loops the kernels cannot count: over a rank of a sliding-window or
    block-index dimension, below a network that merges (multicast, spatial reduction)."""
    for s in np.flatnonzero(slot_axis >= 0):
        level = arch.levels[slot_level[s]]
        for t in range(arrays.ndims.shape[0]):
            if not (level.spatial_reduction if arrays.read_write[t] else level.multicast):
                continue
            for d in range(arrays.ndims[t]):
                if arrays.dim_rank[t, d, 1] >= 0 or arrays.dim_div[t, d] > 1:
                    for r in arrays.dim_rank[t, d]:
                        if r >= 0:
                            allowed[s, r] = False


def _orders_ok(perms: np.ndarray, listed: list[int]) -> np.ndarray:
    position = np.argsort(perms, axis=1)
    ok = np.ones(perms.shape[0], np.bool_)
    for a, b in zip(listed, listed[1:]):
        ok &= position[:, a] < position[:, b]
    return ok


def _keep_options(bound: BoundEinsum, arch: Architecture, tensors: tuple[str, ...]):
    ok = np.array([[j == 0 or lv.may_keep(t, bound.roles.get(t, "input")) for t in tensors]
                   for j, lv in enumerate(arch.levels)], np.bool_)
    forced = np.zeros_like(ok)
    forced[0] = True
    return ok, forced


def _force_keep(j, where, names, tensors, arch, ok, forced) -> None:
    for name in names:
        if name not in tensors:
            raise SpecError(f"unknown tensor {name!r}; the Einsum touches {', '.join(tensors)}",
                            path=where)
        if not ok[j, tensors.index(name)]:
            raise SpecError(f"level {arch.levels[j].name!r} cannot keep {name!r} (the hardware "
                            "bypasses it there)", path=where)
    if j == 0:
        return
    ok[j] = [t in names for t in tensors]
    forced[j] = ok[j]


def _remainder_slots(sizes, n_levels, slot_level, allowed, fixed, ranks, imperfect) -> np.ndarray:
    """Per rank, the outermost free temporal slot (-1 when every factor is fixed)."""
    out = np.zeros(sizes.shape[0], np.int64)
    for r, size in enumerate(sizes.tolist()):
        temporal = [s for s in range(n_levels) if allowed[s, r]]
        fixed_product = int(np.prod(np.maximum(fixed[:, r], 1)))
        if temporal:
            out[r] = min(temporal, key=lambda s: slot_level[s])
            if size % fixed_product and not imperfect:
                raise SpecError(f"fixed factors of rank {ranks[r]!r} multiply to {fixed_product}, "
                                f"which does not divide its size {size}", path="levels")
        elif fixed_product != size and (fixed_product < size or not imperfect):
            raise SpecError(f"fixed factors of rank {ranks[r]!r} multiply to {fixed_product}, "
                            f"not its size {size}, and no level is left to take the rest",
                            path="levels")
        else:
            out[r] = -1
    return out


def _pads(sizes: np.ndarray, slot_limit: np.ndarray, imperfect: bool) -> np.ndarray:
    options = []
    for size in sizes.tolist():
        found = [size]
        if imperfect:
            steps = sorted(set(PAD_STEPS) | {int(x) for x in slot_limit if x > 1})
            for q in steps:
                padded = -(-size // q) * q
                if padded not in found and padded <= MAX_PAD * size:
                    found.append(padded)
        options.append(found[:4])
    width = max(len(o) for o in options)
    return np.array([o + [0] * (width - len(o)) for o in options], np.int64)


def to_mapping(space: MapSpace, cands: Candidates, i: int, name: str,
               description: str = "") -> MappingSpec:
    """Candidate ``i`` of ``cands`` as a MappingSpec (every level listed, with its keeps)."""
    levels = []
    factors, order, keeps = cands.factors[i], space.perms[cands.perm[i]], cands.keeps[i]
    for j, lv in enumerate(space.arch.levels):
        temporal = [TemporalLoop(rank=space.rank_names[r], factor=int(factors[j, r]))
                    for r in order[j] if factors[j, r] > 1]
        spatial = [SpatialLoop(rank=space.rank_names[r], factor=int(factors[s, r]),
                               axis=AXES[space.slot_axis[s]])
                   for s in np.flatnonzero((space.slot_level == j) & (space.slot_axis >= 0))
                   for r in range(space.n_ranks) if factors[s, r] > 1]
        keep = None if j == 0 else [t for k, t in enumerate(space.tensor_names) if keeps[j, k]]
        levels.append(LevelMapping(level=lv.name, temporal=temporal, spatial=spatial, keep=keep))
    return MappingSpec(kind="mapping", version=1, name=name, description=description,
                       einsum=space.bound.einsum.name, levels=levels,
                       roles={t: r for t, r in space.bound.roles.items()
                              if r in ROLES})


def padded_product(factors: np.ndarray) -> np.ndarray:
    """(B, ranks): the product of each rank's factors over all slots."""
    return np.prod(factors, axis=1)


def covers(space: MapSpace, factors: np.ndarray) -> np.ndarray:
    """Rows whose factors cover every rank (exactly, unless the space is imperfect)."""
    product = padded_product(factors)
    if space.imperfect:
        return (product >= space.sizes[None, :]).all(axis=1)
    return (product == space.sizes[None, :]).all(axis=1)


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` in increasing order."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]
