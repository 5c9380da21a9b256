"""The closed form counts perfect nests with block-index dimensions (``m // B``) when aligned.

* A table of hand-classified loop chains: which rank factorizations respect a block size.
* Random perfect nests with block indices (one or two split ranks, a block index beside a
  sliding window, a rank smaller than its block), several levels, spatial loops on both mesh
  axes, bypassed tensors, accumulated tensors, random multicast / spatial-reduction flags:
  the aligned ones are counted by the closed form, and every count, capacity, instance count
  and energy equals the oracle's and the tile walker's; the unaligned ones go to the walker
  and still equal the oracle.  Alignment is decided here by an independent Python check.
* A FlashAttention-2 fused nest at N = 16384 (d = 64, 128 x 128 blocks), which the walker
  could not count in reasonable time, against counts derived by hand from the loop nest.

Also run with NUMBA_DISABLE_JIT=1 (fewer random examples there; the sizes are small).  The
full random suite is marked slow; the README's test command runs 150 examples of it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cost import (Compute, Level, Loop, LoopNest, Problem, Projection,
                           Tensor, count)
from accelsim.cost import fast, walker
from cost_nest_strategies import hierarchy
from test_kernel import oracle_arrays

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"
EXAMPLES = int(os.environ.get("ACCELSIM_BLOCK_EXAMPLES", "500" if NO_JIT else "1500"))
QUICK_EXAMPLES = 150
"""The random suite's size in the README's test command: enough that the mix of aligned,
unaligned and merged nests the suite asserts still holds (at 50 it does not)."""

dim = Projection.sum_of


def block(rank: str, size: int) -> Projection:
    return Projection(((1, rank),), 0, size)


# ---------------------------------------------------------------- problems with block indices

def row_stats(m: int, b: int, n: int) -> Problem:
    """FlashAttention's per-block statistics: X[m, n], a per-block Y[m // B] and an
    accumulated per-block Z[m // B, n]."""
    return Problem({"M": m, "N": n}, (
        Tensor("X", (dim("M"), dim("N"))), Tensor("Y", (block("M", b),)),
        Tensor("Z", (block("M", b), dim("N")), read_write=True)))


def two_blocks(m: int, bm: int, n: int, bn: int, k: int) -> Problem:
    """Two split ranks with different block sizes; S is blocked in both dimensions."""
    return Problem({"M": m, "N": n, "K": k}, (
        Tensor("A", (block("M", bm), dim("K"))), Tensor("W", (dim("K"), dim("N"))),
        Tensor("S", (block("M", bm), block("N", bn)), read_write=True),
        Tensor("Z", (dim("M"), block("N", bn)), read_write=True)))


def windowed(nb: int, b: int, p: int, r: int) -> Problem:
    """A block index beside a sliding window: I[m // B, p + r] and O[m // B, p]."""
    return Problem({"M": nb * b, "P": p, "R": r}, (
        Tensor("I", (block("M", b), dim("P", "R"))), Tensor("W", (dim("M"), dim("R"))),
        Tensor("O", (block("M", b), dim("P")), read_write=True)))


@st.composite
def block_problems(draw) -> Problem:
    family = draw(st.integers(0, 3))
    blocks = st.sampled_from((2, 3, 4))
    if family == 0:
        b = draw(blocks)
        return row_stats(b * draw(st.integers(1, 4)), b, draw(st.integers(1, 4)))
    if family == 1:
        bm, bn = draw(blocks), draw(blocks)
        return two_blocks(bm * draw(st.integers(1, 3)), bm, bn * draw(st.integers(1, 2)), bn,
                          draw(st.integers(1, 3)))
    if family == 2:
        return windowed(draw(st.integers(1, 3)), draw(blocks), draw(st.integers(1, 3)),
                        draw(st.integers(1, 3)))
    b = draw(st.sampled_from((4, 6, 8)))          # a rank smaller than its block (m < B)
    return row_stats(draw(st.sampled_from([m for m in (1, 2, 3, 4) if b % m == 0])), b,
                     draw(st.integers(1, 3)))


# ---------------------------------------------------------------- perfect loop chains

def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def ordered_factors(draw, n: int, most: int = 3) -> list[int]:
    """Factors (outer to inner) that multiply to exactly ``n``."""
    out = []
    for _ in range(draw(st.integers(0, most - 1))):
        f = draw(st.sampled_from(divisors(n)))
        out.append(f)
        n //= f
    return out + [n]


def block_of(problem: Problem, rank: str) -> int:
    """The block size that divides ``rank`` in some tensor (1: none)."""
    return max([d.divisor for t in problem.tensors for d in t.dims if rank in d.ranks] + [1])


@st.composite
def rank_chain(draw, problem: Problem, rank: str) -> list[int]:
    """Loop factors of ``rank``, outer to inner; usually aligned with its block size."""
    size, q = problem.ranks[rank], block_of(problem, rank)
    if q == 1 or not draw(st.integers(0, 3)):      # a quarter: any factorization
        return draw(ordered_factors(size))
    if size % q == 0:
        return draw(ordered_factors(size // q, 2)) + draw(ordered_factors(q, 2))
    return draw(ordered_factors(size, 2))           # q % size == 0 (checked by the problems)


def interleave(draw, per_rank: dict[str, list[Loop]]) -> list[Loop]:
    """Merge the ranks' loops, level by level in a random order, keeping each rank's order."""
    loops = [loop for chain in per_rank.values() for loop in chain]
    shuffled = draw(st.permutations(loops))
    shuffled = sorted(shuffled, key=lambda loop: loop.level)
    queues = {rank: list(chain) for rank, chain in per_rank.items()}
    return [queues[loop.rank].pop(0) for loop in shuffled]


@st.composite
def block_nests(draw) -> LoopNest:
    problem = draw(block_problems())
    depth = draw(st.integers(1, 4))
    per_rank = {}
    for rank in problem.ranks:
        factors = draw(rank_chain(problem, rank))
        levels = sorted(draw(st.integers(0, depth - 1)) for _ in factors)
        per_rank[rank] = [Loop(rank, f, lv, draw(st.integers(0, 3)) == 0,
                               draw(st.sampled_from("xy"))) for f, lv in zip(factors, levels)]
    loops = interleave(draw, per_rank)
    return hierarchy(draw, problem, tuple(loops), depth, (0.5, 1, 2), (0, 0, 8, 16))


# ---------------------------------------------------------------- the independent check

def is_aligned(nest: LoopNest) -> bool:
    """Every loop over a blocked rank (factor > 1) steps whole blocks or stays in one."""
    for i, loop in enumerate(nest.loops):
        q = block_of(nest.problem, loop.rank)
        if q == 1 or loop.factor == 1:
            continue
        weight = math.prod(inner.factor for inner in nest.loops[i + 1:]
                           if inner.rank == loop.rank)
        span = weight * loop.factor
        if weight % q != 0 and not (span <= q and q % span == 0):
            return False
    return True


def merged_spatial(nest: LoopNest, kind: str) -> bool:
    """A spatial loop over a rank of a ``kind`` ('window' or 'block') dimension of some
    tensor, below a network that merges that tensor's traffic."""
    for loop in nest.loops:
        if not loop.spatial or loop.factor == 1:
            continue
        level = nest.levels[loop.level]
        for tensor in nest.problem.tensors:
            if not (level.spatial_reduction if tensor.read_write else level.multicast):
                continue
            for d in tensor.dims:
                if loop.rank in d.ranks and (len(d.ranks) == 2 if kind == "window"
                                             else d.divisor > 1):
                    return True
    return False


def run_kernel(kernel, nest: LoopNest):
    problem = fast.encode_problem(nest.problem)
    batch = fast.encode_nests([nest], problem)
    levels = fast.encode_levels(nest)
    b, nl, nt = batch.keeps.shape
    out = fast.BatchCounts(np.zeros((b, nl, nt, 4), np.int64), np.zeros((b, nl, nt), np.int64),
                           np.zeros((b, nl, nt), np.int64), np.zeros((b, nl, nt, 3)),
                           np.zeros((b, 3), np.int64))
    kernel(batch, problem, levels, out)
    return out


def assert_equal_outputs(got, want) -> None:
    counts, capacity, instances, energy, compute = got
    np.testing.assert_array_equal(counts, want[0])
    np.testing.assert_array_equal(capacity, want[1])
    np.testing.assert_array_equal(instances, want[2])
    np.testing.assert_allclose(energy, want[3], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(compute, want[4])


def oracle_outputs(nest: LoopNest):
    ref = count(nest, check_capacity=False)
    actions, capacity, instances, energy = oracle_arrays(nest, ref)
    compute = np.array([ref.compute.operations, ref.compute.steps, ref.compute.instances])
    return actions[None], capacity[None], instances[None], energy[None], compute[None]


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("factors, block_size, aligned", [
    ((3, 4), 4, True),           # blocks, then the inside of a block
    ((3, 2, 2), 4, True),        # the block split in two loops
    ((12,), 4, False),           # one loop crosses block boundaries mid-stride
    ((2, 6), 4, False),          # inner loop spans 1.5 blocks
    ((6, 2), 4, False),          # outer loop steps half blocks
    ((1, 12, 1), 12, True),      # the whole rank inside one block
    ((2, 3), 12, True),          # the rank (6) smaller than its block, 6 divides 12
    ((4, 3), 6, False),          # inner 3 fits, but the outer loop steps by 3 (half a block)
    ((2, 2, 3), 3, True),
])
def test_alignment_table(factors, block_size, aligned):
    problem = Problem({"M": math.prod(factors)}, (Tensor("Y", (block("M", block_size),)),))
    nest = LoopNest(problem, (Level("L0", frozenset({"Y"})),), Compute(),
                    tuple(Loop("M", f, 0) for f in factors))
    batch = fast.encode_nests([nest], fast.encode_problem(problem))
    assert fast.aligned_mask(batch, fast.encode_problem(problem))[0] == aligned
    assert is_aligned(nest) == aligned


@pytest.mark.parametrize("examples", [
    pytest.param(min(EXAMPLES, QUICK_EXAMPLES), id="quick"),
    pytest.param(EXAMPLES, id="full", marks=pytest.mark.slow),
])
def test_closed_form_equals_oracle_and_walker_on_block_nests(examples):
    seen = {"aligned": 0, "unaligned": 0, "merged": 0}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(block_nests())
    def check(nest):
        aligned = is_aligned(nest)
        problem = fast.encode_problem(nest.problem)
        if merged_spatial(nest, "window") or (not aligned and merged_spatial(nest, "block")):
            with pytest.raises(fast.UnsupportedNest, match="merges instances"):
                fast.encode_nests([nest], problem)
            return
        batch = fast.encode_nests([nest], problem)
        assert bool(fast.closed_form_mask(batch, problem)[0]) == aligned
        want = oracle_outputs(nest)
        got = fast.count_nests([nest])[0]
        assert_equal_outputs((got.counts[None], got.capacity[None], got.instances[None],
                              got.energy[None],
                              np.array([[got.operations, got.steps, got.compute_instances]])),
                             want)
        merged = merged_spatial(nest, "block")
        if aligned:
            assert_equal_outputs(run_kernel(fast.kernels.count_perfect_batch, nest), want)
            seen["merged"] += merged
        if not merged:          # the walker does not take merged block-index fan-outs
            assert_equal_outputs(run_kernel(walker.count_walk_batch, nest), want)
        seen["aligned" if aligned else "unaligned"] += 1

    check()
    total = seen["aligned"] + seen["unaligned"]
    assert seen["aligned"] >= 0.5 * total and seen["unaligned"] >= 0.05 * total, seen
    assert seen["merged"] >= 0.05 * seen["aligned"], seen


def test_unaligned_nests_go_to_the_walker(monkeypatch):
    """Two nests of one problem in one batch: the aligned one to the closed form, the other
    to the walker; both equal the oracle."""
    problem = row_stats(12, 4, 2)
    levels = (Level("DRAM", frozenset("XYZ")), Level("Buf", frozenset("YZ"), instances=(2, 1)))
    aligned = LoopNest(problem, levels, Compute(instances=(2, 1)),
                       (Loop("M", 3, 0), Loop("N", 2, 0, spatial=True), Loop("M", 4, 1)))
    unaligned = LoopNest(problem, levels, Compute(instances=(2, 1)),
                         (Loop("M", 6, 0), Loop("N", 2, 0, spatial=True), Loop("M", 2, 1)))
    routed = {}
    for name in ("count_perfect_batch", "count_walk_batch"):
        module = fast.kernels if name == "count_perfect_batch" else walker
        original = getattr(module, name)

        def spy(*args, _name=name, _original=original):
            routed[_name] = args[0].factor.tolist()    # the factors of the nests it counted
            return _original(*args)
        monkeypatch.setattr(module, name, spy)
    got = fast.count_nests([aligned, unaligned])
    assert routed == {"count_perfect_batch": [[3, 2, 4]], "count_walk_batch": [[6, 2, 2]]}
    for nest, counts in zip((aligned, unaligned), got):
        want = oracle_outputs(nest)
        assert_equal_outputs((counts.counts[None], counts.capacity[None],
                              counts.instances[None], counts.energy[None],
                              np.array([[counts.operations, counts.steps,
                                         counts.compute_instances]])), want)


def test_block_index_with_offset_is_unsupported():
    problem = Problem({"M": 4}, (Tensor("Y", (Projection(((1, "M"),), 1, 2),)),))
    nest = LoopNest(problem, (Level("L0", frozenset({"Y"})),), Compute(), (Loop("M", 4, 0),))
    with pytest.raises(fast.UnsupportedNest, match="no offset"):
        fast.count_nests([nest])


# ---------------------------------------------------------------- FlashAttention-2 at 16K

N, D, HEADS, BLOCK, WAVE = 16384, 64, 128, 128, 64
TR = TC = N // BLOCK


def fa2_pv_nest() -> LoopNest:
    """FlashAttention-2's P~V Einsum inside the fused group (accelsim.mapping.group):
    PV[h, p, m // 128, f] += PT[h, p, m] * V[h, m, f]; query blocks and the two waves of
    (batch x head) pairs at HBM, 64 pairs over the SMs, each SM's key-block loop, and a
    128 x 64 x 128 block in the register file.  V streams from HBM; PT and PV live in RF."""
    problem = Problem({"H": HEADS, "P": N, "M": N, "F": D}, (
        Tensor("PV", (dim("H"), dim("P"), block("M", BLOCK), dim("F")), read_write=True,
               bytes_per_element=4),
        Tensor("PT", (dim("H"), dim("P"), dim("M")), bytes_per_element=2),
        Tensor("V", (dim("H"), dim("M"), dim("F")), bytes_per_element=2)))
    levels = (Level("HBM", frozenset({"V"})), Level("L2", frozenset()),
              Level("SMEM", frozenset(), instances=(WAVE, 1), multicast=True,
                    spatial_reduction=True),
              Level("RF", frozenset({"PV", "PT", "V"}), instances=(WAVE, 1)))
    loops = (Loop("P", TR, 0), Loop("H", HEADS // WAVE, 0), Loop("H", WAVE, 1, spatial=True),
             Loop("M", TC, 2), Loop("P", BLOCK, 3), Loop("F", D, 3), Loop("M", BLOCK, 3))
    return LoopNest(problem, levels, Compute(instances=(WAVE, 1)), loops)


def test_flash_attention2_pv_at_16k_by_hand():
    nest = fa2_pv_nest()
    problem = fast.encode_problem(nest.problem)
    assert fast.closed_form_mask(fast.encode_nests([nest], problem), problem).all()
    got = fast.count_nests([nest])[0]
    hbm, rf = 0, 3
    pv, pt, v = 0, 1, 2
    ops = HEADS * N * N * D
    # V: every SM reads its head's 128 x 64 key block once per (query block, wave, key block)
    # -- FlashAttention-2's Tr * N * d reads per head (Dao 2023, Algorithm 1 line 6).
    assert got.counts[hbm, v].tolist() == [TR * HEADS * N * D, 0, 0, 0]
    assert got.counts[rf, v].tolist() == [ops, TR * HEADS * N * D, 0, 0]
    # PT: produced in the RF (its only keeper, so its backing store: no fills), one operand
    # read per operation.
    assert got.counts[rf, pt].tolist() == [ops, 0, 0, 0]
    # PV: one partial sum per operation; each (h, p, key block, f) is first touched once, so
    # the RF never refills it (fills 0) and reads every update but the first.
    first = HEADS * N * TC * D
    assert got.counts[rf, pv].tolist() == [ops - first, 0, ops, first]
    assert got.capacity[rf].tolist() == [BLOCK * 1 * D, BLOCK * BLOCK, BLOCK * D]
    assert got.instances[rf].tolist() == [WAVE] * 3
    assert (got.operations, got.steps, got.compute_instances) == (
        ops, TR * 2 * TC * BLOCK * D * BLOCK, WAVE)
