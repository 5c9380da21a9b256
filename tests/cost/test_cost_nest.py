"""The loop-nest data model: projections, helpers and the errors of validate()."""

from __future__ import annotations

import pytest

from accelsim.cost import Compute, Level, Loop, LoopNest, Problem, Projection, Tensor, count
from accelsim.errors import MappingError

ALL = frozenset({"Weights", "Inputs", "Outputs"})


def conv1d(p: int = 4, r: int = 3) -> Problem:
    dim = Projection.sum_of
    return Problem({"P": p, "R": r}, (
        Tensor("Weights", (dim("R"),)), Tensor("Inputs", (dim("P", "R"),)),
        Tensor("Outputs", (dim("P"),), read_write=True)))


def nest(loops, levels=None, compute=None, problem=None) -> LoopNest:
    levels = levels or (Level("DRAM", ALL), Level("Buf", ALL, instances=(2, 1)))
    return LoopNest(problem or conv1d(), tuple(levels), compute or Compute(instances=(2, 2)),
                    tuple(loops))


def test_projection_and_relevant_ranks():
    strided = Projection(((2, "P"), (1, "R"), (0, "K")), offset=-1)   # 2p + r - 1
    assert strided.index({"P": 3, "R": 2, "K": 7}) == 7
    assert strided.ranks == {"P", "R"}
    problem = conv1d()
    assert problem.relevant_ranks("Inputs") == {"P", "R"}
    assert problem.relevant_ranks("Weights") == {"R"}
    assert problem.tensor("Inputs").coordinate({"P": 2, "R": 1}) == (3,)
    assert problem.operations == 12
    assert hash(problem) == hash(conv1d())
    with pytest.raises(MappingError, match="unknown tensor"):
        problem.tensor("Bias")


def test_keepers_parent_and_fanout():
    levels = (Level("DRAM", ALL), Level("Buf", {"Inputs"}, instances=(2, 1)),
              Level("Reg", ALL, instances=(2, 2)))
    n = nest([Loop("P", 2, 0, spatial=True, axis="x"), Loop("P", 2, 1, True, "y"),
              Loop("R", 3, 2)], levels=levels)
    n.validate()
    assert n.keepers("Weights") == (0, 2)
    assert n.parent("Weights", 2) == 0          # Buf is bypassed
    assert n.parent("Inputs", 2) == 1
    assert n.parent("Inputs", 0) is None        # the backing store
    assert n.parent("Outputs", 3) == 2          # compute's parent: the innermost keeper
    assert n.fanout(1) == {"x": 2, "y": 1}
    assert n.fanout(3) == {"x": 2, "y": 2}


@pytest.mark.parametrize("loops, levels, message", [
    ([Loop("P", 2, 0), Loop("R", 3, 1)], None, "rank 'P' multiply to 2, which does not cover its size 4"),
    ([Loop("Q", 4, 0), Loop("R", 3, 1), Loop("P", 4, 1)], None, "unknown rank"),
    ([Loop("P", 4, 2), Loop("R", 3, 1)], None, "level 2 is not in 0..1"),
    ([Loop("P", 4, 1), Loop("R", 3, 0)], None, "outer to inner level by level"),
    ([Loop("P", 4, 0, True, "z"), Loop("R", 3, 1)], None, "axis 'z'"),
    ([Loop("P", 0, 0), Loop("R", 3, 1)], None, "positive integer"),
    ([Loop("P", 4, 0, True, "x"), Loop("R", 3, 1)], None, "above 'Buf' use 4x1 instances"),
    ([Loop("P", 4, 1, True, "y"), Loop("R", 3, 1)], None, "above 'MAC' use 1x4 instances"),
    ([Loop("P", 4, 0), Loop("R", 3, 1)],
     (Level("DRAM", ALL | {"Bias"}),), "keeps unknown tensors"),
    ([Loop("P", 4, 0), Loop("R", 3, 0)],
     (Level("DRAM", {"Inputs", "Outputs"}),), "no level keeps tensor 'Weights'"),
    ([Loop("P", 4, 0), Loop("R", 3, 0)],
     (Level("DRAM", ALL), Level("DRAM", ALL)), "level names repeat"),
    ([Loop("P", 4, 0), Loop("R", 3, 0)], (Level("DRAM", ALL, block_size=0),), "block_size"),
])
def test_validate_rejects(loops, levels, message):
    bad = nest(loops, levels=levels)
    with pytest.raises(MappingError, match=message.replace("(", r"\(")):
        bad.validate()
    with pytest.raises(MappingError):
        count(bad)


def test_problem_errors():
    dim = Projection.sum_of
    with pytest.raises(MappingError, match="unknown ranks"):
        nest([Loop("P", 4, 0), Loop("R", 3, 0)], problem=Problem(
            {"P": 4, "R": 3}, (Tensor("Weights", (dim("S"),)), Tensor("Inputs", ()),
                               Tensor("Outputs", ())))).validate()
    with pytest.raises(MappingError, match="positive integer"):
        nest([Loop("P", 4, 0)], problem=Problem({"P": 0, "R": 3}, conv1d().tensors)).validate()


def test_level_index_names_the_levels():
    n = nest([Loop("P", 4, 0), Loop("R", 3, 1)])
    assert n.level_index("Buf") == 1
    with pytest.raises(MappingError, match=r"\['DRAM', 'Buf'\]"):
        n.level_index("SRAM")


def test_counts_lookup_error_lists_kept_pairs():
    counts = count(nest([Loop("P", 4, 0), Loop("R", 3, 1)]))
    with pytest.raises(KeyError, match="'DRAM', 'Inputs'"):
        counts["DRAM", "Bias"]
