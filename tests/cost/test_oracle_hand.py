"""Hand-derived cases for the oracle: each expected number is worked out in the comments.

Notation: a loop list is written outer to inner as ``Level: rank factor``; a spatial loop is
marked ``(x)``.  "Entries" are the elements entering a level instance (module docstring of
accelsim.cost.oracle, rule 1).
"""

from __future__ import annotations

import pytest

from accelsim.cost import (ActionEnergy, Compute, Level, Loop, LoopNest, Problem, Projection,
                           Tensor, count)
from accelsim.errors import CapacityError

ALL = frozenset({"A", "B", "Z"})


def gemm(m: int, n: int, k: int) -> Problem:
    """Z[m, n] += A[m, k] * B[k, n]."""
    dim = Projection.sum_of
    return Problem({"M": m, "N": n, "K": k}, (
        Tensor("A", (dim("M"), dim("K"))),
        Tensor("B", (dim("K"), dim("N"))),
        Tensor("Z", (dim("M"), dim("N")), read_write=True)))


def conv1d(p: int, r: int) -> Problem:
    """Outputs[p] += Weights[r] * Inputs[p + r]."""
    dim = Projection.sum_of
    return Problem({"P": p, "R": r}, (
        Tensor("Weights", (dim("R"),)),
        Tensor("Inputs", (dim("P", "R"),)),
        Tensor("Outputs", (dim("P"),), read_write=True)))


def totals(counts, level, tensor):
    t = counts[level, tensor]
    return dict(reads=t.reads, fills=t.fills, updates=t.updates,
                first_touches=t.first_touches, temporal_reductions=t.temporal_reductions)


def ro(reads, fills):
    """Totals of a read-only tensor."""
    return dict(reads=reads, fills=fills, updates=0, first_touches=0, temporal_reductions=0)


def rw(updates, first_touches, fills):
    """Totals of a read-write tensor: reads = temporal reductions = updates - first touches."""
    return dict(reads=updates - first_touches, fills=fills, updates=updates,
                first_touches=first_touches, temporal_reductions=updates - first_touches)


# --- partial tiles -----------------------------------------------------------------------

def partial_gemm(buffer_capacity=None) -> LoopNest:
    # M = 10 split 3 x 4: DRAM: M 3 | Buf: M 4, N 2, K 3.  The last M tile is rows 8..9.
    levels = (Level("DRAM", ALL, block_size=8, energy=ActionEnergy(read=10, update=12)),
              Level("Buf", ALL, capacity=buffer_capacity))
    loops = (Loop("M", 3, 0), Loop("M", 4, 1), Loop("N", 2, 1), Loop("K", 3, 1))
    return LoopNest(gemm(10, 2, 3), levels, Compute(), loops)


def test_gemm_partial_tiles_are_clipped():
    c = count(partial_gemm())
    # Buf tiles: rows 0-3, 4-7, 8-9.  A tile = rows x K3: 12, 12, 6 -> 30 fills (each A
    # element once).  B tile = K3 x N2 = 6, the same for every M tile -> 6 fills.
    # Z tile = rows x N2: 8, 8, 4 -> 20 entries, each a first touch -> 0 fills.
    # Operations = 10*2*3 = 60 (the 12 clipped iterations of 3*4*2*3 = 72 do not count), so
    # Buf reads A 60 and B 60; Z takes 60 updates, 60 - 20 = 40 of them read the old value.
    assert totals(c, "Buf", "A") == ro(reads=60, fills=30)
    assert totals(c, "Buf", "B") == ro(reads=60, fills=6)
    assert totals(c, "Buf", "Z") == rw(updates=60, first_touches=20, fills=0)
    # DRAM serves Buf's fills and takes one update per Z entry of Buf.
    assert totals(c, "DRAM", "A") == ro(reads=30, fills=0)
    assert totals(c, "DRAM", "B") == ro(reads=6, fills=0)
    assert totals(c, "DRAM", "Z") == rw(updates=20, first_touches=20, fills=0)
    assert [c["Buf", t].capacity for t in "ABZ"] == [12, 6, 8]
    # DRAM holds whole tensors: A 10x3, B 3x2, Z 10x2.
    assert [c["DRAM", t].capacity for t in "ABZ"] == [30, 6, 20]
    assert (c.compute.operations, c.compute.steps) == (60, 60)
    # Energy at DRAM (block 8): A ceil(30/8) = 4 reads x 10 pJ; B ceil(6/8) = 1 x 10 pJ;
    # Z ceil(20/8) = 3 updates x 12 pJ.
    assert c["DRAM", "A"].energy == ActionEnergy(read=40)
    assert c["DRAM", "B"].energy == ActionEnergy(read=10)
    assert c["DRAM", "Z"].energy == ActionEnergy(update=36)


