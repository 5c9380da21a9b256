"""The model: access counts of a loop nest -> traffic, energy, cycles and a report.

``evaluate(bound_einsum, architecture, mapping_spec)`` is the public entry point
(:mod:`accelsim.model.exact`).  It builds the loop nest (:mod:`accelsim.mapping`), runs the
cheap capacity pre-check, counts accesses with the numba kernel (:mod:`accelsim.cost.fast`),
and turns the counts into the terms below.  Their arithmetic has one home,
:mod:`accelsim.model.terms_kernels` (numba functions), fed by :mod:`accelsim.model.terms`
(which unit, rate and energy); the exact model (:mod:`accelsim.model.exact`,
:mod:`accelsim.model.finish`) and the batch model the searches run
(:mod:`accelsim.model.batch`) both call it, so they agree to the last bit.

* energy: for each level, tensor and action, ceil(count / block) x pJ per access (summed per
  instance), plus operations x pJ per operation by class, plus leakage x cycles.  Levels or
  units without a published energy figure are listed in ``report.energy_missing`` and left
  out of the total instead of being counted as zero.  A machine with a ``run_power`` (the
  whole chip's power, from a datasheet's run-mode current) counts that power over the
  latency instead, and nothing is missing.
* cycles: per level, the bytes one instance moves divided by its bandwidth (one shared port
  when the spec gives only a read bandwidth; separate read and write ports when it gives
  both); per compute unit, the operations it executes divided by its throughput, stretched by
  spatial under-use (busy steps of the mapping, not operations / instances).  Levels that
  double-buffer overlap their transfers with compute, so cycles = the largest of the terms;
  a level that cannot (double_buffer: false, or tiles that fit once but not twice) adds its
  transfer cycles to compute.  On GPUs the SMs' ports into L2 are one more term: each port
  carries its SM's share of L2's read bandwidth, so k busy SMs of N move at most k/N of it.
* bottleneck: the largest term (compute or a level's name; a level whose exposed transfers
  outlast the compute when the compute term is largest), or ``latency`` when the launch
  overhead exceeds it, or on GPUs ``occupancy`` when it is a per-SM term that idle SMs made
  the largest (see :func:`accelsim.model.finish._bottleneck`).
"""

from __future__ import annotations

from accelsim.model.batch import BatchConstants, Metrics, batch_metrics, model_constants
from accelsim.model.exact import default_roles, evaluate, evaluate_group
from accelsim.model.report import LevelUse, Report, TensorTraffic
from accelsim.model.terms import (IR_TO_UNIT, TIMED_ENERGY, operand_dtype, peak_cycles,
                                  sm_port_level, unit_for, unit_rate)

__all__ = ["IR_TO_UNIT", "TIMED_ENERGY", "BatchConstants", "LevelUse", "Metrics", "Report",
           "TensorTraffic", "batch_metrics", "default_roles", "evaluate", "evaluate_group",
           "model_constants", "operand_dtype", "peak_cycles", "sm_port_level", "unit_for",
           "unit_rate"]
