"""``kind: hardware``: storage levels (outer to inner), compute units and a clock."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from accelsim.cost.nest import MULTICAST, SPATIAL_REDUCTION
from accelsim.spec.fields import (AccessEnergy, Bandwidth, Capacity, Count, Energy, Frequency,
                                  Name, Power, SpecModel, Time)

OP_CLASSES = ("mac", "add", "max", "exp", "divide", "elementwise")
"""Operation classes that compute units execute (see the cascade IR's op counts)."""


class ActionEnergy(SpecModel):
    """Energy of one access of a level, per action; per access of a block or per bit."""

    read: AccessEnergy
    """Energy to read one block (or one bit, with a '/bit' unit) for the level below."""
    fill: Optional[AccessEnergy] = None
    """Energy to write one block (or bit) arriving from the level above; defaults to ``read``."""
    update: Optional[AccessEnergy] = None
    """Energy to write one block (or bit) of partial sums from below; defaults to ``fill``."""


class LevelSpec(SpecModel):
    """One storage level; its ``instances`` are the spatial fan-out of the hierarchy."""

    name: Name
    """Level name, referenced by mappings (e.g. 'HBM', 'SMEM', 'GLB')."""
    capacity: Optional[Capacity] = None
    """Capacity of one instance (e.g. '228 KiB'); omit for an unbounded backing store."""
    word_bits: Count = Field(default=8, le=4096)
    """Bits in one word of this level (the element width it is organized in)."""
    block_words: Count = Field(default=1, le=1 << 20)
    """Words moved per access (a wide SRAM port or a DRAM burst)."""
    read_bandwidth: Optional[Bandwidth] = None
    """Read bandwidth of one instance (e.g. '3.35 TB/s' or '256 bit/cycle'); omit for unlimited."""
    write_bandwidth: Optional[Bandwidth] = None
    """Write (fill + update) bandwidth of one instance; defaults to the read bandwidth."""
    energy: Optional[ActionEnergy] = None
    """Energy per access for each action; omit where no public figure exists (reports then
    say that their energy leaves this level out rather than counting it as zero)."""
    instances: list[Count] = Field(default=[1], min_length=1, max_length=2)
    """Number of instances, as [n] or a 2-D mesh [mesh_x, mesh_y]."""
    keep: Optional[list[Name]] = None
    """Tensors (by name or role: input, weight, output, intermediate) this level may hold; omit for all."""
    bypass: list[Name] = []
    """Tensors (by name or role) that must not be held here."""
    multicast: bool = MULTICAST
    """Whether the network below this level delivers one read to several children."""
    spatial_reduction: bool = SPATIAL_REDUCTION
    """Whether the network below this level sums partial results of several children."""
    double_buffer: bool = True
    """Whether transfers into this level can overlap compute (needs room for two tiles)."""
    grid: bool = False
    """Whether the fan-out into this level may exceed its instances: the mapping's blocks
    are dealt out whole, each instance running its share in rounds (a GPU's thread blocks
    over its SMs: ceil(blocks / SMs) on the busiest).  Levels and units below follow."""

    @field_validator("instances", mode="before")
    @classmethod
    def _scalar_instances(cls, value):
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def fanout(self) -> int:
        """Total number of instances."""
        n = 1
        for x in self.instances:
            n *= x
        return n


class ComputeSpec(SpecModel):
    """A compute unit (MAC array, vector unit, special-function unit) and what it executes."""

    name: Name
    """Unit name (e.g. 'tensor_core', 'vector')."""
    ops: list[Literal["mac", "add", "max", "exp", "divide", "elementwise"]] = Field(min_length=1)
    """Operation classes this unit executes."""
    instances: list[Count] = Field(default=[1], min_length=1, max_length=2)
    """Number of units, as [n] or a 2-D array [rows, cols]."""
    throughput: dict[str, float] = Field(min_length=1)
    """Operations per cycle per unit, by element type (e.g. {fp16: 1024, fp32: 64})."""
    op_cycles: dict[Literal["mac", "add", "max", "exp", "divide", "elementwise"], float] = {}
    """Cycles one operation of a class occupies relative to one MAC slot (e.g. exp: 6)."""
    energy: dict[Literal["mac", "add", "max", "exp", "divide", "elementwise"], Energy] = {}
    """Energy per operation, by class (e.g. {mac: '0.2 pJ'})."""

    @field_validator("instances", mode="before")
    @classmethod
    def _scalar_instances(cls, value):
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("throughput")
    @classmethod
    def _positive_throughput(cls, value: dict[str, float]) -> dict[str, float]:
        from accelsim.dtypes import DTYPES

        for dtype, ops in value.items():
            if dtype not in DTYPES:
                raise ValueError(f"unknown element type {dtype!r}; expected one of {', '.join(DTYPES)}")
            if not (0 < ops < 1e15):
                raise ValueError(f"throughput for {dtype} must be a positive number, got {ops!r}")
        return value


class HardwareSpec(SpecModel):
    """A machine: storage levels outer to inner, compute units, a clock."""

    kind: Literal["hardware"]
    """Document type."""
    version: Literal[1]
    """Format version."""
    name: Name
    """Preset name."""
    description: str = ""
    """What the machine is and where its numbers come from."""
    family: Literal["gpu", "spatial", "mcu", "npu", "cpu", "generic"] = "generic"
    """Hardware family; selects family-specific effects in the model."""
    clock: Frequency
    """Clock frequency (e.g. '1.83 GHz')."""
    levels: list[LevelSpec] = Field(min_length=1)
    """Storage levels, outer (backing store) to inner (next to compute)."""
    compute: list[ComputeSpec] = Field(min_length=1)
    """Compute units."""
    leakage_per_cycle: Energy = Field(default="0 pJ")
    """Static energy per clock cycle of the whole machine."""
    run_power: Optional[Power] = None
    """Power the whole chip draws while it runs: a datasheet's run-mode supply current times
    its supply voltage (microcontrollers). Energy is then this power times the time taken; it
    already counts the memories and the core, so no level or compute unit may give its own
    energy, and ``leakage_per_cycle`` stays 0."""
    launch_overhead: Time = Field(default="0 s")
    """Fixed time per kernel launch (GPUs), kernels launched back to back into one stream
    (launch mode ``async``, the default)."""
    sync_overhead: Optional[Time] = None
    """Fixed time per kernel when the host synchronizes after every launch (launch mode
    ``sync``: a launch, then a wait for the kernel to finish, as a timing loop that
    synchronizes each call does)."""
    units_overlap: bool = True
    """Whether a kernel's compute units run at once. False where one instruction stream
    feeds them all and a kernel's phases take turns (an SM's warps issue tensor-core,
    CUDA-core and special-function instructions; without warp specialization the matmul
    and softmax of an attention block run one after the other): their cycles then add."""
    threads_per_sm: Optional[Count] = Field(default=None, le=1 << 16)
    """GPUs: the most threads resident on one SM at once (the CUDA programming guide's table
    per compute capability); bounds the loads in flight of a launched kernel."""

    @model_validator(mode="after")
    def _whole_chip_power(self) -> "HardwareSpec":
        if self.run_power is None:
            return self
        if self.run_power.value <= 0:
            raise ValueError(f"run_power must be positive, got {self.run_power.text!r}")
        if self.leakage_per_cycle.value:
            raise ValueError("leakage_per_cycle: run_power already counts the whole chip; leave "
                             "leakage_per_cycle out")
        for what, items in (("levels", self.levels), ("compute", self.compute)):
            for i, item in enumerate(items):
                if item.energy:
                    raise ValueError(f"{what}[{i}].energy: run_power already counts "
                                     f"{item.name!r}; leave its energy out")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> "HardwareSpec":
        for what, items in (("levels", self.levels), ("compute", self.compute)):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.name in seen:
                    raise ValueError(f"{what}[{i}].name: duplicate name {item.name!r}")
                seen.add(item.name)
        return self
