"""Cost stage: loop nests in, per-level access counts, energy and latency out.

``nest`` holds the plain data model (problem, levels, loops); ``oracle`` is the slow,
literal loop-nest walker that defines the counting semantics; ``counts`` holds the result
types that every counter (the oracle, and the numba kernel that must match it) returns.
Nothing here imports the rest of accelsim except ``accelsim.errors``.
"""

from accelsim.cost.counts import ActionCounts, ActionEnergy, ComputeCounts, Counts, TensorCounts
from accelsim.cost.nest import Compute, Level, Loop, LoopNest, Problem, Projection, Tensor
from accelsim.cost.oracle import count

__all__ = [
    "ActionCounts", "ActionEnergy", "Compute", "ComputeCounts", "Counts", "Level", "Loop",
    "LoopNest", "Problem", "Projection", "Tensor", "TensorCounts", "count",
]
