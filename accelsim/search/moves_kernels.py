"""numba loops of the random sampler and the local moves (:mod:`accelsim.search.moves`);
they import only numpy and numba."""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.search.kernels import level_bytes

MOVES = (0.45, 0.6, 0.75, 0.92)
"""Cumulative chances of: move a prime factor, swap two factors, exchange a prime between
two ranks of a spatial slot, re-draw a level's order; else flip a keep choice."""


@njit(cache=True)
def _fits_with(j, r, d, ext, keeps, fit):
    """Whether levels 1..j still fit with rank r's extent there multiplied by d (``fit``:
    the space's FitArrays)."""
    fits = True
    for jj in range(1, j + 1):
        ext[jj, r] *= d
        fits = fits and level_bytes(jj, ext, keeps, fit) <= fit.cap[jj]
        ext[jj, r] //= d
    return fits


@njit(cache=True)
def _divisors(n, out):
    """The divisors of n, ascending, into out; returns how many."""
    k = 0
    d = 1
    while d * d <= n:
        if n % d == 0:
            out[k] = d
            k += 1
        d += 1
    m = k
    for i in range(m - 1, -1, -1):
        q = n // out[i]
        if q != out[i]:
            out[k] = q
            k += 1
    return k


@njit(cache=True)
def _slot_order(slot_level, slot_axis):
    """Slots innermost level first; within a level spatial slots before the temporal one."""
    s = slot_level.shape[0]
    key = np.empty(s, np.int64)
    for i in range(s):
        key[i] = -slot_level[i] * 4 + (0 if slot_axis[i] >= 0 else 1)
    return np.argsort(key, kind="mergesort")


@njit(cache=True)
def sample_batch(u, slots, allowed, remainder, draws, fit, out):
    """Fill ``out`` (Candidates) with one sample per row of ``u`` (see the module
    docstring); ``slots``, ``fit``: the space's Slots and FitArrays."""
    factors, perm, keeps = out
    slot_level, slot_axis, slot_limit = slots
    n, ns, nr = factors.shape
    order = _slot_order(slot_level, slot_axis)
    divs = np.empty(8192, np.int64)
    ext = np.ones((draws.keep_ok.shape[0], nr), np.int64)
    rem = np.ones(nr, np.int64)
    slot_prod = np.ones(ns, np.int64)
    for b in range(n):
        c = _draw_choices(u[b], draws, factors[b], perm[b], keeps[b], rem)
        _spans(factors[b], slot_level, ext, slot_prod)
        for s in order:
            rank_order = np.argsort(u[b, c:c + nr])
            c += nr
            for r in rank_order:
                pick, take_max = u[b, c], u[b, c + 1]
                c += 2
                if not allowed[s, r] or remainder[r] == s:
                    continue
                k = _divisors(rem[r], divs)
                lo, hi = 0, k          # divisors[:lo] fit, divisors[hi:] do not (a prefix fits)
                while lo < hi:
                    mid = (lo + hi) // 2
                    ok = slot_axis[s] < 0 or slot_prod[s] * divs[mid] <= slot_limit[s]
                    if ok and _fits_with(slot_level[s], r, divs[mid], ext, keeps[b], fit):
                        lo = mid + 1
                    else:
                        hi = mid
                if lo == 0:
                    continue
                fill = slot_axis[s] >= 0 and take_max < 0.5
                i = lo - 1 if fill else min(int(pick * lo), lo - 1)
                factors[b, s, r] *= divs[i]
                rem[r] //= divs[i]
                slot_prod[s] *= divs[i]
                ext[: slot_level[s] + 1, r] *= divs[i]
    refit_remainders(factors, remainder, fit.sizes)


