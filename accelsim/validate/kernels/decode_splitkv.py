"""Split-KV decode attention (Flash-Decoding): two Triton kernels, launcher, torch reference,
accelsim mapping.

Dao, Haziza, Massa, Sizov, "Flash-Decoding for long-context inference" (2023): the KV cache of
M keys is cut into S chunks of C keys (C a multiple of the key block BN; only non-empty chunks
are launched).  Kernel 1, program (s, h): loads the P x E queries of head h, walks chunk s in
key blocks of BN (online softmax within the chunk), and stores the chunk's normalized output
OS[h,p,s,:] and log-sum-exp LS[h,p,s] (fp32 workspaces).  Kernel 2, program (p, h): pass 1
loads LS[h,p,:] in blocks of BS chunks for the global max; pass 2 loads LS again with
OS[h,p,:,:] and sums exp(LS - max) * OS; it stores AV[h,p,:] (fp16) and LSE[h,p] (fp32).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import triton
import triton.language as tl

from accelsim.validate.programs import Launch, cdiv, loops
from accelsim.validate.traffic import name_tensors
from accelsim.spec import MappingSpec

CASCADE = "attention_decode_splitkv.yaml"


@triton.jit
def splitkv_kernel(q_ptr, k_ptr, v_ptr, os_ptr, ls_ptr, P, M, E, F, S, C, scale,
                   stride_qh, stride_qp, stride_kh, stride_km, stride_vh, stride_vm,
                   BP: tl.constexpr, BN: tl.constexpr, BE: tl.constexpr, BF: tl.constexpr):
    s = tl.program_id(0)
    h = tl.program_id(1)
    rp = tl.arange(0, BP)
    re = tl.arange(0, BE)
    rf = tl.arange(0, BF)
    q = tl.load(q_ptr + h * stride_qh + rp[:, None] * stride_qp + re[None, :],
                mask=(rp[:, None] < P) & (re[None, :] < E), other=0.0)
    m_i = tl.full((BP,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BP,), dtype=tl.float32)
    acc = tl.zeros((BP, BF), dtype=tl.float32)
    start = s * C
    stop = tl.minimum(start + C, M)
    for k0 in range(start, stop, BN):
        rm = k0 + tl.arange(0, BN)
        k = tl.load(k_ptr + h * stride_kh + rm[:, None] * stride_km + re[None, :],
                    mask=(rm[:, None] < stop) & (re[None, :] < E), other=0.0)
        sc = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
        sc = tl.where((rm[None, :] < stop) & (rp[:, None] >= 0), sc, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(sc, 1))
        p = tl.exp(sc - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptr + h * stride_vh + rm[:, None] * stride_vm + rf[None, :],
                    mask=(rm[:, None] < stop) & (rf[None, :] < F), other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        m_i = m_new
    row = (h * P + rp) * S + s                                 # OS[h,p,s,:], LS[h,p,s]
    tl.store(os_ptr + row[:, None] * F + rf[None, :], acc / l_i[:, None],
             mask=(rp[:, None] < P) & (rf[None, :] < F))
    tl.store(ls_ptr + row, m_i + tl.log(l_i), mask=rp < P)


@triton.jit
def combine_kernel(os_ptr, ls_ptr, av_ptr, lse_ptr, P, F, S, stride_avh, stride_avp,
                   BS: tl.constexpr, BF: tl.constexpr):
    p = tl.program_id(0)
    h = tl.program_id(1)
    rf = tl.arange(0, BF)
    base = (h * P + p) * S
    gm = tl.full((BS,), float("-inf"), dtype=tl.float32)
    for s0 in range(0, S, BS):                                 # pass 1: the largest LS
        rs = s0 + tl.arange(0, BS)
        gm = tl.maximum(gm, tl.load(ls_ptr + base + rs, mask=rs < S, other=float("-inf")))
    g = tl.max(gm, 0)
    ws = tl.zeros((BS,), dtype=tl.float32)
    acc = tl.zeros((BF,), dtype=tl.float32)
    for s0 in range(0, S, BS):                                 # pass 2: weights and outputs
        rs = s0 + tl.arange(0, BS)
        w = tl.exp(tl.load(ls_ptr + base + rs, mask=rs < S, other=float("-inf")) - g)
        ws += w
        o = tl.load(os_ptr + (base + rs)[:, None] * F + rf[None, :],
                    mask=(rs[:, None] < S) & (rf[None, :] < F), other=0.0)
        acc += tl.sum(w[:, None] * o, 0)
    total = tl.sum(ws, 0)
    tl.store(av_ptr + h * stride_avh + p * stride_avp + rf, (acc / total).to(av_ptr.dtype.element_ty),
             mask=rf < F)
    tl.store(lse_ptr + h * P + p, g + tl.log(total))


def chunking(M: int, BN: int, splits: int) -> tuple[int, int]:
    """(C, S_eff): keys per chunk (a multiple of BN) and the non-empty chunks."""
    c = cdiv(cdiv(M, max(splits, 1)), BN) * BN
    return c, cdiv(M, c)


def decode_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, splits: int = 4,
                     BN: int = 16, BS: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch both kernels on (heads, P, E) queries and (heads, M, E|F) keys/values."""
    H, P, E = q.shape
    _, M, F = v.shape
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    C, S = chunking(M, BN, splits)
    partial_o = torch.empty((H, P, S, F), device=q.device, dtype=torch.float32)
    partial_lse = torch.empty((H, P, S), device=q.device, dtype=torch.float32)
    av = torch.empty((H, P, F), device=q.device, dtype=q.dtype)
    lse = torch.empty((H, P), device=q.device, dtype=torch.float32)
    name_tensors(Q=q, K=k, V=v, OS=partial_o, LS=partial_lse, AV=av, LSE=lse)
    BP = max(triton.next_power_of_2(P), 1 if q.device.type == "cpu" else 16)
    splitkv_kernel[(S, H)](q, k, v, partial_o, partial_lse, P, M, E, F, S, C,
                           1.0 / math.sqrt(E), q.stride(0), q.stride(1), k.stride(0),
                           k.stride(1), v.stride(0), v.stride(1), BP=BP, BN=BN,
                           BE=triton.next_power_of_2(E), BF=triton.next_power_of_2(F))
    combine_kernel[(P, H)](partial_o, partial_lse, av, lse, P, F, S, av.stride(0),
                           av.stride(1), BS=BS, BF=triton.next_power_of_2(F))
    return av, lse


