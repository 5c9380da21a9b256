"""Exhaustive enumeration: its pruning drops no outcome, and it covers what it counts.

Pruning is exact when every (energy, cycles, off-chip bytes) outcome reachable in the
unpruned mapspace (every factorization, every order of every level, every keep choice) is
reached by the pruned enumeration; the tests compare those sets on small cases, and check
that replacing orders by their class representatives leaves the kernel's counts unchanged.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from search_cases import SHARED, gemm, machine

from accelsim.arch import load_architecture
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.search import search
from accelsim.search.batch_model import count, metrics, model_constants, precheck
from accelsim.search.constraints import load_constraints
from accelsim.search.exhaustive import canonical_perms, enumerate_space, keep_choices, space_size
from accelsim.search.moves import mutate, sample
from accelsim.search.space import Candidates, build_space, concat, divisors

LEVELS = """
  - name: DRAM
    word_bits: 8
    read_bandwidth: 8 bit/cycle
    energy: {read: 100 pJ}
  - name: GLB
    capacity: 24 B
    word_bits: 8
    read_bandwidth: 16 bit/cycle
    energy: {read: 2 pJ}
  - name: REG
    capacity: 6 B
    word_bits: 8
    instances: [2, 2]
    energy: {read: 0.5 pJ}
    keep: [weight, output]
"""


def _outcomes(space, const, cands):
    ok = precheck(space, cands)
    cands = cands.take(np.flatnonzero(ok))
    m = metrics(space, const, count(space, cands), cands.keeps)
    return {(float(e), float(c), float(b)) for e, c, b, v in
            zip(m.energy_pj, m.cycles, m.offchip_bytes, m.valid) if v}


def _unpruned(space):
    """Every factorization (divisors of each padded size in every slot, the remainder slot
    topped up to cover the rank), order and keep choice, as one batch."""
    per_rank = []
    for r, size in enumerate(space.sizes.tolist()):
        slots = [s for s in range(space.n_slots) if space.allowed[s, r]]
        columns = []
        for pad in space.pads[r][space.pads[r] > 0].tolist():
            for combo in itertools.product(divisors(pad), repeat=len(slots)):
                if np.prod(combo) == pad:
                    column = np.ones(space.n_slots, np.int64)
                    column[slots] = combo
                    others = np.prod(column) // column[space.remainder[r]]
                    column[space.remainder[r]] = -(-size // others)
                    columns.append(column)
        per_rank.append(np.unique(np.array(columns), axis=0))
    parts = []
    perms = np.array(list(itertools.product(range(len(space.perms)), repeat=space.n_levels)))
    for keeps in keep_choices(space):
        for rows in itertools.product(*(range(len(c)) for c in per_rank)):
            factors = np.stack([per_rank[r][i] for r, i in enumerate(rows)], axis=1)
            n = perms.shape[0]
            parts.append(Candidates(np.repeat(factors[None], n, 0), perms,
                                    np.repeat(keeps[None], n, 0)))
    return concat(parts)


@pytest.mark.parametrize("einsum", ["gemm", "gemm-imperfect", "conv"])
def test_pruning_keeps_every_outcome(tmp_path, einsum):
    arch = machine(tmp_path, "three", LEVELS, mesh="[2, 2]")
    if einsum == "conv":
        bound = BoundEinsum(Einsum.parse("O[k,p] = I[p+r] * W[k,r]"), {"K": 2, "P": 4, "R": 2},
                            {"I": "int8", "W": "int8", "O": "int8"},
                            {"I": "input", "W": "weight", "O": "output"})
    else:
        bound = gemm(4, 2, 2, out="int8") if einsum == "gemm" else gemm(5, 2, 3, out="int8")
    constraints = {"levels": [{"level": "GLB", "keep": list(space_tensors(bound))}],
                   "imperfect": einsum == "gemm-imperfect"}
    space = build_space(bound, arch, load_constraints(constraints))
    const = model_constants(bound, arch)
    pruned = concat(list(enumerate_space(space)))
    full = _unpruned(space)
    assert len(pruned) == space_size(space) < len(full)
    assert _outcomes(space, const, pruned) == _outcomes(space, const, full)


def space_tensors(bound):
    return [a.tensor for a in bound.einsum.accesses(bound.sizes)]


def test_order_representatives_count_the_same():
    bound = gemm(32, 64, 48)
    arch = load_architecture(str(SHARED))
    space = build_space(bound, arch, load_constraints(None))
    rng = np.random.default_rng(11)
    cands = mutate(space, sample(space, 400, rng), rng, 2)
    cands = cands.take(np.flatnonzero(precheck(space, cands)))
    canon = Candidates(cands.factors, canonical_perms(space, cands), cands.keeps)
    assert (canon.perm != cands.perm).any()
    a, b = count(space, cands), count(space, canon)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)


def test_exhaustive_covers_its_space_and_finds_the_optimum(tmp_path):
    arch = machine(tmp_path, "three", LEVELS, mesh="[2, 2]")
    bound = gemm(4, 4, 2, out="int8")
    space = build_space(bound, arch, load_constraints(None))
    result = search(bound, arch, strategy="exhaustive", progress=False, bound=False)
    assert result.evaluated == space_size(space)
    sampled = search(bound, arch, strategy="random", budget=5000, progress=False, bound=False)
    assert result.report.energy_pj <= sampled.report.energy_pj
