"""FlashAttention-2 forward: Triton kernel, launcher, torch reference and accelsim mapping.

The kernel follows Dao 2023 (arXiv:2307.08691), Algorithm 1, as the Triton tutorial
(06-fused-attention) writes it: program (i, h) loads the BM x E query block Q_i of head h
once, walks the key blocks j = 0, 1, ... loading K_j and V_j (BN x E and BN x F, masked past
the last key), keeps the running max m, sum l and output accumulator in registers (online
softmax), and stores O_i (BM x F) and the log-sum-exp L_i = m + log l once.  With ``causal``
the walk stops after the block holding the diagonal (key blocks j*BN < (i+1)*BM), and scores
of keys after their query are masked to -inf.

Element types: Q, K, V and O fp16, LSE fp32, scores and accumulators fp32 (P~ is cast to fp16
for the PV product, as FlashAttention-2 does).  The shipped cascade declares Q, K, V, O bf16;
fp16 has the same 2 bytes, so traffic is unchanged (the interpreter has no bf16 arithmetic).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from accelsim.validate.programs import Launch, cdiv, loops
from accelsim.validate.traffic import name_tensors
from accelsim.spec import MappingSpec

CASCADE = "flash_attention2.yaml"


@triton.jit
def fa2_forward_kernel(q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr, P, M, E, F, scale,
                       stride_qh, stride_qp, stride_kh, stride_km, stride_vh, stride_vm,
                       stride_oh, stride_op,
                       BM: tl.constexpr, BN: tl.constexpr, BE: tl.constexpr, BF: tl.constexpr,
                       CAUSAL: tl.constexpr):
    i = tl.program_id(0)
    h = tl.program_id(1)
    rp = i * BM + tl.arange(0, BM)
    re = tl.arange(0, BE)
    rf = tl.arange(0, BF)
    q = tl.load(q_ptr + h * stride_qh + rp[:, None] * stride_qp + re[None, :],
                mask=(rp[:, None] < P) & (re[None, :] < E), other=0.0)
    m_i = tl.full((BM,), float("-inf"), dtype=tl.float32)
    l_i = tl.zeros((BM,), dtype=tl.float32)
    acc = tl.zeros((BM, BF), dtype=tl.float32)
    hi = M
    if CAUSAL:
        hi = tl.minimum((i + 1) * BM, M)
    for start in range(0, hi, BN):
        rm = start + tl.arange(0, BN)
        k = tl.load(k_ptr + h * stride_kh + rm[:, None] * stride_km + re[None, :],
                    mask=(rm[:, None] < M) & (re[None, :] < E), other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
        valid = (rm[None, :] < M) & (rp[:, None] >= 0)
        if CAUSAL:
            valid = valid & (rm[None, :] <= rp[:, None])
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptr + h * stride_vh + rm[:, None] * stride_vm + rf[None, :],
                    mask=(rm[:, None] < M) & (rf[None, :] < F), other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        m_i = m_new
    o = acc / l_i[:, None]
    tl.store(o_ptr + h * stride_oh + rp[:, None] * stride_op + rf[None, :],
             o.to(o_ptr.dtype.element_ty), mask=(rp[:, None] < P) & (rf[None, :] < F))
    tl.store(lse_ptr + h * P + rp, m_i + tl.log(l_i), mask=rp < P)


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
                    BM: int = 16, BN: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the kernel on (heads, queries, E) / (heads, keys, E|F) tensors: (O, LSE)."""
    H, P, E = q.shape
    _, M, F = v.shape
    if causal and P != M:
        raise ValueError("causal attention here needs as many queries as keys")
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    o = torch.empty((H, P, F), device=q.device, dtype=q.dtype)
    lse = torch.empty((H, P), device=q.device, dtype=torch.float32)
    name_tensors(Q=q, K=k, V=v, O=o, LSE=lse)
    grid = (cdiv(P, BM), H)
    fa2_forward_kernel[grid](q, k, v, o, lse, P, M, E, F, 1.0 / math.sqrt(E),
                             q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0),
                             v.stride(1), o.stride(0), o.stride(1), BM=BM, BN=BN,
                             BE=triton.next_power_of_2(E), BF=triton.next_power_of_2(F),
                             CAUSAL=causal)
    return o, lse


