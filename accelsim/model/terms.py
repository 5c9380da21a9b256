"""Which unit runs what, at what rate and energy: the machine-side inputs of the cost terms.

The arithmetic itself lives in :mod:`accelsim.model.terms_kernels`; this module reads the
architecture (units, rates, energies, the SMs' ports) and hands plain numbers to it.  The
exact model, the batch model, the group floor and the fusion estimate all take their
compute terms, operation energy and port figures from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from accelsim.arch import Architecture, ComputeUnit
from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.errors import SpecError
from accelsim.mapping import BoundEinsum
from accelsim.model import terms_kernels as tk

IR_TO_UNIT = {"mac": "mac", "mul": "elementwise", "add": "add", "max": "max", "exp": "exp",
              "divide": "divide", "other": "elementwise"}
"""IR operation class -> the hardware unit class that executes it."""

TIMED_ENERGY = ("leakage", "run power")
"""Energy-breakdown entries drawn per cycle: they scale with a kernel's time."""


def unit_for(arch: Architecture, ir_class: str, dtype: str | None = None) -> ComputeUnit:
    """The unit that executes IR operation class ``ir_class`` (falling back to the MAC
    units): the first that lists a rate for element type ``dtype``, else the first.  An
    fp32 GEMM on a GPU runs on the CUDA cores (which list fp32), not on tensor cores that
    list only narrower types."""
    able = ([u for u in arch.compute if IR_TO_UNIT[ir_class] in u.ops]
            or [u for u in arch.compute if "mac" in u.ops])
    if not able:
        raise SpecError(f"no compute unit of {arch.name} executes {ir_class!r} operations",
                        file=arch.file, path="compute")
    return next((u for u in able if dtype in u.ops_per_cycle), able[0])


def rate_type(unit: ComputeUnit, dtype: str) -> str:
    """The element type whose rate ``unit`` runs ``dtype`` at: ``dtype`` itself when the
    unit lists it, else the narrowest wider type of the same kind (float or integer) it
    lists (bf16 on a core with only an fp32 FPU computes in fp32), failing that the widest
    narrower type of that kind, and failing that its first listed type."""
    rates = unit.ops_per_cycle
    if dtype in rates:
        return dtype
    size = BYTES_PER_ELEMENT.get(dtype, 4)
    same = [d for d in rates if d.startswith("int") == dtype.startswith("int")]
    wider = [d for d in same if BYTES_PER_ELEMENT.get(d, 4) >= size]
    if wider:
        return min(wider, key=lambda d: BYTES_PER_ELEMENT.get(d, 4))
    if same:
        return max(same, key=lambda d: BYTES_PER_ELEMENT.get(d, 4))
    return next(iter(rates))


def unit_rate(unit: ComputeUnit, dtype: str) -> float:
    """Operations per cycle per instance of ``unit`` on ``dtype`` (:func:`rate_type`)."""
    return unit.ops_per_cycle[rate_type(unit, dtype)]


def emulation_notes(plan: "ComputePlan", dtype: str) -> tuple[str, ...]:
    """Report notes for the units of ``plan`` that list no rate for ``dtype`` and run it at
    another type's rate."""
    found = {(c.unit.name, rate_type(c.unit, dtype)) for c in plan.classes
             if dtype not in c.unit.ops_per_cycle}
    return tuple(f"{unit}: no {dtype} rate listed; runs {dtype} at its {used} rate"
                 for unit, used in sorted(found))


def op_cycles(unit: ComputeUnit, ir_class: str) -> float:
    """Cycles one operation of ``ir_class`` takes on ``unit`` (1 unless it lists more)."""
    return unit.op_cycles.get(IR_TO_UNIT[ir_class], 1.0)


def operand_dtype(bound: BoundEinsum) -> str:
    """The element type an Einsum computes in: for a contraction (it multiplies and adds),
    the narrowest of its inputs' types, since a mixed-precision kernel casts the wider
    operand down before the multiply (FlashAttention's P in bf16 before P.V; an fp32
    accumulator cast to bf16 before the next GEMM); otherwise its first input's type."""
    types = [bound.dtypes.get(t, "fp32") for t in bound.einsum.inputs]
    if not types:
        return "fp32"
    if len(types) > 1 and bound.einsum.op_counts(bound.sizes).as_dict().get("mac"):
        return min(types, key=lambda d: BYTES_PER_ELEMENT.get(d, 4))
    return types[0]


def peak_cycles(unit: ComputeUnit, ir_class: str, n: float, dtype: str) -> float:
    """Cycles of ``n`` operations of IR class ``ir_class`` on ``unit`` at its peak (every
    instance busy; an operation costs its ``op_cycles``)."""
    return tk.peak_cycles(n, op_cycles(unit, ir_class), unit_rate(unit, dtype), unit.count)


