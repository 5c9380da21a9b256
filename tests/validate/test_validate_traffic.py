"""Triton kernels in the CPU interpreter against accelsim: global-memory bytes, exactly.

Each case of ``accelsim.validate.cases.CASES`` runs a reference kernel (tiled matmul with and
without serial split-K, FlashAttention-2 forward causal and not, split-KV decode with its
log-sum-exp combine) under ``TRITON_INTERPRET=1`` with the interpreter's loads and stores
counted, and compares the bytes per tensor with accelsim's GMEM reads and writes for the
mapping the kernel module defines.  The expected numbers are not computed by the code under
test: they are what the kernel really moved.  The hand-derived cases below pin the counting
conventions themselves.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelsim.validate.kernels")   # before triton: it picks the interpreter
pytest.importorskip("triton")

from accelsim.validate.cases import CASES, run_case  # noqa: E402


@pytest.mark.parametrize("kernel, params", CASES,
                         ids=[f"{k}-" + "-".join(f"{a}{b}" for a, b in p.items()) for k, p in CASES])
def test_traffic_matches_accelsim_exactly(kernel, params):
    result = run_case(kernel, params)
    assert result.measured == result.predicted
    assert "?" not in result.measured, "a lane touched memory outside every named tensor"
    assert result.accurate, (result.error, result.bound)


def test_matmul_traffic_by_hand():
    """M=37, N=50, K=70, blocks 16x32x16: 3 x 2 programs.  A is loaded once per column of
    programs (2 x 37 x 70 fp16 = 10,360 B), B once per row (3 x 70 x 50 x 2 = 21,000 B), Z
    stored once (37 x 50 fp32 = 7,400 B); masked-off lanes of the edge blocks move nothing."""
    r = run_case("matmul", dict(M=37, N=50, K=70, BM=16, BN=32, BK=16))
    assert r.measured == {"A": (10_360, 0), "B": (21_000, 0), "Z": (0, 7_400)}


def test_serial_split_k_by_hand():
    """Same shape, split_k=3: KC = ceil(5/3) x 16 = 32, so 3 chunks.  Each of the 6 tiles
    stores 3 partial blocks and reloads 2 of them: Z written 3 x 7,400 B and read 2 x 7,400 B.
    The semaphore atomics (one compare-and-swap per wait and one exchange per program; the
    interpreter never spins) are reported apart."""
    r = run_case("matmul", dict(M=37, N=50, K=70, BM=16, BN=32, BK=16, split_k=3))
    assert r.measured["Z"] == (14_800, 22_200)
    assert r.measured["A"] == (10_360, 0) and r.measured["B"] == (21_000, 0)
    assert r.atomics == {"semaphores": (6 * 2 + 6 * 3) * 4}


def test_causal_flash_attention_by_hand():
    """P = M = 64, E = F = 16, BM = 16, BN = 32, 2 heads: query block i visits key blocks up
    to its diagonal, ceil(16(i+1)/32) of them: 1, 1, 2, 2 -> 32, 32, 64, 64 keys; K and V
    each 192 x 16 x 2 B x 2 heads = 12,288 B.  Q and O 64 x 16 x 2 x 2 = 4,096 B, LSE 512 B."""
    r = run_case("flash_attention", dict(H=2, P=64, M=64, E=16, F=16, BM=16, BN=32, causal=True))
    assert r.measured == {"K": (12_288, 0), "V": (12_288, 0), "Q": (4_096, 0),
                          "O": (0, 4_096), "LSE": (0, 512)}
