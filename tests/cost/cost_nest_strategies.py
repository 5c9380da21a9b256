"""Hypothesis strategies for small random loop nests (GEMM and 1-D convolution).

Shared by the oracle's property tests and, later, by kernel-vs-oracle comparisons.  Nests
have imperfect factors (clipped partial tiles), bypassed tensors, spatial loops on both mesh
axes and random multicast / spatial-reduction flags, and stay below ``MAX_ITERATIONS``.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from accelsim.cost import (ActionEnergy, Compute, Level, Loop, LoopNest, Problem, Projection,
                           Tensor)

MAX_ITERATIONS = 11 * 11 * 7   # each rank's factors multiply to less than twice its size


def gemm(m: int, n: int, k: int) -> Problem:
    dim = Projection.sum_of
    return Problem({"M": m, "N": n, "K": k}, (
        Tensor("A", (dim("M"), dim("K"))), Tensor("B", (dim("K"), dim("N"))),
        Tensor("Z", (dim("M"), dim("N")), read_write=True)))


def conv1d(k: int, p: int, r: int) -> Problem:
    dim = Projection.sum_of
    return Problem({"K": k, "P": p, "R": r}, (
        Tensor("Weights", (dim("K"), dim("R"))), Tensor("Inputs", (dim("P", "R"),)),
        Tensor("Outputs", (dim("K"), dim("P")), read_write=True)))


def batched(b: int, m: int, n: int, k: int) -> Problem:
    """Four ranks, a scaled index (A reads every other row of a 2M-row buffer) and a
    constant dimension (B is one slice of a larger tensor)."""
    dim = Projection.sum_of
    return Problem({"B": b, "M": m, "N": n, "K": k}, (
        Tensor("A", (dim("B"), Projection(((2, "M"),)), dim("K"))),
        Tensor("W", (Projection((), 3), dim("K"), dim("N"))),
        Tensor("Z", (dim("B"), dim("M"), dim("N")), read_write=True)))


def blocked(m: int, n: int, block: int) -> Problem:
    """A split rank: X is indexed by m, Y and the accumulated Z by the block index m // B
    (per-block statistics such as FlashAttention's block row max)."""
    dim = Projection.sum_of
    per_block = Projection(((1, "M"),), 0, block)
    return Problem({"M": m, "N": n}, (
        Tensor("X", (dim("M"), dim("N"))), Tensor("Y", (per_block,)),
        Tensor("Z", (per_block, dim("N")), read_write=True)))


@st.composite
def problems(draw) -> Problem:
    size = st.integers(1, 6)
    family = draw(st.integers(0, 3))
    if family == 3:
        return blocked(draw(st.integers(1, 9)), draw(size), draw(st.integers(2, 3)))
    if family == 0:
        return gemm(draw(size), draw(size), draw(size))
    if family == 1:
        return conv1d(draw(size), draw(size), draw(st.integers(1, 4)))
    small = st.integers(1, 3)
    return batched(draw(small), draw(small), draw(small), draw(small))


@st.composite
def rank_loops(draw, rank: str, size: int, depth: int) -> list[Loop]:
    """1-3 loops over ``rank`` whose factors cover ``size``, possibly with clipping."""
    factors = []
    for _ in range(draw(st.integers(0, 2))):
        factor = draw(st.integers(1, 4))
        factors.append(factor if math.prod(factors) * factor <= size else 1)
    factors.append(math.ceil(size / math.prod(factors)))   # product < 2 * size
    loops = []
    for factor in factors:
        level = draw(st.integers(0, depth - 1))
        spatial = draw(st.integers(0, 3)) == 0
        loops.append(Loop(rank, factor, level, spatial, draw(st.sampled_from("xy"))))
    return loops


@st.composite
def loop_nests(draw) -> LoopNest:
    problem = draw(problems())
    depth = draw(st.integers(1, 3))
    loops = []
    for rank, size in problem.ranks.items():
        loops += draw(rank_loops(rank, size, depth))
    loops = draw(st.permutations(loops))
    loops = sorted(loops, key=lambda loop: loop.level)   # stable: random order within a level
    assert math.prod(loop.factor for loop in loops) <= MAX_ITERATIONS
    return hierarchy(draw, problem, tuple(loops), depth, (0.5, 1, 2, 4), (0, 0, 4, 8, 16))


def hierarchy(draw, problem: Problem, loops: tuple[Loop, ...], depth: int, element_bytes,
              word_bits) -> LoopNest:
    """A random hierarchy of ``depth`` levels for ``loops``: element sizes, keeps, blocks,
    energies and networks drawn; each level's mesh the fan-out the loops give it."""
    problem = Problem(problem.ranks, tuple(
        Tensor(t.name, t.dims, t.read_write, draw(st.sampled_from(element_bytes)))
        for t in problem.tensors))
    names = problem.tensor_names
    levels = []
    for i in range(depth):
        keeps = frozenset(names) if i == 0 else frozenset(
            draw(st.lists(st.sampled_from(names), unique=True)))
        levels.append(dict(name=f"L{i}", keeps=keeps, block_size=draw(st.integers(1, 4)),
                           word_bits=draw(st.sampled_from(word_bits)),
                           energy=ActionEnergy(*(float(draw(st.integers(0, 5)))
                                                 for _ in range(3))),
                           multicast=draw(st.booleans()),
                           spatial_reduction=draw(st.booleans())))
    draft = LoopNest(problem, tuple(Level(**kw) for kw in levels), Compute(), loops)
    meshes = [tuple(draft.fanout(i).values()) for i in range(depth + 1)]
    return LoopNest(problem, tuple(Level(instances=meshes[i], **kw) for i, kw in enumerate(levels)),
                    Compute(instances=meshes[depth], energy_per_op=1.0), loops)