def test_capacity_check_uses_the_largest_tiles():
    # Buf's largest tiles: A 12 + B 6 + Z 8 = 26 words.
    count(partial_gemm(buffer_capacity=26))
    with pytest.raises(CapacityError, match="26"):
        count(partial_gemm(buffer_capacity=25))
    count(partial_gemm(buffer_capacity=25), check_capacity=False)


def test_idle_steps_keep_what_a_level_holds():
    # Z[n, m] += A[n, m, k] * B[k]; N 2, M 5, K 2.  DRAM: N 2, M 2, M 3 | Reg: K 2.
    # m = 3a + b, so (a, b) = (1, 2) is m = 5: clipped, and Reg is idle at that step for
    # n = 0 and n = 1 (12 Reg steps, 10 active).  B's tile {k0, k1} never changes; the idle
    # step in the middle (end of n = 0) does not drop it, so B enters Reg once: 2 fills.
    dim = Projection.sum_of
    problem = Problem({"N": 2, "M": 5, "K": 2}, (
        Tensor("A", (dim("N"), dim("M"), dim("K"))), Tensor("B", (dim("K"),)),
        Tensor("Z", (dim("N"), dim("M")), read_write=True)))
    levels = (Level("DRAM", ALL), Level("Reg", ALL))
    loops = (Loop("N", 2, 0), Loop("M", 2, 0), Loop("M", 3, 0), Loop("K", 2, 1))
    c = count(LoopNest(problem, levels, Compute(), loops))
    assert totals(c, "Reg", "B") == ro(reads=20, fills=2)
    # A: 2 new elements per active step -> 20 fills; 20 operations read it.
    assert totals(c, "Reg", "A") == ro(reads=20, fills=20)
    # Z: one new element per active step (10 entries, all first touches), 2 updates each.
    assert totals(c, "Reg", "Z") == rw(updates=20, first_touches=10, fills=0)
    assert totals(c, "DRAM", "B") == ro(reads=2, fills=0)
    assert totals(c, "DRAM", "Z") == rw(updates=10, first_touches=10, fills=0)
    # 24 compute steps, of which the 2 idle Reg steps x K 2 = 4 are clipped.
    assert (c.compute.operations, c.compute.steps) == (20, 20)


# --- bypass ------------------------------------------------------------------------------

def bypass_gemm(buffer_keeps) -> LoopNest:
    # GEMM 4x4x2.  DRAM: N 2 | Buf: M 2, K 2 | Reg: M 2, N 2.
    levels = (Level("DRAM", ALL), Level("Buf", frozenset(buffer_keeps)), Level("Reg", ALL))
    loops = (Loop("N", 2, 0), Loop("M", 2, 1), Loop("K", 2, 1), Loop("M", 2, 2),
             Loop("N", 2, 2))
    return LoopNest(gemm(4, 4, 2), levels, Compute(), loops)


def test_bypassed_tensor_is_served_by_the_next_keeper_up():
    # Reg tile at (n_o, m_o, k): rows {2m_o, 2m_o+1} x cols {2n_o, 2n_o+1} x one k.
    # 8 Reg steps; B's Reg tile (k, 2 cols) changes every step (k moves) -> 16 fills.
    # With B bypassing Buf, DRAM serves all 16.
    c = count(bypass_gemm({"A", "Z"}))
    assert ("Buf", "B") not in c.tensors
    assert totals(c, "Reg", "B") == ro(reads=32, fills=16)
    assert totals(c, "DRAM", "B") == ro(reads=16, fills=0)
    # A is kept at Buf: Buf's A tile is all of A (4x2 = 8), the same for both n_o -> 8 fills;
    # Reg's A tile (2 rows, one k) changes every step -> 16 fills, read from Buf.
    assert totals(c, "Buf", "A") == ro(reads=16, fills=8)
    assert totals(c, "DRAM", "A") == ro(reads=8, fills=0)
    # Z: Reg tile 2x2 stays over k -> 4 entries per (n_o, m_o) = 16, all first touches;
    # 32 operations update it.  Buf's Z tile (4 rows x 2 cols) per n_o -> 16 entries; it
    # takes Reg's 16 drains.  DRAM takes Buf's 16.
    assert totals(c, "Reg", "Z") == rw(updates=32, first_touches=16, fills=0)
    assert totals(c, "Buf", "Z") == rw(updates=16, first_touches=16, fills=0)
    assert totals(c, "DRAM", "Z") == rw(updates=16, first_touches=16, fills=0)


