"""One Transformer layer as a cascade: norms, attention with its projections, FFN, residuals.

Ranks of the layer cascade::

    B  sequences in the batch        T  new tokens per sequence (queries)
    M  keys per sequence: T in a prefill (``M: T``), L + 1 in a decode step
    L  cached keys per sequence (decode)
    D  model dimension   KH  key/value heads   G  query heads per KV head (H = KH * G)
    E  query/key head dimension   F  value head dimension (``F: E``)   I  FFN dimension
    HALF, J  the two halves of E after rotary embedding (E = 2 * J)

Tensors: ``X`` (input hidden states) -> ``Y`` (output); a decoder's prefill also writes
``KNEW``/``VNEW``, the keys and values of its tokens that go into the KV cache; a decode step
reads the cache ``KC``/``VC`` and writes ``KNEW``/``VNEW`` for the new token.  Rotary models
read ``COS``/``SIN`` [B, T, E]; a padded batch reads the additive key mask ``MASK`` [B, M].

A decode step puts the new token's key first (``m = 0``) and cached key ``l`` at ``m = l + 1``:
the IR has no concatenation, so the full keys ``KF`` are the sum of two guarded copies (one
add per element, counted).  A variable-length batch is one group of ranks and tensors per
distinct (length, cache length) pair, all reading the same weights
(:mod:`accelsim.lower.builder`), so no padding is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.lower.attention import AttentionSpec, attention_variant
from accelsim.lower.blocks import (feed_forward, linear, mixture_of_experts, norm, residual,
                                   rotary)
from accelsim.errors import LoweringError
from accelsim.lower.builder import Built, CascadeBuilder
from accelsim.lower.precision import Precision
from accelsim.spec.workload import ModelShape

MODEL_RANKS = frozenset({"D", "KH", "G", "E", "F", "I", "HALF", "J", "V", "K"})
"""Ranks that are the model's own dimensions, shared by every group of a batch."""


@dataclass(frozen=True)
class Group:
    """Sequences of one batch that share their lengths."""

    batch: int
    """Number of sequences."""
    tokens: int
    """New tokens per sequence (queries)."""
    cache: int | None = None
    """Cached keys per sequence (decode), None in a prefill."""


@dataclass(frozen=True)
class LayerPlan:
    """Everything the layer cascade depends on besides the sizes of its groups."""

    shape: ModelShape
    head_dim: int
    kv_heads: int
    eps: float
    """Norm epsilon."""
    gelu: str
    """``gelu`` (erf) or ``gelu_tanh``."""
    attention: str
    block: int | None
    decode: bool
    padded: bool
    """Whether a key mask input MASK[B, M] is read (padded batches)."""
    precision: Precision
    groups: tuple[Group, ...]
    expert_shards: int = 1
    """Devices the experts are spread over (Request.expert_shards)."""

    @property
    def rope(self) -> bool:
        """Whether queries and keys are rotated (rotary position embedding)."""
        return self.shape.position == "rope"

    @property
    def writes_cache(self) -> bool:
        """Decoders write their new keys and values to the KV cache."""
        return self.shape.causal

    def suffix(self, k: int) -> str:
        """Name suffix of group ``k`` (none when the batch is one group)."""
        return "" if len(self.groups) == 1 else f"_{k}"


