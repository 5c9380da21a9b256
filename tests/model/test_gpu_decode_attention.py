"""Batch-1 decode attention of Llama-2-7B on the H100 preset, unsplit and split-KV.

Workload: Llama-2-7B (its config.json: 32 attention heads, hidden size 4096, so head dimension
128), bf16 KV cache, batch 1, one new query per head, L keys in the cache.  Cascade: Flash-
Decoding as written in einsum_cascades/attention_decode_splitkv.yaml (Dao, Haziza, Massa,
Sizov, "Flash-Decoding for long-context inference", 2023): the keys split into S chunks of C =
L / S, each chunk's softmax-normalized output OS and log-sum-exp LS computed independently,
then combined.  Two kernels, as Flash-Decoding runs them:

* chunks: one thread block per (head, chunk), 32 x S of them, each on its own SM.  It streams
  its C keys and values from HBM through shared memory in tiles of 64 keys (L2 keeps none of
  them: nothing is reused) and writes OS and LS to HBM.  Unsplit attention is this kernel with
  S = 1: 32 thread blocks, whose OS and LS are the result.
* combine: one thread block per head reads the S chunk results and rescales them.

Hand derivation, bytes moved by the chunk kernel (bf16 = 2 B): Q 32 x 128 x 2 = 8192; K and V
32 x L x 128 x 2 = 8192 L each; OS 32 x S x 128 x 2 = 8192 S; LS 32 x S x 2 = 64 S; in all
16384 L + 8192 + 8256 S.  Every byte crosses the port of the SM that uses it (see
hw_configs/SOURCES.md, 'SM ports'): with 32 x S SMs busy they move at most 32 S x 48.26 GB/s
(the preset's L2 bandwidth 6.37 TB/s / 132 SMs).  HBM moves 3.35 TB/s (H100 SXM5 datasheet).

* S = 4 (128 SMs): 128 x 48.26 GB/s = 6.18 TB/s > 3.35 TB/s, so HBM sets the time at every L.
* S = 1 (32 SMs): 32 x 48.26 GB/s = 1.54 TB/s, less than half the HBM bandwidth: the SMs'
  ports set the time, and spread over all 132 SMs the same bytes would take 32/132 of it,
  under the HBM time, so the bottleneck is occupancy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.ir import Cascade, load_cascade
from accelsim.model import evaluate_group
from accelsim.spec import MappingSpec

ROOT = Path(__file__).resolve().parents[2]
H100 = load_architecture(str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"))
SHIPPED = load_cascade(ROOT / "einsum_cascades" / "attention_decode_splitkv.yaml")

HBM_BPS = 3.35e12        # H100 SXM5 datasheet: 3.35 TB/s
PORT_BPS = 6.37e12 / 132  # per SM: the preset's L2 bandwidth over its 132 SMs
LAUNCH_S = 2.7e-6        # CSCS ReFrame kernel_latency, A100 'async' reference (preset)
HEADS, DIM, TILE = 32, 128, 64

CHUNKED = Cascade.from_yaml("""
kind: cascade
version: 1
name: attention-decode-splitkv-chunked
source: einsum_cascades/attention_decode_splitkv.yaml with K and V viewed as [H, S, C, E]
description: >-
  The shipped Flash-Decoding cascade with the key rank written as chunk s and key c within the
  chunk (the same memory when C divides M), so that its loop nests need no block index.
dtype: bf16
ranks: {H: null, E: null, F: null, S: null, C: null, P: null}
tensors:
  Q: {ranks: [H, P, E], dtype: bf16}
  K: {ranks: [H, S, C, E], dtype: bf16}
  V: {ranks: [H, S, C, F], dtype: bf16}
  AV: {ranks: [H, P, F], dtype: bf16}
  LSE: {ranks: [H, P], dtype: fp32}
outputs: [AV, LSE]
einsums:
  - QS[h,p,e] = Q[h,p,e] * rsqrt(E)
  - SC[h,p,s,c] = QS[h,p,e] * K[h,s,c,e]
  - CM[h,p,s] = max(c) SC[h,p,s,c]
  - CE[h,p,s,c] = exp(SC[h,p,s,c] - CM[h,p,s])
  - CL[h,p,s] = sum(c) CE[h,p,s,c]
  - CO[h,p,s,f] = CE[h,p,s,c] * V[h,s,c,f]
  - OS[h,p,s,f] = CO[h,p,s,f] / CL[h,p,s]
  - LS[h,p,s] = CM[h,p,s] + log(CL[h,p,s])
  - GM[h,p] = max(s) LS[h,p,s]
  - W[h,p,s] = exp(LS[h,p,s] - GM[h,p])
  - WS[h,p] = sum(s) W[h,p,s]
  - OW[h,p,f] = W[h,p,s] * OS[h,p,s,f]
  - AV[h,p,f] = OW[h,p,f] / WS[h,p]
  - LSE[h,p] = GM[h,p] + log(WS[h,p])
