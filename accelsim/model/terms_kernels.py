"""The cost formulas of one kernel, as numba functions of plain numbers and arrays.

This is the one home of the arithmetic that turns counts into time and energy; the exact
model (:mod:`accelsim.model.evaluate`), the batch model (:mod:`accelsim.model.batch`), the
group floor and the fusion estimate all call these functions, so their numbers agree to the
last bit.  The module imports only numpy and numba: the functions run compiled inside the
batch kernels and are called from Python by the exact model.  They use numpy's error
model (no zero-division checks): every divisor is a bandwidth, clock or throughput that
the specs require to be positive, or is guarded.

Terms of one kernel (a mapping of an Einsum, or a fused group):

* a level's transfer cycles: the bytes one instance reads and writes over its bandwidth,
  through one shared port when the write bandwidth equals the read bandwidth, otherwise
  the slower of separate read and write ports (:func:`level_cycles`);
* a level double-buffers when its hardware can and twice its tiles fit
  (:func:`double_buffers`); its transfers then overlap compute, otherwise they add to the
  compute term (:func:`time_terms`);
* compute: per unit, the main unit's busy steps x op cycles / throughput, but no faster
  than its peak (:func:`busy_cycles`), other units their operations at peak
  (:func:`peak_cycles`); the slowest unit, or the units' sum where they take turns
  (:func:`compute_cycles`);
* GPUs: the SMs' ports into L2, bytes crossing them over the busy SMs' share of L2's
  bandwidth (:func:`port_cycles`), one more term in place of L2's own when larger;
* a fan-out wider than a level's (or unit's) instances is dealt out in rounds
  (:func:`dealt`): each instance's transfers and steps repeat that many times;
* the kernel's cycles: the largest term (:func:`time_terms`); its latency adds the
  machine's launch overhead (:func:`latency_s`);
* energy: levels' access energy + operations' energy + energy drawn per cycle (leakage,
  or a whole chip's run power, which the chip also draws through a launch) over the
  cycles (:func:`kernel_energy`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

COMPUTE = 0
"""Index of the compute term in :func:`time_terms`' terms; level j's is 1 + j."""


@njit(cache=True, error_model="numpy")
def level_cycles(per_read, per_write, read_bw, write_bw):
    """Cycles one instance of a level spends moving ``per_read`` bytes out and
    ``per_write`` bytes in: one shared port when both bandwidths are equal, else separate
    read and write ports working at once."""
    if write_bw == read_bw:
        return (per_read + per_write) / read_bw
    return max(per_read / read_bw, per_write / write_bw)


@njit(cache=True, error_model="numpy")
def double_buffers(can, tile_bytes, capacity_bytes):
    """Whether a level overlaps its transfers with compute: its hardware can, and two
    copies of its tiles fit one instance."""
    return can and 2 * tile_bytes <= capacity_bytes


@njit(cache=True, error_model="numpy")
def peak_cycles(n, op_cycles, rate, count):
    """Cycles of ``n`` operations, each ``op_cycles`` long, on ``count`` instances that do
    ``rate`` operations per cycle each, every instance busy."""
    return n * op_cycles / (rate * count)


@njit(cache=True, error_model="numpy")
def busy_cycles(busy, op_cycles, rate, floor):
    """The main unit's cycles for one operation class: its ``busy`` steps under the
    mapping (the class's share of them) x op cycles / rate, but never fewer than ``floor``
    (the operations at the unit's peak: a mapping cannot outrun the unit)."""
    return max(busy * op_cycles / rate, floor)


@njit(cache=True, error_model="numpy")
def compute_cycles(units, overlap):
    """The compute term of a kernel from each unit's cycles (``units``, an array): the
    slowest unit's when the units run at once, their sum when one instruction stream
    feeds them all and they take turns (``overlap`` false)."""
    if units.shape[0] == 0:
        return 0.0
    return units.max() if overlap else units.sum()


@njit(cache=True, error_model="numpy")
def dealt(used, physical):
    """Rounds in which ``physical`` instances run ``used`` blocks of a mapping's fan-out,
    dealt out whole: ceil(used / physical), 1 when they fit at once (a GPU grid of more
    thread blocks than SMs: the busiest SM runs the rounds one after another)."""
    if physical <= 0 or used <= physical:
        return 1.0
    return float(-(-used // physical))


@njit(cache=True, error_model="numpy")
def port_cycles(moved_bytes, busy, port_bytes_per_cycle):
    """GPUs: cycles for the ``busy`` SMs to move ``moved_bytes`` through their own ports,
    each carrying ``port_bytes_per_cycle`` (its share of L2's bandwidth)."""
    return moved_bytes / (busy * port_bytes_per_cycle)


@njit(cache=True, error_model="numpy")
def time_terms(compute, cycles, double, port_level, port, terms):
    """The kernel's cycles and its slowest term.

    ``compute``: the slowest compute unit's cycles; ``cycles``/``double``: each level's
    transfer cycles and whether it double-buffers; ``port_level``/``port``: GPUs' SM-port
    term and the level it stands for (-1: none).  Fills ``terms`` (levels + 1): index 0 the
    compute term (compute + every exposed transfer), 1 + j level j's term, -1.0 where a
    level has none (it is exposed, and not the top level).  Returns (cycles, index of the
    slowest term, whether the port term replaced its level's); ties go to the earlier term.
    When the compute term is the largest but one exposed level's transfers take longer than
    the compute itself, that level is the slowest term (its transfers, not the units, set
    the time).
    """
    nl = cycles.shape[0]
    exposed, widest = 0.0, -1
    for j in range(1, nl):
        if not double[j] and cycles[j] > 0:
            exposed += cycles[j]
            if widest < 0 or cycles[j] > cycles[widest]:
                widest = j
    terms[0] = compute + exposed
    for j in range(nl):
        terms[1 + j] = cycles[j] if double[j] or j == 0 else -1.0
    ported = port_level >= 0 and port > max(terms[1 + port_level], 0.0)
    if ported:
        terms[1 + port_level] = port
    best = 0
    for k in range(1, nl + 1):
        if terms[k] > terms[best]:
            best = k
    if best == 0 and widest >= 0 and cycles[widest] > compute:
        return terms[0], 1 + widest, ported
    return terms[best], best, ported


@njit(cache=True, error_model="numpy")
def kernel_energy(levels_pj, compute_pj, pj_per_cycle, cycles, launch_pj):
    """Energy of a kernel (pJ): its levels' and operations' energy plus what the machine
    draws per cycle over its ``cycles``; ``launch_pj``: a chip's run power through the
    launch overhead (0 where only leakage is counted)."""
    return levels_pj + compute_pj + timed_pj(pj_per_cycle, cycles, launch_pj)


@njit(cache=True, error_model="numpy")
def timed_pj(pj_per_cycle, cycles, launch_pj):
    """Energy drawn per cycle (leakage, or a chip's run power) over ``cycles``, plus the
    run power through a launch."""
    return pj_per_cycle * cycles + launch_pj


@njit(cache=True, error_model="numpy")
def latency_s(cycles, clock_hz, launch_overhead_s):
    """A kernel's latency: its cycles at the clock plus the machine's launch overhead."""
    return cycles / clock_hz + launch_overhead_s


@njit(cache=True, error_model="numpy")
def sm_port_bytes(counts, keeps, bpe, edge):
    """GPUs: bytes crossing the SMs' ports into the shared levels for one kernel: per
    tensor, what the innermost level at or above ``edge`` keeping it reads for the SMs
    (reads) or takes back from them (updates).  ``counts`` (levels, tensors, >= 3 actions:
    reads, fills, updates), ``keeps`` (levels, tensors), ``bpe`` (tensors,)."""
    moved = 0.0
    for t in range(keeps.shape[1]):
        keeper = -1
        for j in range(edge + 1):
            if keeps[j, t]:
                keeper = j
        if keeper >= 0:
            moved += (counts[keeper, t, 0] + counts[keeper, t, 2]) * bpe[t]
    return moved


@njit(cache=True, error_model="numpy")
def sm_ports_busy(instances, keeps, edge):
    """GPUs: the SMs a kernel keeps busy, the most instances of any level below ``edge``
    keeping a tensor (0: nothing is kept below it)."""
    busy = 0
    for j in range(edge + 1, keeps.shape[0]):
        for t in range(keeps.shape[1]):
            if keeps[j, t] and instances[j, t] > busy:
                busy = instances[j, t]
    return busy


def empty_terms(levels: int) -> np.ndarray:
    """Scratch for :func:`time_terms`: the compute term and one per level."""
    return np.empty(levels + 1, np.float64)


@njit(cache=True, error_model="numpy")
def utilization(used_ops, cycles, peak):
    """The main unit's operations over what its peak could do in the kernel's ``cycles``
    (0 for a kernel that takes no time)."""
    if cycles > 0:
        return used_ops / (cycles * peak)
    return 0.0
