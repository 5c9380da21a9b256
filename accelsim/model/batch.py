"""The model of :mod:`accelsim.model`, for a whole batch of counted mappings at once.

The searches count thousands of mappings of one Einsum per batch; :func:`batch_metrics`
turns their counts into what a Report says, as arrays.  The mapping-independent inputs
(bandwidths, capacities, the compute plan, operation energy, the SMs' ports) are gathered
once per Einsum by :func:`model_constants` from :mod:`accelsim.model.terms`, and the
per-mapping arithmetic runs in :func:`accelsim.model.batch_kernels.model_batch`, which calls
the same functions of :mod:`accelsim.model.terms_kernels` as the exact model in the same
order: the numbers agree with :func:`accelsim.model.evaluate` to the last bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from accelsim.arch import Architecture
from accelsim.cost.kernels import BatchCounts
from accelsim.mapping import BoundEinsum
from accelsim.model.batch_kernels import model_batch
from accelsim.model.terms import (compute_plan, operand_dtype, operations_pj,
                                  port_bytes_per_cycle, sm_port_level, used_ops)


class BatchConstants(NamedTuple):
    """The mapping-independent numbers of the model for one Einsum on one machine (plain
    arrays and numbers, so the numba kernel takes them as they are)."""

    read_bw: np.ndarray
    """(levels,) bytes per cycle per instance."""
    write_bw: np.ndarray
    capacity: np.ndarray
    """(levels,) bytes one instance holds."""
    double_buffer: np.ndarray
    """(levels,) whether the hardware can double-buffer."""
    has_energy: np.ndarray
    """(levels,) whether the level has a published energy figure."""
    class_unit: np.ndarray
    """(classes,) index of the unit each operation class runs on."""
    class_share: np.ndarray
    """(classes,) the class's share of the main unit's busy steps (0.0 elsewhere)."""
    class_cost: np.ndarray
    """(classes,) cycles of one operation on its unit."""
    class_rate: np.ndarray
    """(classes,) operations per cycle per instance of its unit."""
    class_floor: np.ndarray
    """(classes,) the class's operations at its unit's peak."""
    class_main: np.ndarray
    """(classes,) whether the class runs on the main unit."""
    n_units: int
    main_unit: int
    used_ops: float
    """Operations of the main unit, an operation of several cycles counted that many times."""
    peak: float
    """The main unit's operations per cycle, all instances."""
    compute_pj: float
    """Energy of the Einsum's operations."""
    pj_per_cycle: float
    """Leakage, or a chip's run power, per cycle."""
    launch_pj: float
    """A chip's run power through the launch overhead."""
    clock_hz: float
    launch_overhead_s: float
    port_edge: int
    """GPUs: the shared level the SMs' ports hang off, or -1."""
    port_share: float
    """Bytes per cycle one SM's port carries."""
    units_overlap: bool
    """Whether the compute units run at once (else their cycles add)."""
    level_instances: np.ndarray
    """(levels,) each level's instances (a wider fan-out is dealt in rounds)."""
    main_instances: int
    """The main compute unit's instances."""
    port_sms: int
    """GPUs: the SMs below the port level (0 without one)."""


class Metrics(NamedTuple):
    """Per mapping of a batch: what the model's Report says, as arrays."""

    energy_pj: np.ndarray
    cycles: np.ndarray
    latency_s: np.ndarray
    offchip_bytes: np.ndarray
    offchip_elements: np.ndarray
    utilization: np.ndarray
    """The main unit's operations over its peak for the kernel's cycles (the Report's)."""
    busy_utilization: np.ndarray
    """The main unit's operations over its peak for its own busy cycles: the share of its
    instances the mapping keeps busy (what a ``min_utilization`` constraint bounds)."""
    bottleneck: np.ndarray
    """0: compute; 1 + j: storage level j (the slowest term; the Report may name the launch
    latency or the SMs' occupancy instead)."""
    valid: np.ndarray
    """False where tiles outgrow a level (the exact model raises CapacityError)."""


def model_constants(bound: BoundEinsum, arch: Architecture) -> BatchConstants:
    """What :func:`accelsim.model.evaluate` derives from the Einsum and machine alone."""
    ops = bound.einsum.op_counts(bound.sizes).as_dict()
    plan = compute_plan(arch, bound, ops)
    units = list(dict.fromkeys([plan.main.name] + [c.unit.name for c in plan.classes]))
    classes = plan.classes
    dtype = operand_dtype(bound)
    compute_pj, _ = operations_pj(arch, ops, dtype=dtype)
    edge = sm_port_level(arch)
    levels = arch.levels
    return BatchConstants(
        read_bw=np.array([lv.read_bytes_per_cycle for lv in levels], np.float64),
        write_bw=np.array([lv.write_bytes_per_cycle for lv in levels], np.float64),
        capacity=np.array([lv.capacity_bytes for lv in levels], np.float64),
        double_buffer=np.array([lv.double_buffer for lv in levels], np.bool_),
        has_energy=np.array([lv.has_energy for lv in levels], np.bool_),
        class_unit=np.array([units.index(c.unit.name) for c in classes], np.int64),
        class_share=np.array([c.share for c in classes], np.float64),
        class_cost=np.array([c.op_cycles for c in classes], np.float64),
        class_rate=np.array([c.rate for c in classes], np.float64),
        class_floor=np.array([c.floor for c in classes], np.float64),
        class_main=np.array([c.unit is plan.main for c in classes], np.bool_),
        n_units=len(units), main_unit=0,
        used_ops=float(used_ops(arch, plan.main, [(ops, None, dtype)])), peak=float(plan.peak),
        compute_pj=float(compute_pj), pj_per_cycle=float(arch.leakage_pj_per_cycle),
        launch_pj=float(arch.launch_pj), clock_hz=float(arch.clock_hz),
        launch_overhead_s=float(arch.launch_overhead_s),
        port_edge=-1 if edge is None else edge,
        port_share=0.0 if edge is None else float(port_bytes_per_cycle(arch, edge)),
        units_overlap=bool(arch.units_overlap),
        level_instances=np.array([lv.fanout for lv in levels], np.int64),
        main_instances=int(plan.main.count),
        port_sms=0 if edge is None else int(levels[edge + 1].fanout))


def batch_metrics(const: BatchConstants, counted: BatchCounts, keeps: np.ndarray,
                  bytes_per_element: np.ndarray) -> Metrics:
    """The model's numbers for each counted mapping: ``keeps`` (B, levels, tensors) which
    level keeps which tensor, ``bytes_per_element`` (tensors,)."""
    n = keeps.shape[0]
    out = Metrics(np.empty(n), np.empty(n), np.empty(n), np.empty(n),
                  counted.counts[:, 0, :, :3].sum(axis=(1, 2)), np.empty(n), np.empty(n),
                  np.empty(n, np.int64), np.empty(n, np.bool_))
    model_batch(const, counted, np.ascontiguousarray(keeps, np.bool_),
                np.ascontiguousarray(bytes_per_element, np.float64), out)
    return out