""")
CHUNK_KERNEL = ["QS", "SC", "CM", "CE", "CL", "CO", "OS", "LS"]
COMBINE_KERNEL = ["GM", "W", "WS", "OW", "AV", "LSE"]


def given(cascade: Cascade, kv: int, chunks: int) -> dict[str, int]:
    sizes = dict(H=HEADS, E=DIM, F=DIM, P=1, C=kv // chunks)
    return sizes | (dict(S=chunks) if "S" in cascade.tensors["K"].ranks else dict(M=kv))


def kernel_mapping(cascade: Cascade, members: list[str], sizes: dict[str, int],
                   spread: list[tuple[str, int]]) -> MappingSpec:
    """``spread`` ranks over the SMs (spatial at L2, which keeps nothing); each member walks
    the keys of its chunk in tiles of 64 at L2 and the rest of its ranks in registers."""
    own = {}
    for name in members:
        space = cascade.einsum(name).space(cascade.sizes(**sizes))
        tiles, inner = [], []
        for rank, size in sorted(space.items(), key=lambda item: item[0].lower() != "c"):
            if rank.lower() in {r for r, _ in spread}:
                continue
            if rank.lower() == "c":
                tiles.append({"rank": rank, "factor": size // TILE})
                size = TILE
            inner.append({"rank": rank, "factor": size})
        own[name] = [{"level": "L2", "temporal": tiles}] * bool(tiles) + [
            {"level": "RF", "temporal": inner}]
    return MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "flash-decoding", "group": members,
        "shared": [{"level": "L2", "keep": [],
                    "spatial": [{"rank": r, "factor": f} for r, f in spread]}],
        "einsums": own})


def chunk_kernel(cascade: Cascade, kv: int, chunks: int):
    sizes = given(cascade, kv, chunks)
    mapping = kernel_mapping(cascade, CHUNK_KERNEL, sizes, [("h", HEADS), ("s", chunks)])
    return evaluate_group(cascade, H100, mapping, sizes=sizes)


def combine_kernel(cascade: Cascade, kv: int, chunks: int):
    sizes = given(cascade, kv, chunks)
    mapping = kernel_mapping(cascade, COMBINE_KERNEL, sizes, [("h", HEADS)])
    return evaluate_group(cascade, H100, mapping, sizes=sizes)


def chunk_bytes(kv: int, chunks: int) -> int:
    return 16384 * kv + 8192 + 8256 * chunks


def test_split_kv_decode_is_hbm_bound_and_linear_in_the_kv_length():
    """S = 4 at L = 4K, 8K, ..., 32K.  The chunk kernel takes chunk_bytes / 3.35 TB/s plus the
    launch overhead.  The combine kernel's work does not depend on L (it reads 32 x 4 chunk
    results), so each 4096 more keys add 16384 x 4096 B / 3.35 TB/s = 20.03 us; nothing else in
    either kernel depends on L, so the steps are equal up to float rounding (rel 1e-9)."""
    lengths = [4096 * k for k in range(1, 9)]
    totals = []
    for kv in lengths:
        chunks = chunk_kernel(CHUNKED, kv, 4)
        assert chunks.bottleneck == "HBM"
        assert chunks.offchip_bytes == chunk_bytes(kv, 4)
        assert chunks.latency_s == pytest.approx(chunk_bytes(kv, 4) / HBM_BPS + LAUNCH_S, rel=1e-9)
        kv_bytes = 2 * HEADS * kv * DIM * 2
        assert chunks.latency_s - LAUNCH_S >= kv_bytes / HBM_BPS
        totals.append(chunks.latency_s + combine_kernel(CHUNKED, kv, 4).latency_s)
    steps = [b - a for a, b in zip(totals, totals[1:])]
    assert steps == pytest.approx([16384 * 4096 / HBM_BPS] * len(steps), rel=1e-9)


def test_combine_kernel_is_launch_bound():
    """Combine, S = 4: it reads OS (32 x 4 x 128 x 2 = 32768 B) and LS (32 x 4 x 2 = 256 B,
    read by both GM and W, each member of a group loading its own inputs: 512 B) and writes
    AV (8192 B) and the fp32 LSE (128 B), 41600 B in all, through the ports of 32 SMs: 41600 /
    (32 x 48.26 GB/s) = 26.9 ns, far below the 2.7 us launch overhead."""
    report = combine_kernel(CHUNKED, 32768, 4)
    assert report.bottleneck == "latency"
    assert report.offchip_bytes == 32768 + 512 + 8192 + 128
    assert report.latency_s == pytest.approx(LAUNCH_S + 41600 / (32 * PORT_BPS), rel=1e-9)


@pytest.mark.parametrize("kv", [16384, 32768])
def test_split_kv_beats_unsplit_at_batch_1(kv):
    """Unsplit: chunk_bytes(L, 1) through the ports of 32 SMs, plus one launch; split: the
    HBM-bound chunk kernel plus the combine kernel (two launches)."""
    unsplit = chunk_kernel(CHUNKED, kv, 1)
    assert unsplit.bottleneck == "occupancy"
    assert unsplit.latency_s == pytest.approx(chunk_bytes(kv, 1) / (32 * PORT_BPS) + LAUNCH_S,
                                              rel=1e-9)
    assert chunk_bytes(kv, 1) / (132 * PORT_BPS) < chunk_bytes(kv, 1) / HBM_BPS
    split = chunk_kernel(CHUNKED, kv, 4).latency_s + combine_kernel(CHUNKED, kv, 4).latency_s
    assert split < unsplit.latency_s


@pytest.mark.parametrize("chunks", [1, 4])
def test_chunked_view_counts_as_the_shipped_cascade(chunks):
    """The shipped cascade indexes the keys as s*C + c (a block index); the chunked view above
    indexes them as [s, c].  With C dividing L they are the same memory, so every tensor's HBM
    traffic and the kernels' times must agree (L = 2048 keeps the shipped form's walk short)."""
    for kernel in (chunk_kernel, combine_kernel):
        if kernel is combine_kernel and chunks == 1:
            continue
        shipped, chunked = kernel(SHIPPED, 2048, chunks), kernel(CHUNKED, 2048, chunks)
        hbm = lambda r: {(t.tensor, t.reads, t.fills, t.updates) for t in r.tensors
                         if t.level == "HBM"}
        assert hbm(shipped) == hbm(chunked)
        assert (shipped.latency_s, shipped.bottleneck) == (chunked.latency_s, chunked.bottleneck)
