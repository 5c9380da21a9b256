"""The batch model's loop: the cost terms of :mod:`accelsim.model.terms_kernels` for every
mapping of a counted batch.  Imports only numpy and numba.

The helpers are inlined into the loop (``inline="always"``: the constants are not copied
per mapping), and like the terms they use numpy's error model (no zero-division checks
in the loop, which halves its time): every divisor is a bandwidth or clock that the specs
require to be positive, a count of at least one, or guarded.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.model.terms_kernels import (busy_cycles, compute_cycles, dealt, double_buffers,
                                          kernel_energy, latency_s, level_cycles, port_cycles,
                                          sm_port_bytes, sm_ports_busy, time_terms,
                                          utilization)


@njit(cache=True, error_model="numpy", inline="always")
def _unit_cycles(const, ops, steps, cycles):
    """Fill ``cycles`` (units,) for one mapping: the main unit's classes follow its busy
    ``steps`` (none when the mapping runs no operations), other units run at their peak."""
    cycles[:] = 0.0
    for c in range(const.class_unit.shape[0]):
        if const.class_main[c]:
            busy = steps * const.class_share[c] if ops > 0 else 0.0
            add = busy_cycles(busy, const.class_cost[c], const.class_rate[c],
                              const.class_floor[c])
        else:
            add = const.class_floor[c]
        cycles[const.class_unit[c]] += add


@njit(cache=True, error_model="numpy", inline="always")
def _levels(const, counted, b, keeps, bpe, cyc, dbl):
    """Per level of mapping ``b``: transfer cycles (``cyc``), double buffering (``dbl``).
    Returns (off-chip bytes, levels' energy, whether every level below the first holds its
    tiles)."""
    counts, capacity, instances, energy = (counted.counts[b], counted.capacity[b],
                                           counted.instances[b], counted.energy[b])
    nl, nt = keeps.shape
    offchip, levels_pj, valid = 0.0, 0.0, True
    for j in range(nl):
        read_b = write_b = per_read = per_write = tile = level_energy = 0.0
        for t in range(nt):
            if not keeps[j, t]:
                continue
            rb = counts[j, t, 0] * bpe[t]
            wb = (counts[j, t, 1] + counts[j, t, 2]) * bpe[t]
            inst = max(instances[j, t], 1)
            read_b += rb
            write_b += wb
            rounds = dealt(inst, const.level_instances[j])
            per_read += rb / inst * rounds
            per_write += wb / inst * rounds
            tile += capacity[j, t] * bpe[t]
            level_energy += energy[j, t, 0] + energy[j, t, 1] + energy[j, t, 2]
        cyc[j] = level_cycles(per_read, per_write, const.read_bw[j], const.write_bw[j])
        dbl[j] = double_buffers(const.double_buffer[j], tile, const.capacity[j])
        if j > 0 and tile > const.capacity[j]:
            valid = False
        if j == 0:
            offchip = read_b + write_b
        if const.has_energy[j]:
            levels_pj += level_energy
    return offchip, levels_pj, valid


@njit(cache=True, error_model="numpy")
def model_batch(const, counted, keeps, bpe, out):
    """The model's numbers for each mapping of a counted batch.

    ``const``: the Einsum's BatchConstants; ``counted``: the cost kernels' BatchCounts;
    ``keeps`` (B, levels, tensors); ``bpe`` (tensors,) bytes per element; ``out``: Metrics
    to fill (bottleneck 0: compute, 1 + j: level j; valid: tiles fit every level).
    """
    counts, instances, compute = counted.counts, counted.instances, counted.compute
    n, nl, _ = keeps.shape
    cyc, dbl = np.empty(nl), np.empty(nl, np.bool_)
    terms = np.empty(nl + 1)
    units = np.empty(const.n_units)
    for b in range(n):
        steps = np.float64(compute[b, 1]) * dealt(compute[b, 2], const.main_instances)
        _unit_cycles(const, compute[b, 0], steps, units)
        offchip, levels_pj, valid = _levels(const, counted, b, keeps[b], bpe, cyc, dbl)
        port_level, port = -1, 0.0
        if const.port_edge >= 0:
            busy = min(sm_ports_busy(instances[b], keeps[b], const.port_edge), const.port_sms)
            if busy > 0:
                moved = sm_port_bytes(counts[b], keeps[b], bpe, const.port_edge)
                port_level, port = const.port_edge, port_cycles(moved, busy, const.port_share)
        compute_term = compute_cycles(units, const.units_overlap)
        cycles, slowest, _ = time_terms(compute_term, cyc, dbl, port_level, port, terms)
        out.energy_pj[b] = kernel_energy(levels_pj, const.compute_pj, const.pj_per_cycle,
                                         cycles, const.launch_pj)
        out.cycles[b] = cycles
        out.latency_s[b] = latency_s(cycles, const.clock_hz, const.launch_overhead_s)
        out.offchip_bytes[b] = offchip
        out.utilization[b] = utilization(const.used_ops, cycles, const.peak)
        out.busy_utilization[b] = utilization(const.used_ops, units[const.main_unit],
                                              const.peak)
        out.bottleneck[b] = slowest
        out.valid[b] = valid
