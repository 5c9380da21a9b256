"""The model of :mod:`accelsim.model`, vectorized over a batch of mappings.

Three steps, Timeloop-style (loop analysis apart from the hardware model):

1. :func:`precheck` -- the cheap capacity pre-check: per level, the bytes of the tiles it
   keeps (from the loop factors alone, no counting) against one instance's capacity, plus
   the spatial fan-out limits.  It prunes before counting.
2. :func:`count` -- candidates encoded as the kernels' integer arrays
   (:class:`~accelsim.cost.fast.NestArrays`) and counted by the numba batch kernels.
3. :func:`metrics` -- counts to bytes, cycles, energy and off-chip traffic with numpy, using
   exactly the formulas of :func:`accelsim.model.evaluate` (same operations in the same order,
   so the floats agree to the last bit):

   * per level: bytes read and written (fills + updates) per instance over its bandwidth;
     one shared port when the write bandwidth equals the read bandwidth, otherwise
     max(read, write) over separate ports;
   * compute: busy steps x (ops of the class / all ops) x op cycles / throughput on the
     main unit; other units ops x op cycles / (throughput x units);
   * a level double-buffers when its hardware can and twice its tiles fit; its transfers
     then overlap compute (cycles = max of the terms), otherwise they add to compute;
   * energy = the kernel's per-action energies of levels with an energy figure + ops x pJ
     per op + leakage x cycles; off-chip bytes = level 0's reads + fills + updates x bytes.

   Tiles larger than a level's capacity (the model's CapacityError) are marked invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from accelsim.arch import Architecture
from accelsim.cost.fast import NestArrays, count_arrays
from accelsim.cost.footprint import tile_elements_batch
from accelsim.mapping import BoundEinsum
from accelsim.model import (IR_TO_UNIT, operand_dtype, peak_cycles, sm_port_level, unit_for,
                            unit_rate)
from accelsim.search import kernels as search_kernels
from accelsim.search.space import Candidates, MapSpace


class KernelOut(NamedTuple):
    """The batch kernels' outputs (see :func:`accelsim.cost.kernels.count_perfect_batch`)."""

    counts: np.ndarray
    capacity: np.ndarray
    instances: np.ndarray
    energy: np.ndarray
    compute: np.ndarray


class Metrics(NamedTuple):
    """Per mapping of a batch: what the model's Report says, as arrays."""

    energy_pj: np.ndarray
    cycles: np.ndarray
    latency_s: np.ndarray
    offchip_bytes: np.ndarray
    offchip_elements: np.ndarray
    utilization: np.ndarray
    bottleneck: np.ndarray
    """0: compute; 1 + j: storage level j."""
    valid: np.ndarray
    """False where tiles outgrow a level (the model raises CapacityError)."""


@dataclass(frozen=True)
class ComputeTerm:
    """One operation class's share of a compute unit's cycles."""

    unit: str
    per_step: float
    """Cycles per busy step contributed (main unit); 0 otherwise."""
    fixed: float
    """Cycles independent of the mapping (other units), or the main unit's least cycles
    (its operations at its peak)."""
    share: float
    """ops of the class / all ops (main unit)."""
    cost: float
    rate: float


@dataclass(frozen=True)
class ModelConstants:
    """The mapping-independent numbers of the model for one Einsum on one machine."""

    has_energy: np.ndarray
    read_bw: np.ndarray
    write_bw: np.ndarray
    capacity: np.ndarray
    double_buffer: np.ndarray
    terms: tuple[ComputeTerm, ...]
    main_unit: str
    used_ops: float
    peak: float
    compute_pj: float
    leakage_pj_per_cycle: float
    clock_hz: float
    launch_overhead_s: float
    port_edge: int = -1
    """GPUs: the shared level the SMs' ports hang off (accelsim.model._sm_ports), or -1."""
    port_share: float = 0.0
    """Bytes per cycle one SM's port carries."""


def _port_edge(arch: Architecture) -> tuple[int, float]:
    """The level and per-SM bandwidth of the SMs' ports into L2 (accelsim.model), or -1."""
    edge = sm_port_level(arch)
    if edge is None:
        return -1, 0.0
    return edge, arch.levels[edge].read_bytes_per_cycle / arch.levels[edge + 1].fanout