def reference(q, k, v) -> torch.Tensor:
    """torch's scaled_dot_product_attention at the inputs' precision (no mask)."""
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def _cascade():
    """The shipped cascade with the kernel's element types for the chunk results (fp32)."""
    from pathlib import Path

    from accelsim.ir import load_cascade

    cascade = load_cascade(Path(__file__).resolve().parents[3] / "einsum_cascades" / CASCADE)
    tensors = dict(cascade.tensors)
    for name in ("OS", "LS"):
        tensors[name] = replace(tensors[name], dtype="fp32")
    return replace(cascade, tensors=tensors)


SPLIT_MEMBERS = ("QS", "SC", "CM", "CE", "CL", "CO", "OS", "LS")
COMBINE_MEMBERS = ("GM", "W", "WS", "OW", "AV", "LSE")


def launches(heads: int, P: int, M: int, E: int, F: int, splits: int, BN: int) -> list[Launch]:
    """The accelsim mappings of the two launches of :func:`decode_attention`.

    Both are fused groups of the shipped cascade ``einsum_cascades/attention_decode_splitkv.yaml``
    (chunk results OS and LS declared fp32, as the kernel stores them).

    Kernel 1 = members QS .. LS.  Shared loops: GMEM spreads the chunks S and the heads H over
    the programs (spatial, the grid, S outermost); PROGRAM keeps nothing and owns the key-block
    loop over c (C/BN, temporal); each member's own loops are at TILE (c: BN, and P, E, F
    whole).  Keys are the blocked index s*C + c, so k = s*C + block*BN + c0, clipped at M.
    QS (the scaled queries) has no s, so it sits inside the S loop without iterating it: each
    program loads Q, S*P*E per head, as the kernel does.  K and V are read once (M*E, M*F per
    head); OS and LS are written (S*P*F and S*P per head) because the combine reads them.  The
    chunk max and sum, scores and numerators stay at TILE.  (The cascade computes a chunk's
    max before its exponentials; the kernel uses an online softmax within the chunk.  Both
    keep those intermediates on chip, so the off-chip traffic is the same.)

    Kernel 2 = members GM .. LSE.  GMEM spreads H and P over the programs; every member's loop
    over the chunks is at TILE.  LS is read by two members (the max GM and the weights W), and
    accelsim counts each member's reads of a group input separately -- which is what the
    two-pass combine kernel does (pass 1 for the max, pass 2 for the weights): 2*S*P per head.
    OS is read once; AV and LSE are written once.
    """
    cascade = _cascade()
    C, S = chunking(M, BN, splits)
    given = dict(H=heads, E=E, F=F, M=M, P=P, C=C)
    sizes = cascade.sizes(**given)
    split_spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"triton-splitkv-{S}x{C}-bn{BN}",
        "group": list(SPLIT_MEMBERS),
        "shared": [loops("GMEM", spatial=[("S", S), ("H", heads)]),
                   loops("PROGRAM", temporal=[("C", C // BN)], keep=[])],
        "einsums": _own_loops(cascade, sizes, SPLIT_MEMBERS, {"S", "H"}, {"C": BN}),
    })
    combine_spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"triton-splitkv-combine-{S}",
        "group": list(COMBINE_MEMBERS),
        "shared": [loops("GMEM", spatial=[("H", heads), ("P", P)])],
        "einsums": _own_loops(cascade, sizes, COMBINE_MEMBERS, {"H", "P"}, {}),
    })
    return [Launch(cascade, split_spec, given, S * heads),
            Launch(cascade, combine_spec, given, P * heads)]


def _own_loops(cascade, sizes, members, covered: set[str], blocks: dict[str, int]) -> dict:
    out = {}
    for name in members:
        own = [(rank, blocks.get(rank, size))
               for rank, size in cascade.einsum(name).space(sizes).items() if rank not in covered]
        out[name] = [loops("TILE", temporal=own)]
    return out
