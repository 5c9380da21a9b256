"""The machine in working units, built from a validated :class:`~accelsim.spec.HardwareSpec`.

Specs speak in quantities with units; the cost model wants plain numbers: capacities
in bytes, bandwidths in bytes per cycle, energies in pJ per access of one block.
This layer does those conversions once, resolves which tensors each level may keep
(by name or by role), and names the level a reader should look at when a number is
missing (no bandwidth: unlimited; no energy figure: left out, and said so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from accelsim.errors import SpecError
from accelsim.spec.hardware import HardwareSpec, LevelSpec
from accelsim.units import Quantity


@dataclass(frozen=True)
class ArchLevel:
    """One storage level in working units (per instance)."""

    name: str
    capacity_bytes: float
    """Bytes one instance holds; ``math.inf`` for an unbounded backing store."""
    word_bits: int
    block_words: int
    read_bytes_per_cycle: float
    """Read bandwidth of one instance; ``math.inf`` when the spec gives none."""
    write_bytes_per_cycle: float
    """Write (fill and update) bandwidth of one instance; defaults to the read bandwidth."""
    read_pj: float | None
    """Energy of one block read, pJ; None when the spec gives no figure."""
    fill_pj: float | None
    update_pj: float | None
    instances: tuple[int, int]
    """(mesh_x, mesh_y); a 1-D level is (n, 1)."""
    keep: frozenset[str] | None
    """Names or roles this level may hold; None for all."""
    bypass: frozenset[str]
    multicast: bool
    spatial_reduction: bool
    double_buffer: bool
    grid: bool = False
    """The fan-out into this level may exceed its instances (LevelSpec.grid)."""

    @property
    def fanout(self) -> int:
        return self.instances[0] * self.instances[1]

    @property
    def has_energy(self) -> bool:
        return self.read_pj is not None

    def may_keep(self, tensor: str, role: str) -> bool:
        """Whether this level may hold ``tensor`` (whose role is ``role``)."""
        if tensor in self.bypass or role in self.bypass:
            return False
        return self.keep is None or tensor in self.keep or role in self.keep


@dataclass(frozen=True)
class ComputeUnit:
    """A compute unit in working units."""

    name: str
    ops: frozenset[str]
    instances: tuple[int, int]
    ops_per_cycle: Mapping[str, float]
    """Operations per cycle per unit, by element type."""
    op_cycles: Mapping[str, float]
    energy_pj: Mapping[str, float]

    @property
    def count(self) -> int:
        return self.instances[0] * self.instances[1]


LAUNCH_MODES = ("async", "sync")
"""Per-kernel overhead modes: kernels launched back to back into one stream (``async``,
HardwareSpec.launch_overhead), or each launch followed by a synchronize (``sync``,
HardwareSpec.sync_overhead)."""


@dataclass(frozen=True)
class Architecture:
    """A machine: storage levels outer to inner, compute units and clock."""

    name: str
    family: str
    clock_hz: float
    levels: tuple[ArchLevel, ...]
    compute: tuple[ComputeUnit, ...]
    leakage_pj_per_cycle: float
    launch_overhead_s: float
    file: str | None = None
    run_power_w: float | None = None
    """The whole chip's power while running (HardwareSpec.run_power); when set, it is also
    ``leakage_pj_per_cycle`` (power / clock) and the only energy counted."""
    threads_per_sm: int | None = None
    """GPUs: the most threads resident on one SM (HardwareSpec.threads_per_sm)."""
    units_overlap: bool = True
    """Whether the compute units run at once (HardwareSpec.units_overlap); else they add."""
    sync_overhead_s: float | None = None
    """Time per kernel when the host synchronizes after each (HardwareSpec.sync_overhead)."""
    launch_mode: str = "async"
    """Which per-kernel overhead ``launch_overhead_s`` holds (:data:`LAUNCH_MODES`)."""

    @property
    def launch_pj(self) -> float:
        """Energy of one launch's overhead: the chip's run power over it (0 without one)."""
        return (self.run_power_w or 0.0) * self.launch_overhead_s * 1e12

    def in_launch_mode(self, mode: str) -> "Architecture":
        """This machine with ``launch_overhead_s`` the per-kernel overhead of ``mode``:
        ``async`` (back to back into one stream) or ``sync`` (a synchronize after each)."""
        if mode not in LAUNCH_MODES:
            raise SpecError(f"unknown launch mode {mode!r}; expected one of "
                            f"{', '.join(LAUNCH_MODES)}", file=self.file)
        if mode == self.launch_mode:
            return self
        if mode == "sync" and self.sync_overhead_s is None:
            raise SpecError(f"launch mode 'sync' needs the time per synchronized launch; "
                            f"{self.name} gives none (expected e.g. 'sync_overhead: 9.65 us')",
                            file=self.file, path="sync_overhead")
        return replace(self, launch_mode=mode, launch_overhead_s=self.sync_overhead_s)

    @classmethod
    def from_spec(cls, spec: HardwareSpec, file: str | None = None) -> "Architecture":
        clock = spec.clock.value
        levels = tuple(_level(lv, clock, file, f"levels[{i}]") for i, lv in enumerate(spec.levels))
        compute = tuple(
            ComputeUnit(name=c.name, ops=frozenset(c.ops), instances=_mesh(c.instances),
                        ops_per_cycle=dict(c.throughput), op_cycles=dict(c.op_cycles),
                        energy_pj={k: v.value * 1e12 for k, v in c.energy.items()})
            for c in spec.compute
        )
        run_w = spec.run_power.value if spec.run_power is not None else None
        leakage = spec.leakage_per_cycle.value if run_w is None else run_w / clock
        return cls(name=spec.name, family=spec.family, clock_hz=clock, levels=levels,
                   compute=compute, leakage_pj_per_cycle=leakage * 1e12,
                   launch_overhead_s=spec.launch_overhead.value, file=file, run_power_w=run_w,
                   threads_per_sm=spec.threads_per_sm, units_overlap=spec.units_overlap,
                   sync_overhead_s=(spec.sync_overhead.value
                                    if spec.sync_overhead is not None else None))

    def level_index(self, name: str) -> int:
        """Index of the level called ``name``; an error lists the valid names."""
        for i, level in enumerate(self.levels):
            if level.name == name:
                return i
        raise SpecError(f"unknown level {name!r}; the levels of {self.name} are "
                        f"{', '.join(lv.name for lv in self.levels)}", file=self.file)

    def meshes(self) -> list[tuple[int, int]]:
        """The widest fan-out each level, then the MAC unit, may receive as (x, y): its
        instances, or GRID_ROUNDS times as many along x at and below a ``grid`` level
        (the blocks then run in rounds: accelsim.model.terms_kernels.dealt)."""
        mac = self.unit_for("mac") or self.compute[0]
        out, rounds = [], 1
        for level in self.levels:
            rounds = GRID_ROUNDS if level.grid else rounds
            out.append((level.instances[0] * rounds, level.instances[1]))
        out.append((mac.instances[0] * rounds, mac.instances[1]))
        return out

    def unit_for(self, op: str) -> ComputeUnit | None:
        """The first compute unit that executes operation class ``op``."""
        return next((unit for unit in self.compute if op in unit.ops), None)

    def keepers(self, tensor: str, role: str) -> tuple[int, ...]:
        """Indices of the levels that may hold ``tensor``; the outermost always does."""
        found = tuple(i for i, lv in enumerate(self.levels) if i == 0 or lv.may_keep(tensor, role))
        return found


GRID_ROUNDS = 64
"""Most rounds a grid level's instances may run (bounds the mappings searched)."""