def model_constants(bound: BoundEinsum, arch: Architecture) -> ModelConstants:
    """Precompute what :func:`accelsim.model.evaluate` derives from the Einsum and machine."""
    ops = bound.einsum.op_counts(bound.sizes).as_dict()
    dtype = operand_dtype(bound)
    main = unit_for(arch, "mac" if ops.get("mac") else max(ops, key=lambda c: ops[c]))
    total = max(sum(ops.values()), 1)
    terms = []
    compute_pj = 0.0
    for cls, n in ops.items():
        if n == 0:
            continue
        unit = unit_for(arch, cls)
        pj = unit.energy_pj.get(IR_TO_UNIT[cls])
        compute_pj += n * (pj or 0.0)
        rate = unit_rate(unit, dtype)
        cost = unit.op_cycles.get(IR_TO_UNIT[cls], 1.0)
        fixed = peak_cycles(unit, cls, n, dtype)
        if unit is main:       # busy steps, but no faster than the unit's peak (fixed)
            terms.append(ComputeTerm(unit.name, 1.0, fixed, n / total, cost, rate))
        else:
            terms.append(ComputeTerm(unit.name, 0.0, fixed, 0.0, cost, rate))
    used = sum(n * main.op_cycles.get(IR_TO_UNIT[c], 1.0) for c, n in ops.items()
               if n and unit_for(arch, c) is main)
    compute_pj += arch.launch_pj         # run power through the launch overhead (the model)
    edge, share = _port_edge(arch)
    return ModelConstants(
        has_energy=np.array([lv.has_energy for lv in arch.levels]),
        read_bw=np.array([lv.read_bytes_per_cycle for lv in arch.levels], np.float64),
        write_bw=np.array([lv.write_bytes_per_cycle for lv in arch.levels], np.float64),
        capacity=np.array([lv.capacity_bytes for lv in arch.levels], np.float64),
        double_buffer=np.array([lv.double_buffer for lv in arch.levels]),
        terms=tuple(terms), main_unit=main.name, used_ops=float(used),
        peak=main.count * unit_rate(main, dtype),
        compute_pj=compute_pj,
        leakage_pj_per_cycle=arch.leakage_pj_per_cycle, clock_hz=arch.clock_hz,
        launch_overhead_s=arch.launch_overhead_s, port_edge=edge, port_share=share)


# ---------------------------------------------------------------------------- pre-check

def extents(space: MapSpace, factors: np.ndarray) -> np.ndarray:
    """(B, levels, ranks): each level's tile extent per rank (loops owned at or below it)."""
    per_level = np.ones((factors.shape[0], space.n_levels, space.n_ranks), np.int64)
    for s in range(space.n_slots):
        per_level[:, space.slot_level[s]] *= factors[:, s]
    return np.flip(np.cumprod(np.flip(per_level, 1), axis=1), 1)


def tile_elements(space: MapSpace, ext: np.ndarray) -> np.ndarray:
    """(B, levels, tensors): the first (largest unless a block index straddles) data tile
    (accelsim.cost.footprint)."""
    p = space.problem_arrays
    out = np.ones(ext.shape[:2] + (len(space.tensor_names),), np.int64)
    tile_elements_batch(ext, space.sizes, p.dim_rank, p.dim_div, p.ndims, out)
    return out


def tile_bytes(space: MapSpace, tiles: np.ndarray, keeps: np.ndarray) -> np.ndarray:
    """(B, levels): bytes of the tiles each level keeps (the model's footprint)."""
    total = np.zeros(tiles.shape[:2], np.float64)
    for t in range(tiles.shape[2]):
        total = total + np.where(keeps[:, :, t], tiles[:, :, t] * space.bytes_per_element[t], 0.0)
    return total


def _prechecked(space: MapSpace, cands: Candidates) -> tuple[np.ndarray, np.ndarray]:
    n = len(cands)
    fan, fits = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    p = space.problem_arrays
    search_kernels.precheck_batch(cands.factors, cands.keeps, space.slot_level, space.slot_axis,
                                  space.slot_limit, p.dim_rank, p.dim_div, p.ndims, space.sizes,
                                  space.bytes_per_element, space.capacity_bytes, fan, fits)
    return fan, fits


def fanout_ok(space: MapSpace, cands: Candidates) -> np.ndarray:
    """True where every spatial slot's factors fit its level's fan-out."""
    return _prechecked(space, cands)[0]


def capacity_ok(space: MapSpace, cands: Candidates) -> np.ndarray:
    """True where the tiles each level keeps fit one instance (levels below the first)."""
    return _prechecked(space, cands)[1]


def precheck(space: MapSpace, cands: Candidates) -> np.ndarray:
    """True for candidates whose fan-out fits the mesh and whose tiles fit every level."""
    fan, fits = _prechecked(space, cands)
    return fan & fits


# ---------------------------------------------------------------------------- counting

