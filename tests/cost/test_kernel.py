"""The numba kernels count exactly what the oracle counts.

* The four Timeloop tutorial cases: the kernel reproduces the published per-instance
  numbers (expected values from data/timeloop_cases.json, as in test_oracle_timeloop.py).
* A random suite of at least 10,000 (problem, hierarchy, mapping) triples from
  cost_nest_strategies.py -- imperfect factors, idle steps, bypass, spatial fan-out on both
  mesh axes, multicast and spatial reduction, sliding windows, scaled and constant
  projections -- on which every count, capacity, instance count and energy must equal the
  oracle's.  The full suite is marked slow; the README's test command runs a tenth of it,
  and CI runs both, then this file a second time with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from accelsim.cost import Level, Loop, LoopNest, Problem, Projection, Tensor, count
from accelsim.cost.fast import UnsupportedNest, count_nests
from cost_nest_strategies import loop_nests
from test_oracle_timeloop import CASES, build_nest

EXAMPLES = int(os.environ.get("ACCELSIM_KERNEL_EXAMPLES", "11500"))
REQUIRED = int(os.environ.get("ACCELSIM_KERNEL_REQUIRED", "10000"))


def oracle_arrays(nest: LoopNest, counts):
    """The oracle's counts laid out like the kernel's output arrays."""
    nl, nt = len(nest.levels), len(nest.problem.tensors)
    actions = np.zeros((nl, nt, 4), np.int64)
    capacity = np.zeros((nl, nt), np.int64)
    instances = np.zeros((nl, nt), np.int64)
    energy = np.zeros((nl, nt, 3))
    for lv, level in enumerate(nest.levels):
        for t, name in enumerate(nest.problem.tensor_names):
            if (level.name, name) not in counts.tensors:
                continue
            tc = counts[level.name, name]
            actions[lv, t] = (tc.reads, tc.fills, tc.updates, tc.first_touches)
            capacity[lv, t] = tc.capacity
            instances[lv, t] = tc.instances
            energy[lv, t] = (tc.energy.read, tc.energy.fill, tc.energy.update)
    return actions, capacity, instances, energy


def assert_same(nest: LoopNest) -> None:
    fast = count_nests([nest])[0]
    ref = count(nest, check_capacity=False)
    actions, capacity, instances, energy = oracle_arrays(nest, ref)
    np.testing.assert_array_equal(fast.counts, actions)
    np.testing.assert_array_equal(fast.capacity, capacity)
    np.testing.assert_array_equal(fast.instances, instances)
    np.testing.assert_allclose(fast.energy, energy, rtol=1e-12, atol=1e-9)
    assert (fast.operations, fast.steps, fast.compute_instances) == (
        ref.compute.operations, ref.compute.steps, ref.compute.instances)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_kernel_reproduces_timeloop_cases(case):
    nest = build_nest(case)
    fast = count_nests([nest])[0]
    tensors = nest.problem.tensor_names
    columns = {"Scalar reads (per-instance)": 0, "Scalar fills (per-instance)": 1,
               "Scalar updates (per-instance)": 2}
    for level, per_tensor in case["expected"]["per_level"].items():
        lv = nest.level_index(level)
        for tensor, stats in per_tensor.items():
            t = tensors.index(tensor)
            n = fast.instances[lv, t]
            assert n == int(stats["Utilized instances (max)"])
            assert fast.capacity[lv, t] == int(stats["Utilized capacity"])
            for stat, col in columns.items():
                assert fast.counts[lv, t, col] / n == pytest.approx(float(stats[stat]))
            reductions = fast.counts[lv, t, 2] - fast.counts[lv, t, 3]
            if nest.problem.tensor(tensor).read_write:
                assert reductions / n == pytest.approx(
                    float(stats["Temporal reductions (per-instance)"]))
    assert fast.operations == int(case["expected"]["summary"]["Computes"])
    assert fast.steps == int(case["expected"]["summary"]["Cycles"])


@pytest.mark.parametrize("examples, required", [
    pytest.param(EXAMPLES // 10, REQUIRED // 10, id="quick"),
    pytest.param(EXAMPLES, REQUIRED, id="full", marks=pytest.mark.slow),
])
def test_kernel_equals_oracle_on_random_nests(examples, required):
    compared = {"supported": 0, "perfect": 0}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(loop_nests())
    def check(nest):
        try:
            assert_same(nest)
        except UnsupportedNest:
            return
        compared["supported"] += 1
        compared["perfect"] += all(
            math.prod(l.factor for l in nest.loops if l.rank == r) == size
            for r, size in nest.problem.ranks.items())

    check()
    assert compared["supported"] >= required, compared
    # both kernel paths are exercised: the closed form and the tile walker
    assert 0.2 < compared["perfect"] / compared["supported"] < 0.9, compared


def test_batch_of_different_mappings_counts_each_as_alone():
    dim = Projection.sum_of
    problem = Problem({"M": 6, "N": 4, "K": 5}, (
        Tensor("A", (dim("M"), dim("K"))), Tensor("B", (dim("K"), dim("N"))),
        Tensor("Z", (dim("M"), dim("N")), read_write=True)))
    levels = (Level("DRAM", frozenset("ABZ")), Level("Buf", frozenset("ABZ"), instances=(4, 1),
                                                     multicast=True, spatial_reduction=True))
    from accelsim.cost import Compute
    nests = [
        LoopNest(problem, levels, Compute(), (Loop("M", 6, 0), Loop("N", 4, 0), Loop("K", 5, 1))),
        LoopNest(problem, levels, Compute(instances=(4, 1)),
                 (Loop("K", 2, 0), Loop("N", 4, 0, spatial=True), Loop("M", 6, 1),
                  Loop("K", 3, 1))),
    ]
    batch = count_nests(nests)
    for nest, fast in zip(nests, batch):
        alone = count_nests([nest])[0]
        np.testing.assert_array_equal(fast.counts, alone.counts)
        assert_same(nest)


@pytest.mark.parametrize("dims, fragment", [
    ((Projection(((2, "P"), (1, "R"))),), "unit coefficients"),
    ((Projection(((1, "P"), (1, "R"), (1, "K"))),), "only one rank, or a sum of two"),
    ((Projection.sum_of("P"), Projection.sum_of("P")), "indexes two dimensions"),
])
def test_unsupported_projections_are_named(dims, fragment):
    problem = Problem({"K": 2, "P": 3, "R": 2}, (
        Tensor("I", dims), Tensor("O", (Projection.sum_of("K"), Projection.sum_of("P")),
                                  read_write=True)))
    from accelsim.cost import Compute
    nest = LoopNest(problem, (Level("DRAM", frozenset("IO")),), Compute(),
                    (Loop("K", 2, 0), Loop("P", 3, 0), Loop("R", 2, 0)))
    with pytest.raises(UnsupportedNest, match=fragment):
        count_nests([nest])
