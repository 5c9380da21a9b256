"""Searching fused groups and whole cascades (accelsim.search.fusion) and their bounds.

Expected traffic is derived by hand from tensor shapes: with a buffer large enough for a
whole row tile, a fused chain moves each input once and each output once (its compulsory
traffic), while the unfused chain also writes and reads back every intermediate.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from accelsim.arch import Architecture
from accelsim.errors import MappingError, SpecError
from accelsim.ir import Einsum, load_cascade
from accelsim.mapping import BoundEinsum
from accelsim.search import BoundCascade, FusedGroup, search
from accelsim.search.bound import offchip_lower_bound
from accelsim.search.partition import candidate
from accelsim.search.tiling import tile_options
from accelsim.spec import HardwareSpec

ROOT = Path(__file__).resolve().parents[2]
THREE_PASS = load_cascade(ROOT / "einsum_cascades" / "attention_3pass.yaml")
FFN = load_cascade(ROOT / "einsum_cascades" / "ffn_gelu.yaml")
SIZES = {"H": 2, "E": 8, "F": 8, "M": 16, "P": 16}


def two_level(capacity: str) -> Architecture:
    """DRAM (2 bytes per cycle) over one SRAM that keeps anything, one unit for every op."""
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": f"dram-sram-{capacity}", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 16, "read_bandwidth": "2 B/cycle",
                    "energy": {"read": "100 pJ"}},
                   {"name": "SRAM", "capacity": capacity, "word_bits": 16,
                    "energy": {"read": "1 pJ"}}],
        "compute": [{"name": "pe", "ops": ["mac", "add", "max", "exp", "divide", "elementwise"],
                     "throughput": {"bf16": 1, "fp32": 1}, "energy": {"mac": "1 pJ"}}]}))


def attention(sizes=SIZES) -> BoundCascade:
    return BoundCascade(THREE_PASS, sizes)


def compulsory_attention_bytes(h, e, f, m, p) -> int:
    """Q (h p e), K (h m e), V (h m f) read once, AV (h p f) written once; bf16."""
    return 2 * (h * p * e + h * m * e + h * m * f + h * p * f)


def test_tile_options_are_divisors_from_one_to_the_whole_rank():
    assert tile_options(1) == [1]
    assert tile_options(4096) == [1, 16, 256, 4096]      # 4096 ** (0, 1/3, 2/3, 1)
    for n in (16, 96, 4096, 97):
        got = tile_options(n)
        assert got[0] == 1 and got[-1] == n and len(got) <= 4
        assert all(n % t == 0 for t in got) and got == sorted(set(got))
    # a long rank gets more sizes, at most 16x apart: 2^20 ** (0, 1/5, ..., 1)
    assert tile_options(1 << 20) == [1, 16, 256, 4096, 65536, 1 << 20]


def test_fused_attention_moves_only_compulsory_traffic():
    """With 64 KiB on chip a head's rows fit: the whole 3-pass chain fuses and DRAM sees Q,
    K, V once and AV once; the scores QK, SN, A (h m p each) never leave the chip."""
    arch = two_level("64 KiB")
    found = search(attention(), arch, objective="traffic", budget=150, progress=False)
    assert [g.members for g in found.groups] == [tuple(e.name for e in THREE_PASS.einsums)]
    assert found.offchip_bytes == compulsory_attention_bytes(2, 8, 8, 16, 16) == 2048
    assert set(found.on_chip) == {"QS", "QK", "GM", "SN", "SD", "A"}
    # unfused, QK, SN and A (2*16*16 bf16 = 1024 B each) go out and come back at least once
    assert found.unfused_offchip_bytes >= 2048 + 3 * 2 * 1024
    assert found.offchip_bound_bytes == 2048 and found.found_over_bound == 1.0


def test_bound_never_exceeds_found_traffic_on_small_chips():
    for capacity in ("256 B", "1 KiB", "4 KiB"):
        arch = two_level(capacity)
        found = search(attention(), arch, objective="traffic", budget=150, progress=False)
        assert found.offchip_bound_bytes <= found.offchip_bytes
        assert found.offchip_bytes <= found.unfused_offchip_bytes
        for group in found.groups:
            if len(group.members) > 1:
                result = search(THREE_PASS_GROUP(group.members), arch, objective="traffic",
                                budget=150, progress=False)
                assert result.offchip_bound_bytes <= result.report.offchip_bytes


def THREE_PASS_GROUP(members) -> FusedGroup:
    return FusedGroup(THREE_PASS, tuple(members), SIZES)


def test_group_search_result_has_report_front_and_bound():
    arch = two_level("64 KiB")
    group = THREE_PASS_GROUP(["QK", "GM", "SN", "SD", "A", "AV"])
    result = search(group, arch, objective="energy", budget=150, progress=False, seed=3)
    assert result.mapping.group == ["QK", "GM", "SN", "SD", "A", "AV"]
    # QS is written by an Einsum outside the group: it is read from DRAM once (h p e bf16)
    qs_reads = sum(t.reads for t in result.report.tensors if t.level == "DRAM" and t.tensor == "QS")
    assert qs_reads == 2 * 16 * 8
    assert result.report.offchip_bytes == compulsory_attention_bytes(2, 8, 8, 16, 16)
    assert result.pareto and min(p.energy_pj for p in result.pareto) == result.report.energy_pj
    assert result.offchip_bound_bytes == compulsory_attention_bytes(2, 8, 8, 16, 16)
    again = search(group, arch, objective="energy", budget=150, progress=False, seed=3)
    assert again.mapping == result.mapping and again.evaluated == result.evaluated


def test_rows_of_scores_that_do_not_fit_stay_off_chip():
    """16 bytes of SRAM cannot hold a row of scores (16 keys x 2 B = 32 B): QK, SN and A go
    off chip whatever is fused, and only per-row scalars (GM, SD: 2 B) may stay on chip."""
    arch = two_level("16 B")
    found = search(attention(), arch, objective="latency", budget=150, progress=False)
    assert not {"QK", "SN", "A"} & set(found.on_chip)
    assert set(found.on_chip) <= {"GM", "SD"}
    assert found.latency_s <= found.unfused_latency_s
    assert found.offchip_bound_bytes <= found.offchip_bytes
    with pytest.raises(MappingError, match="no fused mapping"):
        search(THREE_PASS_GROUP(["QK", "GM", "SN", "SD", "A", "AV"]), two_level("8 B"),
               budget=100, progress=False)


def test_candidates_need_a_link_a_shared_rank_and_an_intermediate():
    target = attention()
    assert not candidate(target.group(["QK", "GM"]))   # SN reads QK too: nothing stays inside
    assert target.group(["QK", "GM", "SN"]).internal() == ("QK", "GM")
    assert candidate(target.group(["QK", "GM", "SN"]))
    assert not candidate(target.group(["QS", "GM"]))   # GM reads nothing QS writes
    assert target.group(["A", "AV"]).internal() == ("A",)
    assert target.group(["A", "AV"]).row_ranks() == ("H", "P")
    assert candidate(target.group(["A", "AV"]))


def test_ffn_fuses_when_the_hidden_rows_fit():
    """FFN: the hidden activation (tokens x I) stays on chip when fused along the tokens."""
    sizes = {r: s for r, s in FFN.sizes().items()}
    small = {name: min(size, 16) for name, size in sizes.items()}
    arch = two_level("1 MiB")
    found = search(BoundCascade(FFN, small), arch, objective="traffic", budget=150,
                   progress=False)
    assert found.offchip_bytes <= found.unfused_offchip_bytes
    assert found.offchip_bound_bytes <= found.offchip_bytes
    assert found.on_chip, "the hidden activation should stay on chip"


def test_interrupt_keeps_the_partition_so_far():
    arch = two_level("64 KiB")
    from accelsim.search.driver import objective_weights
    from accelsim.search.partition import search_cascade

    def stop(done, total):
        if done == 3:
            raise KeyboardInterrupt

    found = search_cascade(attention(), arch, objective_weights("traffic"), budget=100,
                           callback=stop)
    assert found.interrupted
    assert [m for g in found.groups for m in g.members] == [e.name for e in THREE_PASS.einsums]
    assert all(len(g.members) == 1 for g in found.groups if g.members[0] in ("SN", "SD", "A", "AV"))


def test_constraints_are_refused_for_groups():
    with pytest.raises(SpecError, match="single-Einsum"):
        search(attention(), two_level("1 KiB"), constraints={"min_utilization": 0.5},
               progress=False)


# ---------------------------------------------------------------- the bound's extensions
def batched(b, m, n, k) -> BoundEinsum:
    return BoundEinsum(Einsum.parse("Z[b,m,n] = A[b,m,k] * B[b,k,n]"),
                       {"B": b, "M": m, "N": n, "K": k}, {"A": "int8", "B": "int8", "Z": "int8"},
                       {"A": "input", "B": "input", "Z": "output"})


def test_batched_gemm_bound_is_batch_times_one_gemm():
    one, four = batched(1, 8, 8, 8), batched(4, 8, 8, 8)
    for capacity in (20, 64, 300):
        assert offchip_lower_bound(four, capacity, "elements") == \
            4 * offchip_lower_bound(one, capacity, "elements")
    # enough room: each element once; A, B, Z are 8x8 per batch
    assert offchip_lower_bound(four, 10_000, "elements") == 4 * 3 * 64


def test_free_tensors_cost_nothing_but_keep_their_room():
    gemm = batched(1, 8, 8, 8)
    # with Z free and room for everything, only A and B move once: 128 elements
    assert offchip_lower_bound(gemm, 10_000, "elements", frozenset({"Z"})) == 128
    # never more than the bound with Z paid for, less what Z costs at least (64 written)
    for capacity in (20, 40, 100):
        paid = offchip_lower_bound(gemm, capacity, "elements")
        free = offchip_lower_bound(gemm, capacity, "elements", frozenset({"Z"}))
        assert free <= paid - 64


def test_group_floor_bounds_every_evaluated_mapping():
    """The floor the cascade search prunes with is below every group mapping it evaluated."""
    from accelsim.search.estimate import metrics_of
    from accelsim.search.group_bound import GroupFloor

    for capacity in ("1 KiB", "64 KiB"):
        arch = two_level(capacity)
        floor = GroupFloor(arch)
        for members in (["QK", "GM", "SN"], ["A", "AV"], ["QK", "GM", "SN", "SD", "A", "AV"]):
            group = THREE_PASS_GROUP(members)
            result = search(group, arch, objective="latency", budget=100, progress=False)
            low = floor(group)
            for point in result.pareto:
                assert low["latency"] <= point.latency_s * (1 + 1e-12)
                assert low["energy"] <= point.energy_pj * (1 + 1e-12)
                assert low["traffic"] <= point.offchip_bytes
            assert low["traffic"] <= metrics_of(result.report)["traffic"]


ONE_PASS = load_cascade(ROOT / "einsum_cascades" / "attention_1pass.yaml")


def test_one_pass_groups_stream_key_blocks():
    """The 1-pass cascade carries its state along the key blocks M1: a group shares loops
    over heads and query rows (P, which the blocked copies of K and V lack) and, innermost,
    over the blocks one at a time.  With room for a head's rows the search attains the
    compulsory traffic: Q, K, V once, AV once (bf16)."""
    sizes = {"H": 2, "E": 8, "F": 8, "M": 16, "P": 16, "M0": 4}
    whole = FusedGroup(ONE_PASS, tuple(e.name for e in ONE_PASS.einsums), sizes)
    assert whole.row_ranks() == ("H",) and whole.block_rank == "M1"
    assert whole.stream_ranks == ("P",)
    from accelsim.search.tiling import tilings
    assert all(list(t) == ["H", "P", "M1"] and t["M1"] == 1 for t in tilings(whole))
    found = search(BoundCascade(ONE_PASS, sizes), two_level("64 KiB"), objective="traffic",
                   budget=150, progress=False)
    assert found.offchip_bytes == compulsory_attention_bytes(2, 8, 8, 16, 16)
    assert found.offchip_bound_bytes == found.offchip_bytes


def test_the_largest_fitting_tile_between_coarse_options_is_found():
    """A rank of 4,096 rows: the coarse options are 1, 16, 256, 4,096; say tiles of up to
    1,000 rows fit.  From the fitting 256, the divisors below 4,096 are 512, 1,024, 2,048:
    bisection tries 1,024 (too big), then 512 (fits) and stops: 512 is evaluated."""
    from accelsim.search.group import _largest_fitting

    tried = []

    def fits(tiles):
        tried.append(tiles["T"])
        return tiles["T"] <= 1000

    _largest_fitting("T", [{"T": 1, "B": 1}, {"T": 256, "B": 1}], {"T": 4096, "B": 8}, fits)
    assert tried == [1024, 512]
    tried.clear()
    _largest_fitting("T", [{"T": 4096, "B": 1}], {"T": 4096, "B": 8}, fits)
    assert tried == []                  # the whole rank fits: nothing between to try