def encode(space: MapSpace, cands: Candidates) -> NestArrays:
    """The kernels' loop arrays: per level temporal loops in order, then spatial loops;
    unit loops dropped (padding at the innermost level, as the kernels expect)."""
    n = len(cands)
    width = max(int((cands.factors > 1).sum(axis=(1, 2)).max(initial=0)), 1)
    rank, factor, level, spatial = (np.empty((n, width), np.int64) for _ in range(4))
    search_kernels.encode_batch(cands.factors, cands.perm, space.perms, space.slot_level,
                                space.slot_axis, space.n_levels, rank, factor, level, spatial)
    return NestArrays(rank, factor, level, spatial, np.ascontiguousarray(cands.keeps))


def count(space: MapSpace, cands: Candidates) -> KernelOut:
    """Count a batch with the numba kernels (accelsim.cost.fast.count_arrays)."""
    covered = np.prod(cands.factors, axis=1)
    perfect = (covered == space.sizes).all(axis=1)
    out = count_arrays(encode(space, cands), space.problem_arrays, space.level_arrays, perfect)
    return KernelOut(*out)


# ---------------------------------------------------------------------------- the model

def metrics(space: MapSpace, const: ModelConstants, out: KernelOut, keeps: np.ndarray) -> Metrics:
    """The model's numbers for each counted mapping (see the module docstring); the level
    formulas run in :func:`accelsim.search.kernels.model_batch` in the model's float order."""
    unit_cycles = _unit_cycles(const, out.compute[:, 1].astype(np.float64), out.compute[:, 0] > 0)
    compute = np.max(np.stack(list(unit_cycles.values())), axis=0)
    n = keeps.shape[0]
    energy, cycles, offchip = np.empty(n), np.empty(n), np.empty(n)
    bottleneck, valid = np.empty(n, np.int64), np.empty(n, np.bool_)
    search_kernels.model_batch(out.counts, out.capacity, out.instances, out.energy,
                               np.ascontiguousarray(keeps), space.bytes_per_element,
                               const.read_bw, const.write_bw, const.capacity,
                               const.double_buffer, const.has_energy, compute, const.compute_pj,
                               const.leakage_pj_per_cycle, energy, cycles, offchip, bottleneck,
                               valid)
    if const.port_edge >= 0:
        _add_ports(space, const, out, keeps, energy, cycles, bottleneck)
    busy = unit_cycles[const.main_unit]
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(busy > 0, const.used_ops / (busy * const.peak), 0.0)
    offchip_elements = out.counts[:, 0, :, :3].sum(axis=(1, 2))
    return Metrics(energy, cycles, cycles / const.clock_hz + const.launch_overhead_s,
                   offchip, offchip_elements, utilization, bottleneck, valid)


def _add_ports(space: MapSpace, const: ModelConstants, out: KernelOut, keeps: np.ndarray,
                energy: np.ndarray, cycles: np.ndarray, bottleneck: np.ndarray) -> None:
    """GPUs: the SMs' ports into L2 as one more term (accelsim.model._sm_ports): bytes the
    innermost shared level keeping each tensor reads for the SMs or takes back, over the
    busy SMs' share of its bandwidth."""
    edge = const.port_edge
    kept = keeps.astype(bool)
    depth = np.arange(kept.shape[1])[None, :, None]
    keeper = np.where(kept[:, :edge + 1], depth[:, :edge + 1], -1).max(axis=1)      # (b, t)
    rows = np.take_along_axis(out.counts[:, :edge + 1], keeper[:, None, :, None], axis=1)[:, 0]
    moved = ((rows[..., 0] + rows[..., 2]) * space.bytes_per_element[None, :]).sum(axis=1)
    inner = kept[:, edge + 1:]
    busy = np.where(inner, out.instances[:, edge + 1:], 0).max(axis=(1, 2))
    has = inner.any(axis=(1, 2)) & (busy > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        port = np.where(has, moved / (np.maximum(busy, 1) * const.port_share), 0.0)
    slower = port > cycles
    energy += np.where(slower, const.leakage_pj_per_cycle * (port - cycles), 0.0)
    bottleneck[slower] = 1 + edge
    cycles[slower] = port[slower]


def _unit_cycles(const: ModelConstants, steps: np.ndarray, operates: np.ndarray) -> dict:
    cycles: dict[str, np.ndarray] = {}
    for term in const.terms:
        if term.per_step:
            busy = np.where(operates, steps * term.share, 0.0)
            add = np.maximum(busy * term.cost / term.rate, term.fixed)
        else:
            add = np.full(steps.shape, term.fixed)
        cycles[term.unit] = cycles.get(term.unit, 0.0) + add
    cycles.setdefault(const.main_unit, np.zeros(steps.shape))
    return cycles
