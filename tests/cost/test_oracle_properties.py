"""Invariants the oracle must satisfy on any nest (random nests from cost_nest_strategies).

Each invariant follows from the rules in accelsim.cost.oracle's docstring, not from running it:
conservation between a level and its child, the read-write identities, and bounds.
"""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings

from accelsim.cost import Loop, LoopNest, count
from cost_nest_strategies import loop_nests


def distinct_elements(nest: LoopNest, tensor: str) -> int:
    problem = nest.problem
    t = problem.tensor(tensor)
    points = itertools.product(*(range(size) for size in problem.ranks.values()))
    return len({t.coordinate(dict(zip(problem.rank_names, p))) for p in points})


def child_of(nest: LoopNest, level: int, tensor: str) -> int:
    inner = [i for i in nest.keepers(tensor) if i > level]
    return inner[0] if inner else len(nest.levels)


def merges(nest: LoopNest, level: int, child: int, flag: str) -> bool:
    """Whether any network between ``level`` and ``child`` may merge siblings."""
    return any(getattr(nest.levels[loop.level], flag) for loop in nest.loops
               if loop.spatial and level <= loop.level < child)


def check_conservation(nest: LoopNest, counts) -> None:
    operations = counts.compute.operations
    for (name, tensor), got in counts.tensors.items():
        level = nest.level_index(name)
        child = child_of(nest, level, tensor)
        read_write = nest.problem.tensor(tensor).read_write
        if child == len(nest.levels):
            served = operations           # every operation reads / updates one element
        else:
            below = counts[nest.levels[child].name, tensor]
            served = below.fills + below.first_touches   # elements entering the child
        delivered = got.updates if read_write else got.reads
        merged = merges(nest, level, child, "spatial_reduction" if read_write else "multicast")
        assert delivered <= served if merged else delivered == served, (name, tensor)


def check_read_write_identities(nest: LoopNest, counts) -> None:
    for (name, tensor), got in counts.tensors.items():
        t = got.total
        if nest.problem.tensor(tensor).read_write:
            assert t.reads == t.temporal_reductions == t.updates - t.first_touches >= 0
            assert t.fills >= 0
        else:
            assert t.updates == t.first_touches == t.temporal_reductions == 0
        if nest.parent(tensor, nest.level_index(name)) is None:
            assert t.fills == 0


def check_bounds(nest: LoopNest, counts) -> None:
    assert counts.compute.operations == nest.problem.operations
    assert counts.compute.steps <= math.prod(l.factor for l in nest.loops if not l.spatial)
    for (name, tensor), got in counts.tensors.items():
        level = nest.level_index(name)
        distinct = distinct_elements(nest, tensor)
        assert 1 <= got.capacity <= distinct
        assert 1 <= got.instances <= len(got.per_instance) == math.prod(
            nest.fanout(level).values())
        if nest.parent(tensor, level) is None:
            # The backing store holds the whole tensor, and every element leaves it.
            if nest.problem.tensor(tensor).read_write:
                assert got.first_touches == distinct
            else:
                assert got.reads >= distinct


def check_energy(nest: LoopNest, counts) -> None:
    for (name, _), got in counts.tensors.items():
        level = nest.levels[nest.level_index(name)]
        element, access = level.access_bits(nest.problem.tensor(got.tensor))
        reads = sum(math.ceil(c.reads * element / access) for c in got.per_instance)
        assert got.energy.read == reads * level.energy.read
    assert counts.compute.energy == counts.compute.operations * nest.compute.energy_per_op


@settings(max_examples=200, deadline=None)
@given(loop_nests())
def test_invariants_hold_on_random_nests(nest):
    counts = count(nest, check_capacity=False)
    check_conservation(nest, counts)
    check_read_write_identities(nest, counts)
    check_bounds(nest, counts)
    check_energy(nest, counts)


@settings(max_examples=50, deadline=None)
@given(loop_nests())
def test_unit_loops_change_nothing(nest):
    # A loop of factor 1 adds no iteration and no index: every count stays the same.
    level = nest.loops[-1].level if nest.loops else 0
    padded = LoopNest(nest.problem, nest.levels, nest.compute,
                      nest.loops + (Loop(nest.problem.rank_names[0], 1, level),))
    assert count(padded, check_capacity=False) == count(nest, check_capacity=False)
