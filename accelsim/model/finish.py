"""A counted kernel's terms added up: cycles, bottleneck, energy breakdown and the Report.

The arithmetic is :mod:`accelsim.model.terms_kernels`' (the batch model runs the same
functions); this module names the terms, explains the bottleneck and lists what energy
figures are missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from accelsim.arch import Architecture, ComputeUnit
from accelsim.model import terms_kernels as tk
from accelsim.model.report import LevelUse, Report, TensorTraffic
from accelsim.model.terms import (operations_pj, port_bytes_per_cycle, sm_port_level,
                                  timed_pj)


class Kernel(NamedTuple):
    """What the exact model counted for one kernel (an Einsum, or a fused group)."""

    label: str
    mapping: str
    traffic: tuple[TensorTraffic, ...]
    levels: tuple[LevelUse, ...]
    ops: dict[str, int]
    unit_cycles: dict[str, float]
    """Cycles per compute unit."""
    main_work: tuple[float, float]
    """The main unit's operations (an operation of several of its cycles counted that many
    times) and its operations per cycle, all instances."""
    work: list[tuple[dict[str, int], ComputeUnit | None, str]]
    """Per member: its operations, the unit they all run on (None: as mapped) and the
    element type it computes in."""


@dataclass(frozen=True)
class _Ports:
    """GPUs: the traffic through the ports between the shared levels and the SMs."""

    level: str
    """The shared level the SMs hang off (L2): its read bandwidth is the ports' total."""
    index: int
    bytes: float
    """Bytes the SMs receive from the shared levels or write back to them."""
    busy: int
    sms: int
    cycles: float
    """bytes / (busy x the level's read bandwidth / sms)."""


def _sm_ports(arch: Architecture, traffic: tuple[TensorTraffic, ...],
              elem_bytes: dict[str, float]) -> _Ports | None:
    """GPUs: each SM reaches L2 through its own port, which carries the SM's share of L2's
    read bandwidth (hw_configs/SOURCES.md, 'SM ports').  What crosses the ports is what the
    innermost shared level keeping a tensor (L2, or HBM for what L2 does not keep) reads for
    the SMs, and what the SMs write back to it.  k busy SMs of N draw at most k/N of the
    bandwidth: fewer thread blocks than SMs cannot use all of it.  None for other families,
    where that level gives no bandwidth, or where nothing is kept below it."""
    edge = sm_port_level(arch)
    if edge is None:
        return None
    index = {lv.name: i for i, lv in enumerate(arch.levels)}
    tensors = list(dict.fromkeys(t.tensor for t in traffic))
    shape = (len(arch.levels), len(tensors))
    counts, keeps = np.zeros(shape + (3,), np.int64), np.zeros(shape, np.bool_)
    instances = np.zeros(shape, np.int64)
    for t in traffic:
        at = index[t.level], tensors.index(t.tensor)
        counts[at] = (t.reads, t.fills, t.updates)
        keeps[at], instances[at] = True, t.instances
    busy = min(int(tk.sm_ports_busy(instances, keeps, edge)), arch.levels[edge + 1].fanout)
    if busy == 0:
        return None
    bpe = np.array([float(elem_bytes[t]) for t in tensors], np.float64)
    moved = float(tk.sm_port_bytes(counts, keeps, bpe, edge))
    return _Ports(arch.levels[edge].name, edge, moved, busy, arch.levels[edge + 1].fanout,
                  tk.port_cycles(moved, busy, port_bytes_per_cycle(arch, edge)))


def _bottleneck(arch: Architecture, terms: dict[str, float], slowest: str,
                traffic: tuple[TensorTraffic, ...], ports: _Ports | None,
                shared_floor: float) -> tuple[str, tuple[str, ...]]:
    """The kernel's bottleneck and, for the two classes that are not a term's name, a note.

    * ``latency``: the machine's fixed launch overhead is longer than the slowest term.
    * ``occupancy`` (GPUs): the slowest term is a per-SM one (compute, a level with one
      instance per SM, or the SMs' ports into L2) and only k of the N SMs are busy; spread
      over all N the same work would take k/N of the per-SM terms, which is less than what a
      shared resource needs (``shared_floor``, or HBM or L2 themselves): idle SMs, not a
      resource of the machine, set the time.
    * otherwise the slowest term: ``compute`` or a level's name.
    """
    launch = arch.launch_overhead_s * arch.clock_hz
    if launch > terms[slowest]:
        return "latency", (f"latency: launch overhead {launch:,.0f} cycles exceeds the slowest "
                           f"term, {slowest} ({terms[slowest]:,.0f} cycles)",)
    fanout = {lv.name: lv.fanout for lv in arch.levels}
    per_sm = [t for t in traffic if fanout[t.level] > 1]
    if arch.family != "gpu" or not per_sm:
        return slowest, ()
    busy, sms = max(t.instances for t in per_sm), max(fanout[t.level] for t in per_sm)
    spreadable = {k for k in terms if k == "compute" or fanout[k] > 1}
    spreadable |= {ports.level} if ports else set()
    shared = max([v for k, v in terms.items() if k not in spreadable] + [shared_floor])
    spread = max(terms[k] for k in spreadable) * busy / sms
    if slowest not in spreadable or busy >= sms or spread >= shared:
        return slowest, ()
    return "occupancy", (f"occupancy: {busy} of {sms} SMs busy; the slowest term, {slowest} "
                         f"({terms[slowest]:,.0f} cycles), would take {spread:,.0f} spread over "
                         f"all SMs, less than the shared levels' {shared:,.0f}",)