@njit(cache=True)
def refit_remainders(factors, remainder, sizes):
    """Each rank's remainder slot (``remainder[r]``, -1: none) takes the fewest iterations
    that cover the rank, ceil(size / the other factors), so that no outer loop runs
    iterations that cover nothing; ``factors`` (B, slots, ranks), in place."""
    for b in range(factors.shape[0]):
        for r in range(factors.shape[2]):
            if remainder[r] >= 0:
                others = np.prod(factors[b, :, r]) // factors[b, remainder[r], r]
                factors[b, remainder[r], r] = max((sizes[r] + others - 1) // others, 1)


@njit(cache=True)
def _draw_choices(u, draws, factors, perm, keeps, rem):
    """Keeps, padded sizes, fixed factors and orders of one sample; returns the next
    unused column of u (and leaves in rem what each rank has left to place)."""
    pads, fixed, keep_ok, keep_forced = draws.pads, draws.fixed, draws.keep_ok, draws.keep_forced
    perm_ids, perm_counts = draws.orders
    keep_p = draws.keep_p
    nl, nt = keep_ok.shape
    c = 0
    for j in range(nl):
        for t in range(nt):
            keeps[j, t] = keep_forced[j, t] or (keep_ok[j, t] and u[c] < keep_p)
            c += 1
    for r in range(factors.shape[1]):
        npad = (pads[r] > 0).sum()
        pad = pads[r, min(int(u[c] * npad), npad - 1)]
        c += 1
        fixed_product = 1
        for s in range(factors.shape[0]):
            if fixed[s, r] > 0:
                factors[s, r] = fixed[s, r]
                fixed_product *= fixed[s, r]
        rem[r] = max(pad // fixed_product, 1)
    for j in range(nl):
        perm[j] = perm_ids[j, min(int(u[c] * perm_counts[j]), perm_counts[j] - 1)]
        c += 1
    return c


@njit(cache=True)
def _spans(factors, slot_level, ext, slot_prod):
    """Tile extents per level and spatial products per slot of the factors placed so far."""
    ext[:, :] = 1
    slot_prod[:] = 1
    for s in range(factors.shape[0]):
        for r in range(factors.shape[1]):
            slot_prod[s] *= factors[s, r]
            ext[: slot_level[s] + 1, r] *= factors[s, r]


@njit(cache=True)
def _smallest_primes(n, out):
    """The distinct prime factors of n into out; returns how many."""
    k = 0
    p = 2
    while p * p <= n:
        if n % p == 0:
            out[k] = p
            k += 1
            while n % p == 0:
                n //= p
        p += 1
    if n > 1:
        out[k] = n
        k += 1
    return k


@njit(cache=True)
def _pick(mask, x):
    """The index of the int(x * count)-th True entry of mask (-1 if none)."""
    total = 0
    for i in range(mask.shape[0]):
        total += mask[i]
    if total == 0:
        return -1
    want = min(int(x * total), total - 1)
    for i in range(mask.shape[0]):
        if mask[i]:
            if want == 0:
                return i
            want -= 1
    return -1


@njit(cache=True)
def mutate_batch(u, allowed, slot_axis, orders, optional, out):
    """One local move on each candidate of ``out``, chosen and drawn by its row of ``u``."""
    factors, perm, keeps = out
    perm_ids, perm_counts = orders
    n, ns, nr = factors.shape
    primes = np.empty(64, np.int64)
    flat_optional = optional.ravel()
    for b in range(n):
        op = u[b, 0]
        if op < MOVES[1]:
            _move_factor(u[b], allowed, factors[b], primes, op < MOVES[0])
        elif op < MOVES[2]:
            _exchange_spatial(u[b], allowed, slot_axis, factors[b], primes)
        elif op < MOVES[3] or flat_optional.sum() == 0:
            j = _pick(perm_counts > 1, u[b, 5])
            if j >= 0:
                perm[b, j] = perm_ids[j, min(int(u[b, 6] * perm_counts[j]), perm_counts[j] - 1)]
        else:
            i = _pick(flat_optional, u[b, 7])
            j, t = i // optional.shape[1], i % optional.shape[1]
            keeps[b, j, t] = not keeps[b, j, t]


@njit(cache=True)
def _move_factor(u, allowed, factors, primes, one_prime):
    """Move a prime factor of a rank from one slot to another (or swap two slots' factors)."""
    ns, nr = factors.shape
    movable = np.zeros(nr, np.bool_)
    for r in range(nr):
        movable[r] = allowed[:, r].sum() >= 2
    r = _pick(movable, u[1])
    if r < 0:
        return
    src_mask = np.zeros(ns, np.bool_)
    for s in range(ns):
        src_mask[s] = allowed[s, r] and factors[s, r] > 1
    src = _pick(src_mask, u[2])
    if src < 0:
        return
    dst_mask = allowed[:, r].copy()
    dst_mask[src] = False
    dst = _pick(dst_mask, u[3])
    if one_prime:
        k = _smallest_primes(factors[src, r], primes)
        p = primes[min(int(u[4] * k), k - 1)]
        factors[src, r] //= p
        factors[dst, r] *= p
    else:
        f = factors[src, r]
        factors[src, r] = factors[dst, r]
        factors[dst, r] = f


@njit(cache=True)
def _exchange_spatial(u, allowed, slot_axis, factors, primes):
    """Trade a prime p between two ranks of a spatial slot: rank r1 gives p to one of its
    temporal slots, rank r2 brings p from one of its own (the slot's product, hence the
    array's utilization, is unchanged)."""
    ns, nr = factors.shape
    spatial = np.zeros(ns, np.bool_)
    for s in range(ns):
        spatial[s] = slot_axis[s] >= 0 and (factors[s] > 1).any()
    s = _pick(spatial, u[1])
    if s < 0:
        return
    r1 = _pick((factors[s] > 1) & allowed[s], u[2])
    if r1 < 0:
        return
    k = _smallest_primes(factors[s, r1], primes)
    p = primes[min(int(u[3] * k), k - 1)]
    givers = np.zeros(ns * nr, np.bool_)
    takers = np.zeros(ns, np.bool_)
    for t in range(ns):
        takers[t] = slot_axis[t] < 0 and allowed[t, r1]
        for r2 in range(nr):
            givers[t * nr + r2] = (r2 != r1 and slot_axis[t] < 0 and allowed[t, r2]
                                   and allowed[s, r2] and factors[t, r2] % p == 0)
    give, take = _pick(givers, u[4]), _pick(takers, u[6])
    if give < 0 or take < 0:
        return
    t2, r2 = give // nr, give % nr
    factors[s, r1] //= p
    factors[take, r1] *= p
    factors[t2, r2] //= p
    factors[s, r2] *= p
