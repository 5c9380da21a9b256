"""L2 reuse between thread blocks that run at the same time, on the A100 SXM4 40 GB preset.

A GEMM Z[m,n] = A[m,k] * B[k,n] of M = N = 13824 = 108 x 128, bf16, in output tiles of 128 x
128, one per SM: a wave is the 108 tiles the 108 SMs compute together (spatial loops at L2, the
level all SMs share).  The waves and the k-steps (32 elements of k) are loops above L2, so L2
holds one k-slice of the wave's A rows and B columns, loaded from HBM once and read by every SM
of the wave that needs it.  A (128 x 32) or B (32 x 128) tile is 4096 elements.

* Row raster (a wave is 1 tile-row x 108 tile-columns): per wave and k-step, 1 A tile and 108
  B tiles from HBM.
* Grouped raster (9 tile-rows x 12 tile-columns, the swizzle CUTLASS and Triton call a group):
  9 A tiles and 12 B tiles: 21 loads instead of 109 for the same 108 output tiles.

Reuse across waves needs L2 to hold more: with the k loop inside L2, the row raster keeps all
of B (K x N) in L2 while the waves walk m, and B comes from HBM once; that needs (128 + 13824)
x K x 2 B of L2, which fits the 40 MiB (41,943,040 B, A100 whitepaper) at K = 1024 (28,573,696
B) but not at K = 2048 (57,147,392 B), where the mapping is refused and the row raster must
stream B again for every wave.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.errors import CapacityError
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.spec import MappingSpec

ROOT = Path(__file__).resolve().parents[2]
A100 = load_architecture(str(ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"))
GEMM = Einsum.parse("Z[m,n] = A[m,k] * B[k,n]")
TILES, TILE = 108, 128 * 32          # tiles per side; elements in one A or B k-slice tile


def loops(**factors) -> list[dict]:
    return [{"rank": rank, "factor": factor} for rank, factor in factors.items()]


def run(k: int, above_l2: list[dict], l2_temporal: list[dict], wave: list[dict]):
    mapping = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "raster", "einsum": "Z", "levels": [
            {"level": "HBM", "temporal": above_l2},
            {"level": "L2", "keep": ["A", "B"], "temporal": l2_temporal, "spatial": wave},
            {"level": "SMEM", "keep": ["A", "B"]},
            {"level": "RF", "temporal": loops(m=128, n=128, k=32)}]})
    bound = BoundEinsum(GEMM, {"M": 13824, "N": 13824, "K": k},
                        {"A": "bf16", "B": "bf16", "Z": "bf16"},
                        {"A": "input", "B": "weight", "Z": "output"})
    report = evaluate(bound, A100, mapping)
    return {t.tensor: (t.reads, t.updates) for t in report.tensors if t.level == "HBM"}


def test_grouped_raster_loads_fewer_tiles_per_wave():
    k, waves, steps = 1024, 108, 1024 // 32
    row = run(k, loops(m=108, k=32), [], loops(n=108))
    grouped = run(k, loops(m=12, n=9, k=32), [], loops(m=9, n=12))
    assert row["A"][0] == waves * steps * 1 * TILE
    assert row["B"][0] == waves * steps * 108 * TILE
    assert grouped["A"][0] == waves * steps * 9 * TILE
    assert grouped["B"][0] == waves * steps * 12 * TILE
    # Z leaves the registers once either way: M x N elements
    assert row["Z"] == grouped["Z"] == (0, 13824 * 13824)
    ratio = (row["A"][0] + row["B"][0]) / (grouped["A"][0] + grouped["B"][0])
    assert ratio == pytest.approx(109 / 21)


def test_l2_capacity_limits_reuse_across_waves():
    fits = run(1024, loops(m=108), loops(k=32), loops(n=108))
    assert fits["B"][0] == 1024 * 13824            # B once: K x N
    assert fits["A"][0] == 13824 * 1024            # A once: M x K
    with pytest.raises(CapacityError, match=r"tiles at level 'L2' need 5\.71474e\+07 bytes"
                                            r".* holds 4\.1943e\+07 bytes"):
        run(2048, loops(m=108), loops(k=64), loops(n=108))
    streamed = run(2048, loops(m=108, k=64), [], loops(n=108))
    assert streamed["B"][0] == 108 * 2048 * 13824  # B once per wave
