"""numba loops of the traffic lower bound (:mod:`accelsim.search.bound`); they import only
numpy and numba."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _cost(ws, rw, refetch):
    """Traffic of a tensor read ``refetch`` times (weight x size given); accumulated
    tensors are read back and written again on every refetch but the first."""
    return ws * (2.0 * refetch - 1.0) if rw else ws * refetch


@njit(cache=True)
def _best_inner(fa, fb, fg, ws, rw):
    """Least traffic over which rank is innermost in segments S0 and S1, for segment
    factors fa, fb, fg of the ranks missing from the outer, middle and inner tensor.

    A tensor's refetch factor is the product of its missing rank's loops above its
    boundary, less the trailing run of those loops just above the boundary: a run passes an
    empty segment, takes the segment's missing-rank loop when that loop is innermost there,
    and goes on upward only if it is the segment's only loop.  In S2 the inner tensor's
    rank is best innermost; S0's innermost helps one tensor at most, so the best choice
    there is the one that saves most."""
    n0 = int(fa[0] > 1) + int(fb[0] > 1) + int(fg[0] > 1)
    n1 = int(fa[1] > 1) + int(fb[1] > 1) + int(fg[1] > 1)
    n2 = int(fa[2] > 1) + int(fb[2] > 1) + int(fg[2] > 1)
    through2 = n2 == 0 or (n2 == 1 and fg[2] > 1)
    cost1 = _cost(ws[0], rw[0], fa[0])
    save1 = cost1 - _cost(ws[0], rw[0], 1.0) if fa[0] > 1 else 0.0
    best = np.inf
    for c1 in range(3):
        if (n1 > 0 and (fa[1], fb[1], fg[1])[c1] == 1) or (n1 == 0 and c1 > 0):
            continue
        b_inner, g_inner = n1 > 0 and c1 == 1, n1 > 0 and c1 == 2
        refetch2 = fb[0] if (n1 == 0 or b_inner) else fb[0] * fb[1]
        up2 = n1 == 0 or (b_inner and n1 == 1)
        refetch3 = fg[0] * fg[1]
        up3 = False
        if through2:
            if n1 == 0:
                up3 = True
            elif g_inner:
                refetch3, up3 = fg[0], n1 == 1
        cost2 = _cost(ws[1], rw[1], refetch2)
        cost3 = _cost(ws[2], rw[2], refetch3)
        save = 0.0
        if n0 > 0:
            save = save1
            if up2 and fb[0] > 1:
                save = max(save, cost2 - _cost(ws[1], rw[1], refetch2 / fb[0]))
            if up3 and fg[0] > 1:
                save = max(save, cost3 - _cost(ws[2], rw[2], refetch3 / fg[0]))
        best = min(best, cost1 + cost2 + cost3 - save)
    return best


@njit(cache=True, parallel=True)
def sigma_curve(alpha, beta, gamma, weight, ws, rw, caps):
    """Least traffic per capacity bin for one order of tile boundaries (outer tensor
    first), given the segment chains of the ranks missing from the outer (alpha), middle
    (beta) and inner (gamma) tensor.  Tiles: outer beta x gamma inside b1, middle
    alpha x gamma inside b2, inner alpha x beta inside b3; the inner tile is known once
    alpha and beta are, so whole gamma loops are skipped when it overflows."""
    top = caps[caps.shape[0] - 1]
    local = np.full((alpha.shape[0], caps.shape[0]), np.inf)
    for ia in prange(alpha.shape[0]):
        fa = alpha[ia]
        e2a, e3a = fa[2] * fa[3], fa[3]
        for ib in range(beta.shape[0]):
            fb = beta[ib]
            e1b = fb[1] * fb[2] * fb[3]
            base = weight[2] * e3a * fb[3]
            if base + weight[0] * e1b + weight[1] * e2a > top:
                continue
            for ig in range(gamma.shape[0]):
                fg = gamma[ig]
                cap = base + weight[0] * e1b * fg[1] * fg[2] + weight[1] * e2a * fg[2]
                if cap > top:
                    continue
                traffic = _best_inner(fa, fb, fg, ws, rw)
                k = np.searchsorted(caps, cap)
                if traffic < local[ia, k]:
                    local[ia, k] = traffic
    out = np.full(caps.shape[0], np.inf)
    for ia in range(alpha.shape[0]):
        for k in range(caps.shape[0]):
            out[k] = min(out[k], local[ia, k])
    return out
