"""The tile footprint: elements of a tensor that a tile of the iteration space covers.

The one home of the formula that the capacity pre-check (accelsim.mapping.capacity), the
search's batch pre-check and fit tests (accelsim.search.kernels, accelsim.search.batch_model)
and the compulsory-traffic floors (accelsim.search.group_bound) all use.  It imports only
numpy and numba, so other numba kernels call it too; from Python the same compiled
functions run.

A tensor dimension's index is ``sum_q c_q * rank_q`` (offsets dropped: they shift a tile,
not its size), optionally divided by a block size ``B`` (rounding down).  When every rank of
the sum runs over ``e_q`` consecutive values (its tile extent, clipped to the rank's size):

* ``reach`` = how far the index moves across the tile: ``sum_q |c_q| * (e_q - 1)`` for a
  sum of ranks (a sliding window ``p + r`` reaches ``(e_p - 1) + (e_r - 1)``), ``e - 1`` for
  a single rank whatever its coefficient (a strided index ``c * p`` touches ``e`` elements);
* the dimension's extent is ``reach // B + 1``: the ``reach + 1`` consecutive indices of the
  first tile, in whole blocks (``ceil((reach + 1) / B)``);
* the tile's elements are the product of its dimensions' extents.

For a tile that does not start at a block boundary this is the first (largest unless a
block straddles) tile, which is what the pre-check compares with a level's capacity.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def term_reach(extent, coefficient, terms):
    """How far one term ``coefficient * rank`` of a dimension's index moves while the rank
    runs over ``extent`` values: ``|coefficient| * (extent - 1)`` in a sum of ``terms`` >= 2
    ranks, ``extent - 1`` for a lone rank (its values are ``extent`` distinct elements)."""
    step = abs(coefficient) if terms > 1 else 1
    return step * (extent - 1)


@njit(cache=True, inline="always")
def dim_elements(reach, divisor):
    """Extent of a tensor dimension whose index reaches ``reach`` across the tile, in
    blocks of ``divisor`` (1: a plain index): ``ceil((reach + 1) / divisor)``."""
    return reach // divisor + 1


@njit(cache=True, inline="always")
def tile_elements(t, ext, sizes, dim_rank, dim_div, ndims):
    """Elements of tensor t's tile for rank extents ``ext`` (clipped to ``sizes``), in the
    packed form of accelsim.cost.fast.ProblemArrays: ``dim_rank[t, d]`` the (up to two)
    ranks of dimension d with unit coefficients (-1: none), ``dim_div[t, d]`` its block size.

    Inlined into its callers, and the one- and two-rank cases spelled apart: a call, or a
    loop over the ranks, makes the search's fit tests several times slower."""
    tile = 1
    for d in range(ndims[t]):
        r0 = dim_rank[t, d, 0]
        r1 = dim_rank[t, d, 1]
        if r0 < 0:
            continue
        if r1 < 0:
            tile *= dim_elements(term_reach(min(ext[r0], sizes[r0]), 1, 1), dim_div[t, d])
        else:
            reach = (term_reach(min(ext[r0], sizes[r0]), 1, 2)
                     + term_reach(min(ext[r1], sizes[r1]), 1, 2))
            tile *= dim_elements(reach, dim_div[t, d])
    return tile


@njit(cache=True)
def tile_elements_batch(ext, sizes, dim_rank, dim_div, ndims, out):
    """out[b, j, t] = :func:`tile_elements` of tensor t for the extents ``ext[b, j]``."""
    for b in range(out.shape[0]):
        for j in range(out.shape[1]):
            for t in range(out.shape[2]):
                out[b, j, t] = tile_elements(t, ext[b, j], sizes, dim_rank, dim_div, ndims)


def projection_elements(dims, extent, sizes) -> int:
    """:func:`tile_elements` for a tensor given as projections (objects with ``terms``, the
    (coefficient, rank name) pairs, and ``divisor``), any number of ranks per dimension;
    ``extent`` and ``sizes`` map rank names to the tile's extents and the ranks' sizes."""
    total = 1
    for dim in dims:
        terms = [(c, r) for c, r in dim.terms if c != 0]
        reach = 0
        for c, r in terms:
            reach += term_reach(min(extent[r], sizes[r]), c, len(terms))
        total *= dim_elements(reach, dim.divisor)
    return int(total)