def _time(arch: Architecture, kernel: Kernel, elem_bytes: dict[str, float]):
    """(cycles, the terms by name, the slowest's name, the port term if it counts, the
    port level's own term it replaced)."""
    levels = kernel.levels
    ports = _sm_ports(arch, kernel.traffic, elem_bytes)
    values = tk.empty_terms(len(levels))
    cycles, slowest, ported = tk.time_terms(
        tk.compute_cycles(np.array(list(kernel.unit_cycles.values()), np.float64),
                          arch.units_overlap),
        np.array([lv.cycles for lv in levels], np.float64),
        np.array([lv.double_buffered for lv in levels], np.bool_),
        -1 if ports is None else ports.index, 0.0 if ports is None else ports.cycles, values)
    names = ["compute"] + [lv.name for lv in levels]
    terms = {names[k]: float(v) for k, v in enumerate(values) if k == 0 or v >= 0.0}
    terms.setdefault(names[slowest], float(cycles))   # an exposed level: the term it set
    shared_floor = 0.0
    if ported:
        lv = levels[ports.index]
        shared_floor = lv.cycles if lv.double_buffered or ports.index == 0 else 0.0
    return float(cycles), terms, names[slowest], ports if ported else None, shared_floor


def _energy(arch: Architecture, kernel: Kernel, cycles: float):
    """(total pJ, breakdown, missing figures)."""
    breakdown: dict[str, float] = {}
    missing: list[str] = []
    whole_chip = arch.run_power_w is not None   # run power counts levels and units alike
    levels_pj = 0.0
    for lv in kernel.levels:
        if lv.energy_pj is None:
            if (lv.read_bytes or lv.write_bytes) and not whole_chip:
                missing.append(lv.name)
        else:
            breakdown[lv.name] = lv.energy_pj
            levels_pj += lv.energy_pj
    compute_pj = 0.0
    for member_ops, placed, dtype in kernel.work:
        pj, lacking = operations_pj(arch, member_ops, placed, dtype)
        compute_pj += pj
        missing += [] if whole_chip else lacking
    breakdown["compute"] = compute_pj
    name, breakdown[name] = timed_pj(arch, cycles)
    total = tk.kernel_energy(levels_pj, compute_pj, arch.leakage_pj_per_cycle, cycles,
                             arch.launch_pj)
    return float(total), breakdown, tuple(dict.fromkeys(missing))


def finish(arch: Architecture, kernel: Kernel, elem_bytes: dict[str, float],
           notes: tuple[str, ...] = ()) -> Report:
    """The Report of a counted kernel: its time terms added up, its bottleneck, energy."""
    cycles, terms, slowest, ports, shared_floor = _time(arch, kernel, elem_bytes)
    bottleneck, why = _bottleneck(arch, terms, slowest, kernel.traffic, ports, shared_floor)
    if ports is not None:
        why = (f"{ports.level}: {ports.busy} of {ports.sms} SMs move {ports.bytes:g} B through "
               f"their ports at {ports.busy}/{ports.sms} of its bandwidth: "
               f"{ports.cycles:,.0f} cycles",) + why
    energy, breakdown, missing = _energy(arch, kernel, cycles)
    top = arch.levels[0].name
    notes += tuple(f"{lv.name}: tiles ({lv.tile_bytes:g} B) fit once but not twice: no double "
                   "buffering, transfers add to compute" for lv, spec in zip(kernel.levels,
                                                                               arch.levels)
                   if spec.double_buffer and not lv.double_buffered and lv.cycles > 0
                   and lv.name != top)
    levels = kernel.levels
    return Report(
        einsum=kernel.label, hardware=arch.name, mapping=kernel.mapping, tensors=kernel.traffic,
        levels=levels, ops={k: int(v) for k, v in kernel.ops.items() if v},
        compute_cycles=kernel.unit_cycles, cycles=cycles,
        latency_s=float(tk.latency_s(cycles, arch.clock_hz, arch.launch_overhead_s)),
        energy_pj=energy, energy_breakdown=breakdown, energy_missing=missing,
        utilization=float(tk.utilization(kernel.main_work[0], cycles, kernel.main_work[1])),
        bottleneck=bottleneck,
        offchip_bytes=levels[0].read_bytes + levels[0].write_bytes, notes=notes + why)