def layer_cascade(plan: LayerPlan, name: str) -> Built:
    """The verified cascade of one layer for every group of the batch."""
    b = CascadeBuilder(plan.precision, shared_ranks=MODEL_RANKS)
    heads = plan.shape.heads
    for rank, size in (("D", plan.shape.hidden), ("KH", plan.kv_heads),
                       ("G", heads // plan.kv_heads), ("E", plan.head_dim), ("F", "E"),
                       ("I", plan.shape.ffn)):
        b.rank(rank, size)
    if plan.rope:
        b.rank("HALF", 2)
        b.rank("J", "E / 2")
    for k, group in enumerate(plan.groups):
        with b.group(plan.suffix(k)):
            _layer_group(b, plan, group)
    shape = plan.shape
    return b.build(name, source=_SOURCE, description=(
        f"one {shape.family} layer ({shape.norm_position}-{shape.norm}, {shape.ffn_activation} "
        f"FFN, {plan.attention} attention) for a {'decode step' if plan.decode else 'prefill'}"))


_SOURCE = ("Vaswani et al., 'Attention Is All You Need', NeurIPS 2017, Section 3 (layer: "
           "multi-head attention and FFN with residuals); blocks cited in accelsim.lower.blocks, "
           "attention variants in accelsim.lower.attention")


def _layer_group(b: CascadeBuilder, plan: LayerPlan, group: Group) -> None:
    b.rank("B", group.batch)
    b.rank("T", group.tokens)
    if plan.decode:
        b.rank("L", group.cache)
        b.rank("M", "L + 1")
    else:
        b.rank("M", "T")
    b.input("X", ("B", "T", "D"))
    shape, eps = plan.shape, plan.eps
    if shape.norm_position == "pre":
        attended = _attention(b, plan, group, norm(b, shape.norm, "X", "XN1", "N1", eps))
        residual(b, "X", attended, "H1")
        ffn = _ffn(b, plan, group, norm(b, shape.norm, "H1", "XN2", "N2", eps))
        residual(b, "H1", ffn, "Y")
    else:
        residual(b, "X", _attention(b, plan, group, "X"), "R1")
        norm(b, shape.norm, "R1", "H1", "N1", eps)
        ffn = _ffn(b, plan, group, "H1")
        residual(b, "H1", ffn, "R2")
        norm(b, shape.norm, "R2", "Y", "N2", eps)
    b.output("Y", ("B", "T", "D"))


def _ffn(b: CascadeBuilder, plan: LayerPlan, group: Group, x: str) -> str:
    """The FFN branch on ``x``: dense, or a mixture of experts over the group's tokens."""
    shape = plan.shape
    if not shape.experts:
        return feed_forward(b, x, "FO", shape.ffn_activation, plan.gelu, shape.bias)
    if len(plan.groups) > 1:
        raise LoweringError("a mixture of experts is lowered for one length per batch; "
                            "give equal lengths (a single --seq or --kv)")
    return mixture_of_experts(b, x, "FO", shape, plan.gelu, group.batch * group.tokens,
                              plan.expert_shards)


def _attention(b: CascadeBuilder, plan: LayerPlan, group: Group, x: str) -> str:
    """Q/K/V projections, rotary embedding, the KV cache, the attention variant and the
    output projection; returns the name of the attention branch's output [b,t,d]."""
    bias = plan.shape.bias
    key_ranks = ("HALF", "J") if plan.rope else ("E",)
    kv = "half,j" if plan.rope else "e"
    keys = "KNEW" if plan.writes_cache else "K"
    values = "VNEW" if plan.writes_cache else "V"
    cache_kind = "kv" if plan.writes_cache else None
    if plan.rope:
        b.input("COS", ("B", "T", "E"))
        b.input("SIN", ("B", "T", "E"))
        linear(b, x, "QL", "WQ", ("KH", "G", "E"), "BQ" if bias else None, in_ranks=("D",))
        linear(b, x, "KL", "WK", ("KH", "E"), "BK" if bias else None)
        query = rotary(b, "QL", "Q", "kh,g", "COS", "SIN")
        rotary(b, "KL", keys, "kh", "COS", "SIN", kind=cache_kind or "activations")
    else:
        query = linear(b, x, "Q", "WQ", ("KH", "G", "E"), "BQ" if bias else None)
        linear(b, x, keys, "WK", ("KH", "E"), "BK" if bias else None, kind=cache_kind)
    linear(b, x, values, "WV", ("KH", "F"), "BV" if bias else None, kind=cache_kind)
    if plan.writes_cache:
        b.output(keys, ("B", "T", "KH", *key_ranks), "kv")
        b.output(values, ("B", "T", "KH", "F"), "kv")
    if plan.decode:
        keys = _append_to_cache(b, "K", keys, key_ranks, kv)
        values = _append_to_cache(b, "V", values, ("F",), "f")
    if plan.padded:
        b.input("MASK", ("B", "M"))
    keys_per_sequence = group.cache + 1 if plan.decode else group.tokens
    spec = AttentionSpec(keys=keys_per_sequence, q=query, k=keys, v=values,
                         qk=tuple(kv.split(",")), mask=_mask(plan),
                         key_bias="MASK" if plan.padded else None, block=plan.block)
    block = attention_variant(plan.attention)(spec)
    for rank, size in block.ranks.items():
        b.rank(rank, size)
    for text, iterate, initial in block.einsums:
        written = text.split("[", 1)[0].strip()
        b.add(text, iterate=iterate, initial=initial, matmul=written in block.matmuls)
    return linear(b, "AV", "AO", "WO", ("D",), "BO" if bias else None,
                  in_ranks=("KH", "G", "F"))


def _append_to_cache(b: CascadeBuilder, letter: str, new: str, ranks: tuple[str, ...],
                     features: str) -> str:
    """Full keys (or values) of a decode step: the new token at m = 0, cache entry l at
    m = l + 1."""
    cache = b.input(f"{letter}C", ("B", "L", "KH", *ranks), "kv")
    b.add(f"{letter}CP[b,m,kh,{features}] = {cache}[b,m-1,kh,{features}] where m >= 1",
          kind="kv")
    b.add(f"{letter}NP[b,m,kh,{features}] = {new}[b,0,kh,{features}] where m == 0", kind="kv")
    full = b.add(f"{letter}F[b,m,kh,{features}] = {letter}CP[b,m,kh,{features}] + "
                 f"{letter}NP[b,m,kh,{features}]", kind="kv")
    b.appended(full, (f"{letter}CP", f"{letter}NP", full))
    return full


def _mask(plan: LayerPlan) -> str | None:
    """Guard of the scores: causal and sliding-window masks of a prefill (a decode step's
    single query sees every key; its window limits the cache instead)."""
    if plan.decode or not plan.shape.causal:
        return None
    window = plan.shape.sliding_window
    causal = "{k} <= t"
    return causal if window is None else f"{causal} and t - {{k}} < {window}"