def test_keeping_the_tensor_in_the_middle_halves_dram_reads():
    # Same nest, B kept at Buf: Buf's B tile per n_o is K2 x 2 cols = 4 -> 8 fills from DRAM;
    # Buf serves Reg's 16 fills.
    c = count(bypass_gemm(ALL))
    assert totals(c, "Buf", "B") == ro(reads=16, fills=8)
    assert totals(c, "DRAM", "B") == ro(reads=8, fills=0)


# --- spatial fan-out ---------------------------------------------------------------------

def fanout_gemm(multicast: bool) -> LoopNest:
    # GEMM 2x4x2.  Buf: M 2, N 4 (x) | Reg (4 instances): K 2.
    levels = (Level("Buf", ALL, block_size=2, multicast=multicast,
                    energy=ActionEnergy(read=1.0)),
              Level("Reg", ALL, instances=(4, 1), energy=ActionEnergy(read=1.0)))
    loops = (Loop("M", 2, 0), Loop("N", 4, 0, spatial=True, axis="x"), Loop("K", 2, 1))
    return LoopNest(gemm(2, 4, 2), levels, Compute(instances=(4, 1)), loops)


@pytest.mark.parametrize("multicast, buffer_a_reads", [(False, 16), (True, 4)])
def test_spatial_fanout_with_and_without_multicast(multicast, buffer_a_reads):
    c = count(fanout_gemm(multicast))
    # Reg instance n at step m holds A(m, k0..1): 2 elements, the same in all 4 instances,
    # new at each of the 2 steps -> 4 fills per instance, 16 in all.  Without multicast Buf
    # reads each of them (16); with it, one read per distinct element per step: 2 x 2 = 4.
    assert totals(c, "Reg", "A") == ro(reads=16, fills=16)
    assert totals(c, "Buf", "A") == ro(reads=buffer_a_reads, fills=0)
    # B(k0..1, n) differs per instance and stays: 2 fills each, nothing to share -> 8 reads.
    assert totals(c, "Reg", "B") == ro(reads=16, fills=8)
    assert totals(c, "Buf", "B") == ro(reads=8, fills=0)
    # Z(m, n): 2 entries per instance (first touches), 4 updates per instance.
    assert totals(c, "Reg", "Z") == rw(updates=16, first_touches=8, fills=0)
    assert totals(c, "Buf", "Z") == rw(updates=8, first_touches=8, fills=0)
    reg_a = c["Reg", "A"]
    assert (reg_a.instances, reg_a.mean("reads")) == (4, 4.0)
    # Energy: Reg 4 instances x 4 reads x 1 pJ = 16 pJ; Buf (block 2) ceil(reads / 2) x 1 pJ.
    assert reg_a.energy == ActionEnergy(read=16.0)
    assert c["Buf", "A"].energy == ActionEnergy(read=buffer_a_reads / 2)
    assert (c.compute.operations, c.compute.steps, c.compute.instances) == (16, 4, 4)
    assert c.compute.utilization == 1.0


@pytest.mark.parametrize("reduction, buffer_z_updates", [(False, 8), (True, 2)])
def test_spatial_reduction_of_outputs(reduction, buffer_z_updates):
    # GEMM 1x2x4.  Buf: N 2, K 4 (x) | Reg (4 instances) holds one operation's tile.
    levels = (Level("Buf", ALL, spatial_reduction=reduction), Level("Reg", ALL, instances=(4, 1)))
    loops = (Loop("N", 2, 0), Loop("K", 4, 0, spatial=True, axis="x"))
    c = count(LoopNest(gemm(1, 2, 4), levels, Compute(instances=(4, 1)), loops))
    # Reg instance k at step n computes Z(0, n): one entry and one update per step, each a
    # first touch -> per instance 2 updates, 2 first touches, 0 reads.
    assert totals(c, "Reg", "Z") == rw(updates=8, first_touches=8, fills=0)
    # At each step the 4 instances drain partial sums of the same Z(0, n): 4 updates into
    # Buf, or 1 when the network adds them.  Buf's first touches: Z(0,0), Z(0,1).
    assert totals(c, "Buf", "Z") == rw(updates=buffer_z_updates, first_touches=2, fills=0)
    # A(0, k) stays in instance k (1 fill each); B(k, n) is new every step (2 each).
    assert totals(c, "Buf", "A") == ro(reads=4, fills=0)
    assert totals(c, "Buf", "B") == ro(reads=8, fills=0)


# --- read-write tensors ------------------------------------------------------------------