def _mesh(instances: Iterable[int]) -> tuple[int, int]:
    values = list(instances)
    return (values[0], values[1]) if len(values) == 2 else (values[0], 1)


def _bytes_per_cycle(q: Quantity | None, clock_hz: float) -> float:
    if q is None:
        return math.inf
    return q.value if q.per_cycle else q.value / clock_hz


def _access_pj(q: Quantity | None, bits_per_access: int) -> float | None:
    """pJ per block access; a per-bit figure is scaled by the bits in one block."""
    if q is None:
        return None
    joules = q.value * bits_per_access / 8 if q.per_bit else q.value
    return joules * 1e12


def _level(spec: LevelSpec, clock_hz: float, file: str | None, path: str) -> ArchLevel:
    read_bw = _bytes_per_cycle(spec.read_bandwidth, clock_hz)
    write_bw = _bytes_per_cycle(spec.write_bandwidth, clock_hz) if spec.write_bandwidth else read_bw
    bits = spec.word_bits * spec.block_words
    energy = spec.energy
    read_pj = _access_pj(energy.read, bits) if energy else None
    fill_pj = _access_pj(energy.fill, bits) if energy and energy.fill else read_pj
    update_pj = _access_pj(energy.update, bits) if energy and energy.update else fill_pj
    if spec.capacity is not None and spec.capacity.value * 8 < spec.word_bits:
        raise SpecError(f"capacity {spec.capacity} holds less than one {spec.word_bits}-bit word",
                        file=file, path=f"{path}.capacity")
    return ArchLevel(
        name=spec.name,
        capacity_bytes=spec.capacity.value if spec.capacity is not None else math.inf,
        word_bits=spec.word_bits, block_words=spec.block_words,
        read_bytes_per_cycle=read_bw, write_bytes_per_cycle=write_bw,
        read_pj=read_pj, fill_pj=fill_pj, update_pj=update_pj,
        instances=_mesh(spec.instances),
        keep=frozenset(spec.keep) if spec.keep is not None else None,
        bypass=frozenset(spec.bypass), multicast=spec.multicast,
        spatial_reduction=spec.spatial_reduction, double_buffer=spec.double_buffer,
        grid=spec.grid,
    )


def load_architecture(path: str) -> Architecture:
    """Read, validate and convert a hardware spec file."""
    from accelsim.spec.load import load_spec

    return Architecture.from_spec(load_spec(path, kind="hardware"), file=str(path))
