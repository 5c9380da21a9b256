"""What an evaluation reports: per tensor and level traffic, per level use, the totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class TensorTraffic:
    """What one level did with one tensor (totals over instances)."""

    level: str
    tensor: str
    reads: int
    fills: int
    updates: int
    first_touches: int
    bytes: float
    """(reads + fills + updates) x bytes per element."""
    tile_elements: int
    instances: int
    energy_pj: float | None


@dataclass(frozen=True)
class LevelUse:
    """One level's totals: bytes, transfer cycles per instance, tile footprint, energy."""

    name: str
    read_bytes: float
    write_bytes: float
    cycles: float
    tile_bytes: float
    capacity_bytes: float
    double_buffered: bool
    energy_pj: float | None


@dataclass(frozen=True)
class Report:
    """The evaluation of one Einsum on one machine under one mapping."""

    einsum: str
    hardware: str
    mapping: str
    tensors: tuple[TensorTraffic, ...]
    levels: tuple[LevelUse, ...]
    ops: dict[str, int]
    compute_cycles: dict[str, float]
    """Cycles per compute unit."""
    cycles: float
    latency_s: float
    energy_pj: float
    energy_breakdown: dict[str, float]
    energy_missing: tuple[str, ...]
    utilization: float
    """Operations of the main unit / (its instances x throughput x the kernel's cycles): the
    share of the unit's peak the kernel achieves over its whole time, so a kernel that waits
    on transfers for half its time is at most 50 %.  An operation the unit performs as a
    sequence of several (an exponential as 6 MACs and an add on FuseMax's PEs:
    ``op_cycles``) counts as that many."""
    bottleneck: str
    offchip_bytes: float
    notes: tuple[str, ...] = field(default=())

    @property
    def energy_known(self) -> bool:
        """False where nothing was counted for want of published figures: the total then
        reads 0 pJ but is unknown."""
        return bool(self.energy_pj) or not self.energy_missing

    def to_dict(self) -> dict:
        """A JSON-serializable dict (numbers are plain ints and floats)."""
        out = asdict(self)
        out["tensors"] = [asdict(t) for t in self.tensors]
        out["levels"] = [asdict(lv) for lv in self.levels]
        return out
