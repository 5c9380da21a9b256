"""Attention variants: one plain function per cascade, kept in a registry by name.

Every variant has the signature ``variant(spec: AttentionSpec) -> AttentionBlock`` (the
opt_einsum convention for strategies); :func:`attention_variant` looks one up and an unknown
name is a :class:`~accelsim.errors.SpecError` listing the valid ones.

Tensor layout shared by all variants (grouped-query attention: query head ``kh*G + g`` reads
key/value head ``kh``; plain multi-head attention has ``G = 1``)::

    Q[b,t,kh,g,<qk>]   K[b,m,kh,<qk>]   V[b,m,kh,f]   ->   AV[b,t,kh,g,f]

``<qk>`` is ``e``, or ``half,j`` after rotary embedding.  Queries are scaled by ``rsqrt(E)``
first (as ``torch.nn.functional.scaled_dot_product_attention`` does).  A mask (causal, sliding
window) is a *guard* on the score Einsum: a masked score takes the fill value and, like every
guarded point, still counts in the dense op counts (as FlopCounterMode counts masked
attention).  An additive key mask (padding) is one more Einsum adding ``MASK[b,m]``.

The blocked variants fill masked and padded scores with ``-1e30`` rather than ``-inf``: a key
block masked out entirely for a query (sliding window) would otherwise give ``-inf - -inf``
in the running-max correction; its contributions are multiplied by ``exp(-1e30 - max) = 0``
once a block with a real key arrives.  Their block sizes are mapping choices; dense counts
include a padded last block when the block does not divide the keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from accelsim.errors import LoweringError, SpecError

BLOCKED_FILL = "-1e30"
"""Score of a masked or padded key in the blocked variants (see the module docstring)."""


@dataclass(frozen=True)
class AttentionSpec:
    """What one attention computes: tensor names, the contracted features and the masks."""

    keys: int
    """Number of keys M (to size blocks)."""
    q: str = "Q"
    """Queries [B, T, KH, G, <qk>]."""
    k: str = "K"
    """Keys [B, M, KH, <qk>] (any rank the variable ``m`` may index)."""
    v: str = "V"
    """Values [B, M, KH, F]."""
    out: str = "AV"
    """Output [B, T, KH, G, F]."""
    qk: tuple[str, ...] = ("e",)
    """Feature variables contracted by the scores (``("e",)`` or ``("half", "j")``)."""
    mask: str | None = None
    """Guard keeping a score, with ``{k}`` standing for the key position, e.g. ``{k} <= t``."""
    key_bias: str | None = None
    """Additive key mask tensor [B, M] (0 keeps a key, -inf drops it), or None."""
    block: int | None = None
    """Keys per block of the blocked variants (None: the variant's default)."""


@dataclass(frozen=True)
class AttentionBlock:
    """Extra ranks and the Einsums (text, iterated variable, initial value) of a variant."""

    ranks: dict[str, object] = field(default_factory=dict)
    einsums: tuple[tuple[str, str | None, object], ...] = ()
    matmuls: tuple[str, ...] = ()
    """Tensors written by the matrix products (scores and products with V), whose MACs are
    the FLOPs FlopCounterMode counts; the split-KV combine and softmax sums are not."""


def _qk(spec: AttentionSpec) -> str:
    return ",".join(spec.qk)


def _scaled_queries(spec: AttentionSpec) -> str:
    return f"AT_QS[b,t,kh,g,{_qk(spec)}] = {spec.q}[b,t,kh,g,{_qk(spec)}] * rsqrt(E)"


def _guard(spec: AttentionSpec, key: str, bound: str | None, fill: str) -> str:
    position = key if key.isidentifier() else f"({key})"
    conditions = [c for c in (bound, spec.mask.format(k=position) if spec.mask else None) if c]
    return f" where {' and '.join(conditions)} else {fill}" if conditions else ""


def _plain_scores(spec: AttentionSpec) -> tuple[list[str], str]:
    """Scores over all keys (unblocked): AT_QK[b,t,kh,g,m], biased if a key mask is given."""
    texts = [_scaled_queries(spec),
             f"AT_QK[b,t,kh,g,m] = AT_QS[b,t,kh,g,{_qk(spec)}] * {spec.k}[b,m,kh,{_qk(spec)}]"
             + _guard(spec, "m", None, "-inf")]
    if spec.key_bias is None:
        return texts, "AT_QK"
    texts.append(f"AT_QB[b,t,kh,g,m] = AT_QK[b,t,kh,g,m] + {spec.key_bias}[b,m]")
    return texts, "AT_QB"


def three_pass(spec: AttentionSpec) -> AttentionBlock:
    """FuseMax's 3-pass cascade (arXiv:2406.10491, Section 3): max; exp and sum; divide and
    multiply by V.  The reference softmax attention."""
    texts, s = _plain_scores(spec)
    texts += [f"AT_GM[b,t,kh,g] = max(m) {s}[b,t,kh,g,m]",
              f"AT_SN[b,t,kh,g,m] = exp({s}[b,t,kh,g,m] - AT_GM[b,t,kh,g])",
              "AT_SD[b,t,kh,g] = sum(m) AT_SN[b,t,kh,g,m]",
              "AT_A[b,t,kh,g,m] = AT_SN[b,t,kh,g,m] / AT_SD[b,t,kh,g]",
              f"{spec.out}[b,t,kh,g,f] = AT_A[b,t,kh,g,m] * {spec.v}[b,m,kh,f]"]
    return AttentionBlock({}, tuple((t, None, None) for t in texts), ("AT_QK", spec.out))


def two_pass(spec: AttentionSpec) -> AttentionBlock:
    """FuseMax's 2-pass cascade (arXiv:2406.10491, Section 3): the division by the softmax
    denominator is deferred until after the product with V."""
    texts, s = _plain_scores(spec)
    texts += [f"AT_GM[b,t,kh,g] = max(m) {s}[b,t,kh,g,m]",
              f"AT_SN[b,t,kh,g,m] = exp({s}[b,t,kh,g,m] - AT_GM[b,t,kh,g])",
              "AT_SD[b,t,kh,g] = sum(m) AT_SN[b,t,kh,g,m]",
              f"AT_SNV[b,t,kh,g,f] = AT_SN[b,t,kh,g,m] * {spec.v}[b,m,kh,f]",
              f"{spec.out}[b,t,kh,g,f] = AT_SNV[b,t,kh,g,f] / AT_SD[b,t,kh,g]"]
    return AttentionBlock({}, tuple((t, None, None) for t in texts), ("AT_QK", "AT_SNV"))


def _block_ranks(spec: AttentionSpec, default: int) -> dict[str, object]:
    block = spec.block or default
    if block < 1:
        raise LoweringError(f"attention block size must be >= 1, got {block}")
    return {"M0": min(block, spec.keys), "M1": "ceil(M / M0)"}


def _blocked_scores(spec: AttentionSpec) -> list[str]:
    """Key blocks BK/BV and block scores AT_S[b,t,kh,g,m1,m0] (biased by a key mask)."""
    key, bound = "m1*M0+m0", "m1*M0+m0 < M"
    qk = _qk(spec)
    texts = [_scaled_queries(spec),
             f"AT_BK[b,m1,m0,kh,{qk}] = {spec.k}[b,{key},kh,{qk}] where {bound}",
             f"AT_BV[b,m1,m0,kh,f] = {spec.v}[b,{key},kh,f] where {bound}",
             f"AT_S[b,t,kh,g,m1,m0] = AT_QS[b,t,kh,g,{qk}] * AT_BK[b,m1,m0,kh,{qk}]"
             + _guard(spec, key, bound, BLOCKED_FILL)]
    if spec.key_bias is not None:
        texts[-1] = texts[-1].replace("AT_S[", "AT_SU[", 1)
        texts.append(f"AT_S[b,t,kh,g,m1,m0] = AT_SU[b,t,kh,g,m1,m0] + {spec.key_bias}[b,{key}]"
                     f" where {bound} else {BLOCKED_FILL}")
    return texts


def _scores(spec: AttentionSpec) -> str:
    """The block score product of the blocked variants (before any key mask is added)."""
    return "AT_S" if spec.key_bias is None else "AT_SU"


def one_pass(spec: AttentionSpec) -> AttentionBlock:
    """FuseMax's 1-pass cascade (arXiv:2406.10491, Cascade 5): running max RM, denominator
    RD and numerator RNV carried across key blocks m1 of M0 keys."""
    row = "b,t,kh,g"
    entries = [(t, None, None) for t in _blocked_scores(spec)]
    entries += [
        (f"AT_LM[{row},m1] = max(m0) AT_S[{row},m1,m0]", None, None),
        (f"AT_RM[{row},m1+1] = max(AT_RM[{row},m1], AT_LM[{row},m1])", "m1", "-inf"),
        (f"AT_SLN[{row},m1,m0] = exp(AT_S[{row},m1,m0] - AT_RM[{row},m1+1])", None, None),
        (f"AT_SLD[{row},m1] = sum(m0) AT_SLN[{row},m1,m0]", None, None),
        (f"AT_SLNV[{row},m1,f] = AT_SLN[{row},m1,m0] * AT_BV[b,m1,m0,kh,f]", None, None),
        (f"AT_PRM[{row},m1] = exp(AT_RM[{row},m1] - AT_RM[{row},m1+1])", None, None),
        (f"AT_SPD[{row},m1] = AT_RD[{row},m1] * AT_PRM[{row},m1]", None, None),
        (f"AT_RD[{row},m1+1] = AT_SLD[{row},m1] + AT_SPD[{row},m1]", "m1", 0),
        (f"AT_SPNV[{row},m1,f] = AT_RNV[{row},m1,f] * AT_PRM[{row},m1]", None, None),
        (f"AT_RNV[{row},m1+1,f] = AT_SLNV[{row},m1,f] + AT_SPNV[{row},m1,f]", "m1", 0),
        (f"{spec.out}[{row},f] = AT_RNV[{row},M1,f] / AT_RD[{row},M1]", None, None),
    ]
    return AttentionBlock(_block_ranks(spec, 256), tuple(entries), (_scores(spec), "AT_SLNV"))


def flash2(spec: AttentionSpec) -> AttentionBlock:
    """FlashAttention-2's forward pass (Dao, arXiv:2307.08691, Algorithm 1) over key blocks:
    running max, rescaled running sum l and output O, one division at the end.  Query blocks
    (Br) are a mapping choice over ``t`` and are not written into the cascade."""
    row = "b,t,kh,g"
    entries = [(t, None, None) for t in _blocked_scores(spec)]
    entries += [
        (f"AT_BM[{row},m1] = max(m0) AT_S[{row},m1,m0]", None, None),
        (f"AT_RM[{row},m1+1] = max(AT_RM[{row},m1], AT_BM[{row},m1])", "m1", "-inf"),
        (f"AT_PT[{row},m1,m0] = exp(AT_S[{row},m1,m0] - AT_RM[{row},m1+1])", None, None),
        (f"AT_RS[{row},m1] = sum(m0) AT_PT[{row},m1,m0]", None, None),
        (f"AT_CF[{row},m1] = exp(AT_RM[{row},m1] - AT_RM[{row},m1+1])", None, None),
        (f"AT_RL[{row},m1+1] = AT_CF[{row},m1] * AT_RL[{row},m1] + AT_RS[{row},m1]", "m1", 0),
        (f"AT_PV[{row},m1,f] = AT_PT[{row},m1,m0] * AT_BV[b,m1,m0,kh,f]", None, None),
        (f"AT_RO[{row},m1+1,f] = AT_CF[{row},m1] * AT_RO[{row},m1,f] + AT_PV[{row},m1,f]",
         "m1", 0),
        (f"{spec.out}[{row},f] = AT_RO[{row},M1,f] / AT_RL[{row},M1]", None, None),
    ]
    return AttentionBlock(_block_ranks(spec, 128), tuple(entries), (_scores(spec), "AT_PV"))


def split_kv(spec: AttentionSpec) -> AttentionBlock:
    """Flash-Decoding (Dao et al., 2023): S chunks of C keys, each with its own softmax output
    and log-sum-exp, combined by a log-sum-exp weighted sum."""
    row, key, bound, qk = "b,t,kh,g", "s*C+c", "s*C+c < M", _qk(spec)
    block = spec.block or 512
    if block < 1:
        raise LoweringError(f"attention block size must be >= 1, got {block}")
    texts = [_scaled_queries(spec),
             f"AT_SC[{row},s,c] = AT_QS[{row},{qk}] * {spec.k}[b,{key},kh,{qk}]"
             + _guard(spec, key, bound, BLOCKED_FILL)]
    score = "AT_SC"
    if spec.key_bias is not None:
        texts.append(f"AT_SB[{row},s,c] = AT_SC[{row},s,c] + {spec.key_bias}[b,{key}] "
                     f"where {bound} else {BLOCKED_FILL}")
        score = "AT_SB"
    texts += [f"AT_CM[{row},s] = max(c) {score}[{row},s,c]",
              f"AT_CE[{row},s,c] = exp({score}[{row},s,c] - AT_CM[{row},s])",
              f"AT_CL[{row},s] = sum(c) AT_CE[{row},s,c]",
              f"AT_CO[{row},s,f] = AT_CE[{row},s,c] * {spec.v}[b,{key},kh,f] where {bound}",
              f"AT_OS[{row},s,f] = AT_CO[{row},s,f] / AT_CL[{row},s]",
              f"AT_LS[{row},s] = AT_CM[{row},s] + log(AT_CL[{row},s])",
              f"AT_GM[{row}] = max(s) AT_LS[{row},s]",
              f"AT_W[{row},s] = exp(AT_LS[{row},s] - AT_GM[{row}])",
              f"AT_WS[{row}] = sum(s) AT_W[{row},s]",
              f"AT_OW[{row},f] = AT_W[{row},s] * AT_OS[{row},s,f]",
              f"{spec.out}[{row},f] = AT_OW[{row},f] / AT_WS[{row}]"]
    ranks = {"C": min(block, spec.keys), "S": "ceil(M / C)"}
    return AttentionBlock(ranks, tuple((t, None, None) for t in texts), ("AT_SC", "AT_CO"))


ATTENTION_VARIANTS: dict[str, Callable[[AttentionSpec], AttentionBlock]] = {
    "3pass": three_pass,
    "2pass": two_pass,
    "1pass": one_pass,
    "fusemax": one_pass,
    "flash2": flash2,
    "splitkv": split_kv,
}
"""Attention variant name -> lowering function (``fusemax`` is another name for ``1pass``)."""


def attention_variant(name: str) -> Callable[[AttentionSpec], AttentionBlock]:
    """The variant registered as ``name``; an unknown name lists the valid ones."""
    try:
        return ATTENTION_VARIANTS[name]
    except (KeyError, TypeError):
        raise SpecError(f"unknown attention variant {name!r}; expected one of "
                        f"{', '.join(ATTENTION_VARIANTS)}") from None
