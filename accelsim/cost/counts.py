"""Result types of the access counters: what a level instance and a compute level did.

Every counter (the pure-Python :mod:`~accelsim.cost.oracle` and the fast kernels that must
match it) returns a :class:`Counts`.  Counts are exact integers per level *instance*; totals,
per-instance means and energies are derived from them here, so that every counter turns counts
into energy the same way:

    energy(action) = sum over utilized instances of accesses(count_i) * pJ_per_access
    accesses(n) = ceil(n * element_bits / access_bits)   (= ceil(n / block_size) when a
                                                          word holds one element)

which is Timeloop/Accelergy's ``ceil(count / block) x energy per access x instances`` whenever
all utilized instances do the same work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from accelsim.cost.nest import ActionEnergy, Level, Tensor

ACTIONS = ("reads", "fills", "updates", "first_touches", "temporal_reductions")


@dataclass(frozen=True)
class ActionCounts:
    """Scalar (per-element) actions on one tensor at one level instance, or summed."""

    reads: int = 0
    """Elements read out: by the child level (fills, multicast counted once), by compute
    (one per operation) or, for a read-write tensor, the old partial sums read for an update."""
    fills: int = 0
    """Elements written in from the parent level (never counted at the backing store)."""
    updates: int = 0
    """Partial sums written in from the child level or compute (read-write tensors only)."""
    first_touches: int = 0
    """Distinct elements of a read-write tensor this instance ever holds: their first write
    needs neither a read of the old value nor a fill from the parent."""
    temporal_reductions: int = 0
    """Updates that add to a value already held: ``updates - first_touches``."""

    def __add__(self, other: "ActionCounts") -> "ActionCounts":
        return ActionCounts(*(getattr(self, a) + getattr(other, a) for a in ACTIONS))


@dataclass(frozen=True)
class TensorCounts:
    """What one level did with one tensor it keeps."""

    level: str
    tensor: str
    per_instance: tuple[ActionCounts, ...]
    """One entry per level instance (row-major over the spatial loops above the level),
    including instances the mapping never gives any of this tensor."""
    capacity: int
    """Utilized capacity: the largest tile of this tensor one instance holds (elements)."""
    instances: int
    """Utilized instances: those that hold a non-empty tile of this tensor at some step."""
    energy: ActionEnergy
    """Energy of all instances per action (pJ)."""

    @property
    def total(self) -> ActionCounts:
        """The counts summed over all instances."""
        out = ActionCounts()
        for counts in self.per_instance:
            out = out + counts
        return out

    @property
    def reads(self) -> int:
        return self.total.reads

    @property
    def fills(self) -> int:
        return self.total.fills

    @property
    def updates(self) -> int:
        return self.total.updates

    @property
    def first_touches(self) -> int:
        return self.total.first_touches

    @property
    def temporal_reductions(self) -> int:
        return self.total.temporal_reductions

    def mean(self, action: str) -> float:
        """The per-instance count Timeloop prints: the total over utilized instances."""
        return getattr(self.total, action) / max(self.instances, 1)


@dataclass(frozen=True)
class ComputeCounts:
    """What the compute level did."""

    name: str
    operations: int
    """Operations executed (clipped iterations excluded)."""
    steps: int
    """Temporal steps in which at least one compute instance operates: the cycles of an
    ideal machine with no bandwidth limits."""
    instances: int
    """Utilized compute instances: those that execute at least one operation."""
    available: int
    """Compute instances the hardware has (mesh_x * mesh_y)."""
    energy: float
    """operations * energy per operation (pJ)."""

    @property
    def utilization(self) -> float:
        """operations / (steps * available instances)."""
        return self.operations / (self.steps * self.available) if self.steps else 0.0


@dataclass(frozen=True)
class Counts:
    """All counts of one loop nest: one :class:`TensorCounts` per kept (level, tensor)."""

    tensors: Mapping[tuple[str, str], TensorCounts]
    compute: ComputeCounts

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", MappingProxyType(dict(self.tensors)))

    def __hash__(self) -> int:
        return hash((tuple(self.tensors.items()), self.compute))

    def __getitem__(self, key: tuple[str, str]) -> TensorCounts:
        """``counts['Buffer', 'Inputs']``; a KeyError names the pairs that exist."""
        try:
            return self.tensors[key]
        except KeyError:
            raise KeyError(f"{key!r} is not a kept (level, tensor); kept: "
                           f"{list(self.tensors)}") from None

    def level_energy(self, level: str) -> float:
        """Energy of one storage level over all tensors it keeps (pJ)."""
        return sum(t.energy.total for (name, _), t in self.tensors.items() if name == level)

    @property
    def energy(self) -> float:
        """Total energy: every storage level plus compute (pJ); no leakage, no network."""
        return sum(t.energy.total for t in self.tensors.values()) + self.compute.energy


def action_energy(per_instance: tuple[ActionCounts, ...], level: Level,
                  tensor: Tensor) -> ActionEnergy:
    """Energy of each action at ``level``: per instance, ceil(count x element bits / access
    bits) accesses (integer arithmetic, so no rounding error)."""
    element, access = level.access_bits(tensor)

    def charge(action: str, pj: float) -> float:
        return sum(-(-getattr(c, action) * element // access) for c in per_instance) * pj

    return ActionEnergy(read=charge("reads", level.energy.read),
                        fill=charge("fills", level.energy.fill),
                        update=charge("updates", level.energy.update))
