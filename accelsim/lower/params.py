"""Closed forms from a workload's shape: parameter count and KV-cache bytes per token.

Parameters counted (Hugging Face module layout):

* per layer: Q, K, V and output projections (K and V with ``kv_heads`` heads), their biases
  if the model has biases, the FFN (two matrices, or gate/up/down for SwiGLU/GeGLU) with
  biases, and two norms (LayerNorm: gain and bias; RMSNorm: gain); a mixture of experts has
  ``experts`` FFNs and a router (hidden x experts, no bias, as Mixtral's ``gate``);
* embeddings: the token table (vocab x hidden), learned position rows (``max_positions``, or
  the patches plus the class token for ViT), BERT's two token-type rows, its embedding
  LayerNorm and its pooler (dense hidden x hidden + bias, part of the published 110M), ViT's
  patch projection, bias and class token;
* the final norm of pre-norm models, and the LM head (vocab x hidden) unless it is tied to
  the token table.
"""

from __future__ import annotations

from typing import Any

from accelsim.dtypes import element_bytes
from accelsim.lower.phases import check_shape, head_dim, load_workload
from accelsim.spec.workload import ModelShape


def layer_parameters(shape: ModelShape) -> int:
    """Parameters of one Transformer layer."""
    d, e, ffn = shape.hidden, head_dim(shape), shape.ffn
    q_width, kv_width = shape.heads * e, (shape.kv_heads or shape.heads) * e
    attention = d * q_width + 2 * d * kv_width + q_width * d
    gated = shape.ffn_activation in ("swiglu", "geglu")
    feed_forward = (3 if gated else 2) * d * ffn
    if shape.bias:
        attention += q_width + 2 * kv_width + d
        feed_forward += (2 * ffn if gated else ffn) + d
    norms = 2 * (2 * d if shape.norm == "layernorm" else d)
    if shape.experts:      # every expert's FFN, and the router (hidden x experts)
        feed_forward = shape.experts * feed_forward + d * shape.experts
    return attention + feed_forward + norms


def parameter_count(workload: Any, *, embeddings: bool = True, lm_head: bool = True) -> int:
    """Parameters of the model (see the module docstring); ``embeddings``/``lm_head`` leave
    out the parts before the first layer or after the last."""
    shape = load_workload(workload).model
    check_shape(shape)
    total = shape.layers * layer_parameters(shape)
    d = shape.hidden
    norm = 2 * d if shape.norm == "layernorm" else d
    if embeddings:
        total += _embedding_parameters(shape)
    if lm_head:
        if shape.norm_position == "pre":
            total += norm
        if shape.vocab is not None and not (shape.tie_embeddings and embeddings):
            total += shape.vocab * d
    return total


def _embedding_parameters(shape: ModelShape) -> int:
    d = shape.hidden
    if shape.image_size is not None:
        patches = (shape.image_size // shape.patch_size) ** 2
        pixels = (shape.channels or 3) * shape.patch_size ** 2
        return pixels * d + d + d + (patches + 1) * d
    total = (shape.vocab or 0) * d
    if shape.position == "learned" and shape.max_positions:
        total += shape.max_positions * d
    if shape.family == "bert":
        total += 2 * d + 2 * d + (d * d + d)  # token types, embedding LayerNorm, pooler
    return total


def kv_cache_bytes_per_token(workload: Any, dtype: str = "bf16") -> float:
    """Bytes of KV cache one token occupies: 2 (K and V) x layers x kv_heads x head_dim x
    bytes per element of ``dtype``."""
    shape = load_workload(workload).model
    check_shape(shape)
    return 2 * shape.layers * (shape.kv_heads or shape.heads) * head_dim(shape) * \
        element_bytes(dtype)
