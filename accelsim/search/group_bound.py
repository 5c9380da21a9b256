"""Lower bounds for fused groups and cascades (accelsim.search.fusion).

* :func:`group_bound`, :func:`cascade_bound`: the least off-chip traffic of any mapping of
  a group (its intermediates on chip) or of a cascade under any fusion, from each Einsum's
  compulsory traffic and, for GEMM-like Einsums, the ski-slope bound of
  accelsim.search.bound with the on-chip tensors free.
* :class:`GroupFloor`: a floor under a group's energy, latency and traffic that the cascade
  search prunes candidate groups with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from accelsim.arch import Architecture
from accelsim.cost.footprint import projection_elements
from accelsim.errors import MappingError
from accelsim.ir import Cascade
from accelsim.mapping import BoundEinsum, einsum_problem
from accelsim.model.terms import (compute_plan, latency_s, operand_dtype, operations_pj,
                                  timed_pj)
from accelsim.search.bound import offchip_lower_bound

if TYPE_CHECKING:
    from accelsim.search.fusion import BoundCascade, FusedGroup


def footprint(projections, ranks: Mapping[str, int]) -> int:
    """Elements a tensor's index range covers when every rank runs over its whole size
    (the footprint of accelsim.cost.footprint for a tile that is the whole space)."""
    return projection_elements(projections, ranks, ranks)


def compulsory_bytes(bound: BoundEinsum, free: frozenset[str],
                     cascade: Cascade | None = None) -> float:
    """Bytes of every tensor of the Einsum not in ``free``, each moved once."""
    total = 0.0
    for tensor in einsum_problem(bound).tensors:
        if tensor.name in free:
            continue
        elements = footprint(tensor.dims, bound.ranks)
        if cascade is not None and tensor.name in cascade.tensors:
            elements = min(elements, math.prod(cascade.tensors[tensor.name].extents(
                bound.sizes)))
        total += elements * tensor.bytes_per_element
    return total


def einsum_bound(bound: BoundEinsum, capacity: float, free: frozenset[str],
                 cascade: Cascade | None = None) -> float:
    """Least off-chip bytes of one Einsum whose ``free`` tensors stay on chip: the
    ski-slope bound for GEMM-like Einsums (accelsim.search.bound), and at least every other
    tensor moved once (read, or written)."""
    try:
        slope = offchip_lower_bound(bound, capacity, "bytes", free)
    except MappingError:
        slope = 0.0
    return max(compulsory_bytes(bound, free, cascade), slope)


def group_bound(group: FusedGroup, capacity: float) -> float:
    """Least off-chip bytes of a fused group: the sum over members of :func:`einsum_bound`
    with the group's on-chip tensors free (its intermediates, what a member reads that
    another member wrote, and group inputs an earlier member read, which a mapping may
    keep for it).  Each member's nest moves its own data, so the sum bounds the group's
    traffic."""
    return sum(einsum_bound(group.bound(einsum), capacity,
                            group.held(einsum) | group.read_before(einsum), group.cascade)
               for einsum in group.einsums())


def cascade_bound(target: BoundCascade, capacity: float) -> float:
    """Least off-chip bytes of a cascade under any fusion: every intermediate may stay on
    chip, so each Einsum pays only for the cascade's inputs and outputs it touches, an
    input read by several Einsums once (by the first)."""
    whole = target.group(e.name for e in target.cascade.einsums)
    outputs = set(target.cascade.outputs)
    free = frozenset(e.name for e in target.cascade.einsums if e.name not in outputs)
    return sum(einsum_bound(whole.bound(e), capacity, free | whole.read_before(e),
                            target.cascade)
               for e in target.cascade.einsums)


class GroupFloor:
    """A lower bound on any mapping's energy, latency and off-chip traffic for a group,
    from each member's operations and compulsory traffic (cached per member): the search
    skips a candidate group that cannot beat the best partition found so far.

    * traffic: every tensor the member does not get on chip moved once (einsum_bound
      without the ski slope);
    * latency: the larger of that traffic over the backing store's bandwidth and, per
      compute unit, the members' operations at the unit's peak, plus one launch;
    * energy: the operations' energy plus the energy drawn per cycle (leakage, a chip's run
      power) over the latency floor (every other term is >= 0)."""

    def __init__(self, arch: Architecture):
        self.arch = arch
        self.members: dict[tuple, tuple] = {}

    def __call__(self, group: FusedGroup) -> dict[str, float]:
        traffic, energy = 0.0, 0.0
        units: dict[str, float] = {}
        for einsum in group.einsums():
            free = group.held(einsum) | group.read_before(einsum)
            key = (einsum.name, free)
            if key not in self.members:
                self.members[key] = self._member(group.bound(einsum), free, group.cascade)
            bytes_, pj, cycles = self.members[key]
            traffic += bytes_
            energy += pj
            for unit, c in cycles.items():
                units[unit] = units.get(unit, 0.0) + c
        top = self.arch.levels[0]
        floor = (max(units.values(), default=0.0) if self.arch.units_overlap
                 else sum(units.values()))
        if math.isfinite(top.read_bytes_per_cycle):
            floor = max(floor, traffic / top.read_bytes_per_cycle)
        return {"energy": energy + timed_pj(self.arch, floor)[1],
                "latency": latency_s(self.arch, floor), "traffic": traffic}

    def _member(self, bound: BoundEinsum, free: frozenset[str], cascade: Cascade):
        """(compulsory bytes, operations' pJ, cycles per unit at its peak)."""
        ops = bound.einsum.op_counts(bound.sizes).as_dict()
        pj, _ = operations_pj(self.arch, ops, dtype=operand_dtype(bound))
        cycles: dict[str, float] = {}
        if any(ops.values()):
            for c in compute_plan(self.arch, bound, ops).classes:
                cycles[c.unit.name] = cycles.get(c.unit.name, 0.0) + c.floor
        return compulsory_bytes(bound, free, cascade), pj, cycles
