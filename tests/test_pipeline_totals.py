"""A workload's token and KV-cache totals when sequences differ in length.

GPT-2 (12 layers, 12 heads of 64; workloads/gpt2.yaml) keeps 2 x 12 x 12 x 64 x 2 B =
36,864 B of bf16 KV cache per token.  A prefill of prompts of 64 and 128 tokens processes
192 tokens and leaves 192 in the cache (7,077,888 B), as one prompt of 192 would; a decode
step against caches of 100 and 200 keys makes 2 tokens and leaves 302 (11,132,928 B), as a
batch of 2 against 150 keys each would.  With int8 weights named alone, the KV cache follows
them into int8 (accelsim.lower.precision), as the lowering stores it: 18,432 B per token.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.lower import Request
from accelsim.pipeline import evaluate_workload

ROOT = Path(__file__).resolve().parents[1]
H100 = str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml")
GPT2 = str(ROOT / "workloads" / "gpt2.yaml")


@pytest.mark.parametrize("options, tokens, cache", [
    (dict(phase="prefill", batch=None, seq_len=[64, 128]), 192, 192 * 36_864),
    (dict(phase="prefill", batch=1, seq_len=192), 192, 192 * 36_864),
    (dict(phase="decode", batch=None, kv_len=[100, 200]), 2, 302 * 36_864),
    (dict(phase="decode", batch=2, kv_len=150), 2, 302 * 36_864),
    (dict(phase="decode", batch=2, kv_len=150, dtype={"weights": "int8"}), 2, 302 * 18_432),
])
def test_tokens_and_cache_over_sequences_of_different_lengths(options, tokens, cache):
    result = evaluate_workload(H100, GPT2, Request(**options), budget=20)
    assert result.tokens == tokens
    assert result.kv_cache_bytes == cache
