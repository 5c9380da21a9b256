"""Attention on the FuseMax preset: a fused mapping moves only compulsory DRAM traffic.

FuseMax (Nayak et al., MICRO 2024, Section 6) evaluates BERT-Base attention (12 heads, head
size 64) at batch 64 on a 16 MiB global buffer.  The search fuses the whole 3-pass cascade
(einsum_cascades/attention_3pass.yaml) under a loop over heads and query rows; the global
buffer then keeps a head's K and V (N x 64 x 2 B each: 2 MiB at N = 16K) across the rows,
and every N x N intermediate stays on chip.  Compulsory traffic, by hand: Q, K, V read
once and AV written once, 4 x (768 heads x N x 64) bf16 elements.  Unfused, the scores QK,
SN and A (768 x N x N each) are written and read back at least once each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.ir import load_cascade
from accelsim.search import BoundCascade, search

ROOT = Path(__file__).resolve().parents[2]
FUSEMAX = load_architecture(str(ROOT / "hw_configs" / "fusemax.yaml"))
THREE_PASS = load_cascade(ROOT / "einsum_cascades" / "attention_3pass.yaml")
HEADS = 12 * 64          # BERT-Base heads x batch 64


@pytest.mark.parametrize("n", [1024, 4096, 16384])
def test_fused_attention_moves_only_compulsory_traffic(n):
    sizes = {"H": HEADS, "E": 64, "F": 64, "M": n, "P": n}
    found = search(BoundCascade(THREE_PASS, sizes), FUSEMAX, objective="latency",
                   progress=False)
    compulsory = 4 * HEADS * n * 64 * 2
    assert found.offchip_bytes == compulsory
    assert len(found.groups) == 1 and {"QK", "SN", "A"} <= set(found.on_chip)
    assert found.unfused_offchip_bytes >= compulsory + 3 * 2 * HEADS * n * n * 2
    assert found.latency_s < found.unfused_latency_s
