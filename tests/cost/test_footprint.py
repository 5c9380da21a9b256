"""The tile footprint (accelsim.cost.footprint) on hand-derived cases, in both of its forms:
projections with any number of ranks per dimension (the capacity pre-check, the compulsory
traffic floors) and the packed arrays the numba kernels read (the search's pre-check)."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.cost.fast import encode_problem
from accelsim.cost.footprint import (dim_elements, projection_elements, term_reach,
                                     tile_elements, tile_elements_batch)
from accelsim.cost.nest import Problem, Projection, Tensor

P, R, C, M = (1, "P"), (1, "R"), (1, "C"), (1, "M")

# (dims, tile extents, rank sizes, elements); every expected number worked out by hand:
CASES = [
    # 3x3 conv window, input index p + r: P tile 4, R tile 3 -> p + r in 0..5: 4 + 3 - 1 = 6
    ([Projection((P, R))], {"P": 4, "R": 3}, {"P": 8, "R": 3}, 6),
    # the same window with channels: C tile 2 x 6 window positions = 12
    ([Projection((C,)), Projection((P, R))], {"C": 2, "P": 4, "R": 3},
     {"C": 16, "P": 8, "R": 3}, 12),
    # clipped: a P tile of 8 on a rank of size 5 covers 5; 5 + 3 - 1 = 7
    ([Projection((P, R))], {"P": 8, "R": 3}, {"P": 5, "R": 3}, 7),
    # block index m // 4: M tile 6 spans indices 0..5, blocks 0 and 1 -> 2
    ([Projection((M,), divisor=4)], {"M": 6}, {"M": 16}, 2),
    # M tile 8 -> blocks 0, 1 -> 2; M tile 9 -> blocks 0..2 -> 3; M tile 1 -> 1
    ([Projection((M,), divisor=4)], {"M": 8}, {"M": 16}, 2),
    ([Projection((M,), divisor=4)], {"M": 9}, {"M": 16}, 3),
    ([Projection((M,), divisor=4)], {"M": 1}, {"M": 16}, 1),
    # strided single rank 2 * p, P tile 5: p in 0..4 touches 0, 2, 4, 6, 8 -> 5 elements
    ([Projection(((2, "P"),))], {"P": 5}, {"P": 8}, 5),
    # stride-2 window 2 * p + r, P tile 4, R tile 3: {0, 2, 4, 6} + {0, 1, 2} = 0..8 -> 9
    ([Projection(((2, "P"), R))], {"P": 4, "R": 3}, {"P": 8, "R": 3}, 9),
    # p - r: P tile 4, R tile 3 -> indices -2..3 -> 6
    ([Projection((P, (-1, "R")))], {"P": 4, "R": 3}, {"P": 8, "R": 3}, 6),
    # a zero coefficient does not count: 0 * c + p is the lone rank p, P tile 4 -> 4
    ([Projection(((0, "C"), P))], {"C": 2, "P": 4}, {"C": 2, "P": 8}, 4),
    # a constant dimension (no rank) has extent 1; with C tile 3 -> 3
    ([Projection(()), Projection((C,))], {"C": 3}, {"C": 4}, 3),
]


@pytest.mark.parametrize("dims, extent, sizes, expected", CASES)
def test_projection_elements(dims, extent, sizes, expected):
    assert projection_elements(dims, extent, sizes) == expected


def test_scalar_pieces():
    # a lone rank ignores its stride; a sum of ranks widens by |c| per step
    assert term_reach(5, 2, 1) == 4
    assert term_reach(4, 2, 2) == 6
    assert term_reach(3, -1, 2) == 2
    # reach 5 (indices 0..5) in blocks of 4 -> 2; in blocks of 1 -> 6
    assert dim_elements(5, 4) == 2
    assert dim_elements(5, 1) == 6


PACKED = Problem({"C": 16, "P": 8, "R": 3, "M": 16}, (
    Tensor("Inputs", (Projection((C,)), Projection((P, R)))),
    Tensor("Scales", (Projection((M,), divisor=4),)),
    Tensor("Outputs", (Projection((M,)), Projection((P,))), read_write=True),
))


def test_packed_form_agrees_with_projections():
    """Ranks C, P, R, M at tiles 2, 4, 3, 9 (P, M clipped to 8, 16 where larger): Inputs
    2 x (4 + 3 - 1) = 12, Scales ceil(9 / 4) = 3, Outputs 9 x 4 = 36."""
    arrays = encode_problem(PACKED)
    ext = np.array([2, 4, 3, 9], np.int64)
    got = [tile_elements(t, ext, arrays.sizes, arrays.dim_rank, arrays.dim_div, arrays.ndims)
           for t in range(3)]
    assert got == [12, 3, 36]
    named = dict(zip(PACKED.rank_names, ext.tolist()))
    assert got == [projection_elements(t.dims, named, PACKED.ranks) for t in PACKED.tensors]


def test_batch_form():
    """Two candidates x two levels: the whole problem (C 16, P 8, R 3, M 16) -> Inputs
    16 x 10 = 160, Scales 4, Outputs 128; and tiles 1, 1, 1, 1 -> 1 each; an extent beyond
    a rank's size (P 100) is clipped."""
    arrays = encode_problem(PACKED)
    ext = np.array([[[16, 100, 3, 16], [1, 1, 1, 1]]] * 2, np.int64)
    out = np.zeros((2, 2, 3), np.int64)
    tile_elements_batch(ext, arrays.sizes, arrays.dim_rank, arrays.dim_div, arrays.ndims, out)
    assert out.tolist() == [[[160, 4, 128], [1, 1, 1]]] * 2
