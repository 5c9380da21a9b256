"""numba loops of the exhaustive enumeration (:mod:`accelsim.search.exhaustive`): which
prefixes of a factor assignment fit, and the cross product of the ranks' chains; they
import only numpy and numba."""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.search.kernels import level_bytes


@njit(cache=True)
def _prefix_fits(depth, state, chains, keeps, fit, slots, work):
    """Whether the chains the odometer shows for ranks 0..depth fit the fan-outs and every
    level below the first (``work``: scratch for their extents)."""
    flat, ext, start, _ = chains
    slot_axis, slot_limit = slots.axis, slots.limit
    nl = ext.shape[1]
    work[:, :] = 1
    for r in range(depth + 1):
        row = start[r] + state[r]
        for j in range(nl):
            work[j, r] = ext[row, j]
    for s in range(slot_axis.shape[0]):
        if slot_axis[s] >= 0:
            used = 1
            for r in range(depth + 1):
                used *= flat[start[r] + state[r], s]
            if used > slot_limit[s]:
                return False
    for j in range(1, nl):
        if level_bytes(j, work, keeps, fit) > fit.cap[j]:
            return False
    return True


@njit(cache=True)
def cross_batch(chains, state, keeps, fit, slots, out):
    """Advance the odometer over per-rank chains, writing valid index tuples to out."""
    count = chains.count
    nr = chains.start.shape[0]
    work = np.ones((chains.ext.shape[1], nr), np.int64)
    n = 0
    while state[0] < count[0] and n < out.shape[0]:
        bad = nr
        for k in range(nr):
            if not _prefix_fits(k, state, chains, keeps, fit, slots, work):
                bad = k
                break
        if bad == nr:
            out[n] = state
            n += 1
            bad = nr - 1
        state[bad] += 1
        for k in range(bad + 1, nr):
            state[k] = 0
        k = bad
        while k > 0 and state[k] >= count[k]:
            state[k] = 0
            k -= 1
            state[k] += 1
    return n