def gemv(loops) -> LoopNest:
    """Z[m] += A[m, k] over M 3, K 2, on DRAM above a register level."""
    dim = Projection.sum_of
    problem = Problem({"M": 3, "K": 2}, (
        Tensor("A", (dim("M"), dim("K"))), Tensor("Z", (dim("M"),), read_write=True)))
    keeps = frozenset({"A", "Z"})
    return LoopNest(problem, (Level("DRAM", keeps), Level("Reg", keeps)), Compute(), loops)


def test_partial_sums_that_come_back_are_filled_and_read():
    # DRAM: K 2, M 3 | Reg: one operation.  Z(m) enters Reg at every step (6 entries) and 3
    # of them are first touches: the other 3 bring their partial sum back from DRAM (fills).
    # Reg: 6 updates, 6 - 3 = 3 read the old value.  DRAM: 6 drains in, 3 first touches,
    # 3 reads (exactly the partial sums sent back down).
    c = count(gemv((Loop("K", 2, 0), Loop("M", 3, 0))))
    assert totals(c, "Reg", "Z") == rw(updates=6, first_touches=3, fills=3)
    assert totals(c, "DRAM", "Z") == rw(updates=6, first_touches=3, fills=0)


def test_partial_sums_that_stay_are_read_only_after_their_first_update():
    # DRAM: M 3 | Reg: K 2.  Z(m) stays in Reg for both k: 3 entries, 3 first touches, no
    # fills; 6 updates, 3 read the old value.  DRAM takes 3 drains, reads nothing.
    c = count(gemv((Loop("M", 3, 0), Loop("K", 2, 1))))
    assert totals(c, "Reg", "Z") == rw(updates=6, first_touches=3, fills=0)
    assert totals(c, "DRAM", "Z") == rw(updates=3, first_touches=3, fills=0)


# --- sliding windows ---------------------------------------------------------------------

def test_sliding_window_rule():
    # Outputs[p] += Weights[r] * Inputs[p + r]; P 8, R 3 (Inputs 0..9).
    # DRAM: P 2, R 3 | Buf: P 4.  Buf's Inputs tile is [4 p_o + r, 4 p_o + r + 3]: starts
    # 0, 1, 2, 4, 5, 6 over the 6 Buf steps.
    #   accelsim (exact overlap of consecutive tiles): 4 + 1 + 1 + 2 + 1 + 1 = 10 fills: the
    #   step from start 2 ([2..5]) to start 4 ([4..7]) keeps 4 and 5.
    #   Timeloop (overlap only while the tile keeps its stride; the README's "innermost
    #   non-unit loop"): that step jumps by +2 after strides of +1, so it refills all 4:
    #   4 + 1 + 1 + 4 + 1 + 1 = 12.
    levels = (Level("DRAM", frozenset({"Weights", "Inputs", "Outputs"})),
              Level("Buf", frozenset({"Weights", "Inputs", "Outputs"})))
    loops = (Loop("P", 2, 0), Loop("R", 3, 0), Loop("P", 4, 1))
    c = count(LoopNest(conv1d(8, 3), levels, Compute(), loops))
    timeloop_fills = 4 + 1 + 1 + 4 + 1 + 1
    assert totals(c, "Buf", "Inputs") == ro(reads=24, fills=10) != ro(24, timeloop_fills)
    assert totals(c, "DRAM", "Inputs") == ro(reads=10, fills=0)
    # Weights[r]: a new single element at every step -> 6 fills.  Outputs [4 p_o .. +3] stay
    # over r: 8 entries (first touches), 24 updates.
    assert totals(c, "Buf", "Weights") == ro(reads=24, fills=6)
    assert totals(c, "Buf", "Outputs") == rw(updates=24, first_touches=8, fills=0)
    assert c["Buf", "Inputs"].capacity == 4


def test_python_and_yaml_levels_share_one_network_default():
    """A Level built in Python without saying multicast counts like a hardware YAML level
    without it: both multicast (4 Buf reads of A above, not 16) and reduce spatially."""
    from accelsim.spec.hardware import LevelSpec

    plain = Level("Buf", ALL)
    yaml_level = LevelSpec.model_validate({"name": "Buf"})
    assert (plain.multicast, plain.spatial_reduction) == (yaml_level.multicast,
                                                         yaml_level.spatial_reduction)
    defaults = fanout_gemm(True)
    levels = (Level("Buf", ALL, block_size=2), *defaults.levels[1:])
    nest = LoopNest(defaults.problem, levels, defaults.compute, defaults.loops)
    assert totals(count(nest), "Buf", "A") == ro(reads=4, fills=0)