@dataclass(frozen=True)
class ClassTerm:
    """One operation class's part of a compute unit's cycles."""

    ir_class: str
    unit: ComputeUnit
    n: int
    share: float
    """Operations of the class / all the Einsum's operations, on the main unit (the share
    of its busy steps); 0.0 on other units."""
    op_cycles: float
    rate: float
    floor: float
    """The operations at the unit's peak."""


@dataclass(frozen=True)
class ComputePlan:
    """Which units an Einsum's operations run on and how fast (mapping-independent)."""

    main: ComputeUnit
    """The unit of its MACs, else of its most numerous operation class."""
    peak: float
    """The main unit's operations per cycle, all instances."""
    classes: tuple[ClassTerm, ...]

    def unit_cycles(self, steps: float) -> dict[str, float]:
        """Cycles per unit when the main unit is busy for ``steps`` steps (0: the mapping
        runs no operations), every other unit at its peak."""
        cycles: dict[str, float] = {}
        for c in self.classes:
            if c.unit is self.main:
                add = tk.busy_cycles(steps * c.share, c.op_cycles, c.rate, c.floor)
            else:
                add = c.floor
            cycles[c.unit.name] = cycles.get(c.unit.name, 0.0) + add
        return cycles


def compute_plan(arch: Architecture, bound: BoundEinsum, ops: Mapping[str, int]) -> ComputePlan:
    """The compute terms of ``bound``'s operations ``ops`` on ``arch``."""
    dtype = operand_dtype(bound)
    main = unit_for(arch, "mac" if ops.get("mac") else max(ops, key=lambda c: ops[c]), dtype)
    total = max(sum(ops.values()), 1)
    classes = []
    for cls, n in ops.items():
        if n == 0:
            continue
        unit = unit_for(arch, cls, dtype)
        classes.append(ClassTerm(cls, unit, n, n / total if unit is main else 0.0,
                                 op_cycles(unit, cls), unit_rate(unit, dtype),
                                 peak_cycles(unit, cls, n, dtype)))
    return ComputePlan(main, main.count * unit_rate(main, dtype), tuple(classes))


def used_ops(arch: Architecture, main: ComputeUnit, work) -> float:
    """Operations the main unit performs, an operation that takes several of its cycles
    counted that many times; ``work``: (operations, unit or None: as mapped, element type)
    per member."""
    return sum(n * op_cycles(main, c) for ops, unit, dtype in work for c, n in ops.items()
               if n and (unit or unit_for(arch, c, dtype)) is main)


def operations_pj(arch: Architecture, ops: Mapping[str, int], placed: ComputeUnit | None = None,
                  dtype: str | None = None) -> tuple[float, list[str]]:
    """Energy of ``ops`` (pJ) on the units that execute them on element type ``dtype``
    (``placed``: all on that one), and the 'unit:class' entries without a published figure
    (counted as 0 pJ)."""
    pj, missing = 0.0, []
    for cls, n in ops.items():
        if not n:
            continue
        unit = placed or unit_for(arch, cls, dtype)
        per_op = unit.energy_pj.get(IR_TO_UNIT[cls])
        if per_op is None:
            missing.append(f"{unit.name}:{cls}")
        pj += n * (per_op or 0.0)
    return pj, missing


def sm_port_level(arch: Architecture) -> int | None:
    """GPUs: the index of the shared level the SMs' ports hang off (the last level with one
    instance above one per SM), or None for other families or where it gives no bandwidth."""
    if arch.family != "gpu":
        return None
    edge = next((i for i in range(len(arch.levels) - 1)
                 if arch.levels[i].fanout == 1 and arch.levels[i + 1].fanout > 1), None)
    if edge is None or math.isinf(arch.levels[edge].read_bytes_per_cycle):
        return None
    return edge


def port_bytes_per_cycle(arch: Architecture, edge: int) -> float:
    """Bytes per cycle one SM's port carries: its share of the shared level's read
    bandwidth (hw_configs/SOURCES.md, 'SM ports')."""
    return arch.levels[edge].read_bytes_per_cycle / arch.levels[edge + 1].fanout


def timed_pj(arch: Architecture, cycles: float) -> tuple[str, float]:
    """The energy-breakdown entry drawn per cycle over ``cycles``: a chip's run power (which
    it also draws through the launch overhead: ``arch.launch_pj``), else leakage."""
    name = TIMED_ENERGY[0] if arch.run_power_w is None else TIMED_ENERGY[1]
    return name, tk.timed_pj(arch.leakage_pj_per_cycle, cycles, arch.launch_pj)


def latency_s(arch: Architecture, cycles: float) -> float:
    """A kernel's latency on ``arch``: cycles at the clock plus the launch overhead."""
    return tk.latency_s(cycles, arch.clock_hz, arch.launch_overhead_s)
