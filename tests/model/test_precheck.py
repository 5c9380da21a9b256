"""The capacity pre-check's tile sizes bound the largest tile the counters find, and equal
it when no tile is clipped (every rank's factors multiply to its size)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cost"))

from cost_nest_strategies import loop_nests  # noqa: E402

from accelsim.cost.fast import UnsupportedNest, count_nests  # noqa: E402
from accelsim.mapping import tile_elements  # noqa: E402


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(loop_nests())
def test_precheck_bounds_the_counted_tiles(nest):
    try:
        fast = count_nests([nest])[0]
    except UnsupportedNest:
        return
    perfect = all(math.prod(l.factor for l in nest.loops if l.rank == r) == size
                  for r, size in nest.problem.ranks.items())
    for lv, level in enumerate(nest.levels):
        for t, tensor in enumerate(nest.problem.tensors):
            if tensor.name not in level.keeps:
                continue
            bound = tile_elements(nest, lv, tensor)
            assert fast.capacity[lv, t] <= bound
            if perfect and all(d.divisor == 1 for d in tensor.dims):
                assert fast.capacity[lv, t] == bound