def reference(q, k, v, *, causal: bool = False) -> torch.Tensor:
    """torch's scaled_dot_product_attention at the inputs' precision."""
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def reference_lse(q, k, *, causal: bool = False) -> torch.Tensor:
    """The log-sum-exp of the scaled scores per query, in float64."""
    s = (q.double() @ k.double().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        s = s.masked_fill(torch.ones_like(s, dtype=torch.bool).triu(1), float("-inf"))
    return torch.logsumexp(s, dim=-1)


def _member_loops(cascade, sizes: dict[str, int], covered: set[str]) -> dict[str, list]:
    """Every member's ranks not covered by shared loops, whole, at TILE (P: one block)."""
    einsums = {}
    for einsum in cascade.einsums:
        own = []
        for rank, size in einsum.space(sizes).items():
            if rank in covered:
                continue
            if rank == "P" and "P1" in covered:
                size = sizes["P0"]
            own.append((rank, size))
        einsums[einsum.name] = [loops("TILE", temporal=own)]
    return einsums


def _launch(cascade, heads: int, P: int, M: int, E: int, F: int, BM: int, BN: int) -> Launch:
    given = dict(H=heads, E=E, F=F, M=M, P=P, P0=BM, M0=BN)
    sizes = cascade.sizes(**given)
    tr, tc = cdiv(P, BM), cdiv(M, BN)
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"triton-fa2-{BM}x{BN}",
        "description": "Triton FlashAttention-2: (query block, head) grid spatial at GMEM, "
                       "key blocks at PROGRAM, each member's block loops at TILE",
        "group": [e.name for e in cascade.einsums],
        "shared": [loops("GMEM", spatial=[("H", heads), ("P1", tr)]),
                   loops("PROGRAM", temporal=[("M1", tc)], keep=[])],
        "einsums": _member_loops(cascade, sizes, {"H", "P1", "M1"}),
    })
    return Launch(cascade, spec, given, heads * tr)


def launches(heads: int, P: int, M: int, E: int, F: int, BM: int, BN: int,
             causal: bool = False) -> list[Launch]:
    """The accelsim mapping(s) of one launch of :func:`flash_attention`.

    Not causal: one fused group of the shipped FlashAttention-2 cascade
    (``einsum_cascades/flash_attention2.yaml``, Q_i = ``P1``/``P0``, K_j = ``M1``/``M0``).
    GMEM spreads heads and query blocks over the programs (spatial, the grid); PROGRAM owns
    the key-block loop M1 (temporal) and keeps nothing, so every intermediate (scores, running
    max, sum and output) lives at TILE, the branch level, and never reaches GMEM; each
    member's remaining ranks are TILE loops (a query block P0, a key block M0, E, F).  Each
    program then reads its Q block once and every K and V block once: Q P*E, K and V
    ceil(P/BM)*M*E|F per head, O P*F and LSE P written -- the kernel's loads and stores.

    Causal: accelsim's loop nests are rectangular (a ``where`` guard is counted as if the
    guarded points moved data), so the triangle of key blocks the kernel visits cannot be one
    nest.  It is modelled as one launch per query block i: the same mapping for the
    min(BM, P - i*BM) queries of block i against the keys of the blocks it visits,
    min(ceil(min((i+1)*BM, M) / BN) * BN, M) of them.  The sum over i is the kernel's traffic.
    """
    from accelsim.ir import load_cascade

    cascade = load_cascade(_cascade_path())
    if not causal:
        return [_launch(cascade, heads, P, M, E, F, BM, BN)]
    out = []
    for i in range(cdiv(P, BM)):
        rows = min(BM, P - i * BM)
        keys = min(cdiv(min((i + 1) * BM, M), BN) * BN, M)
        out.append(_launch(cascade, heads, rows, keys, E, F, BM, BN))
    return out


def _cascade_path() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[3] / "einsum_cascades" / CASCADE)
