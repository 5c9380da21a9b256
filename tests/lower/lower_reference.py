"""Faithful PyTorch layers (BERT, GPT-2, Llama, ViT) and their weights as cascade inputs.

Each module follows the Hugging Face implementation of its family (transformers
``modeling_bert.BertLayer``, ``modeling_gpt2.GPT2Block``, ``modeling_llama.LlamaDecoderLayer``,
``modeling_vit.ViTLayer``) at a small size, in float64:

* BERT: post-norm, eager attention (matmul, scale, softmax, matmul), biases, exact GELU,
  LayerNorm eps 1e-12;
* GPT-2: pre-norm, fused QKV projection split in three, causal scaled_dot_product_attention,
  tanh GELU (``gelu_new``), LayerNorm eps 1e-5 (GPT-2's Conv1D is ``x @ W + b``: a Linear with
  the transposed weight);
* Llama: RMSNorm (eps 1e-5), rotary embedding with ``rotate_half``, grouped-query attention
  (``enable_gqa``), SwiGLU, no biases; ``cos``/``sin`` [B, T, E] are passed in as Hugging
  Face passes ``position_embeddings``;
* ViT: pre-norm encoder, eager attention, biases, exact GELU, LayerNorm eps 1e-12.

Decoders take an optional KV cache (``past_k``, ``past_v`` [B, KH, L, E]) and return
``(y, k, v)`` with the full keys and values, as a Hugging Face cache does.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from accelsim.spec.workload import ModelShape, WorkloadSpec


def workload(name: str, layers: int = 2, **model) -> WorkloadSpec:
    """A WorkloadSpec for the test modules' shape."""
    return WorkloadSpec(kind="workload", version=1, name=name, source="test module",
                        model=ModelShape(layers=layers, **model))


SHAPES = {
    "bert": dict(family="bert", hidden=64, heads=4, ffn=128, norm="layernorm",
                 norm_position="post", causal=False, vocab=100, max_positions=32),
    "gpt2": dict(family="gpt2", hidden=64, heads=4, ffn=256, norm="layernorm",
                 norm_position="pre", causal=True, vocab=100, max_positions=32,
                 tie_embeddings=True),
    "llama": dict(family="llama", hidden=64, heads=4, kv_heads=2, ffn=96, norm="rmsnorm",
                  norm_position="pre", position="rope", causal=True, vocab=100, bias=False,
                  ffn_activation="swiglu"),
    "vit": dict(family="vit", hidden=64, heads=4, ffn=128, norm="layernorm",
                norm_position="pre", causal=False, image_size=16, patch_size=4, channels=3),
}
"""Small shapes of the four families (hidden 64)."""


def _attention_eager(q, k, v, head_dim):
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(head_dim)
    return torch.matmul(F.softmax(scores, dim=-1), v)


class BertLayer(nn.Module):
    """transformers BertLayer: self-attention, output dense + LayerNorm(x + .), FFN."""

    def __init__(self, hidden=64, heads=4, ffn=128, eps=1e-12):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, ffn)
        self.output = nn.Linear(ffn, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x):
        b, t, d = x.shape
        q = self.query(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.key(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.value(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        context = _attention_eager(q, k, v, self.head_dim)
        context = context.permute(0, 2, 1, 3).contiguous().view(b, t, d)
        h = self.attention_norm(self.attention_output(context) + x)
        return self.output_norm(self.output(F.gelu(self.intermediate(h))) + h)


class GPT2Layer(nn.Module):
    """transformers GPT2Block: pre-norm, fused c_attn, causal attention, tanh-GELU MLP."""

    def __init__(self, hidden=64, heads=4, ffn=256, eps=1e-5):
        super().__init__()
        self.hidden, self.heads, self.head_dim = hidden, heads, hidden // heads
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.c_attn = nn.Linear(hidden, 3 * hidden)
        self.c_proj = nn.Linear(hidden, hidden)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.c_fc = nn.Linear(hidden, ffn)
        self.mlp_proj = nn.Linear(ffn, hidden)

    def forward(self, x, past_k=None, past_v=None):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(self.hidden, dim=2)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=past_k is None)
        a = a.transpose(1, 2).contiguous().view(b, t, d)
        x = x + self.c_proj(a)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, k, v


def rotate_half(x):
    """transformers' rotate_half: cat(-x2, x1) over the last dimension."""
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaLayer(nn.Module):
    """transformers LlamaDecoderLayer: RMSNorm, RoPE, GQA attention, SwiGLU, no biases."""

    def __init__(self, hidden=64, heads=4, kv_heads=2, ffn=96, eps=1e-5, window=None):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.window = window
        e = self.head_dim
        self.input_layernorm = nn.RMSNorm(hidden, eps=eps)
        self.q_proj = nn.Linear(hidden, heads * e, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * e, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * e, bias=False)
        self.o_proj = nn.Linear(heads * e, hidden, bias=False)
        self.post_attention_layernorm = nn.RMSNorm(hidden, eps=eps)
        self.gate_proj = nn.Linear(hidden, ffn, bias=False)
        self.up_proj = nn.Linear(hidden, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x, cos, sin, past_k=None, past_v=None, mask=None):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # [B, 1, T, E]: every head
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           is_causal=past_k is None and mask is None,
                                           enable_gqa=True)
        a = a.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        x = x + self.o_proj(a)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h)), k, v


class ViTLayer(nn.Module):
    """transformers ViTLayer: LayerNorm before attention and MLP, eager attention."""

    def __init__(self, hidden=64, heads=4, ffn=128, eps=1e-12):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.layernorm_before = nn.LayerNorm(hidden, eps=eps)
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attention_output = nn.Linear(hidden, hidden)
        self.layernorm_after = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, ffn)
        self.output = nn.Linear(ffn, hidden)

    def forward(self, x):
        b, t, d = x.shape
        h = self.layernorm_before(x)
        q = self.query(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.key(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.value(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        context = _attention_eager(q, k, v, self.head_dim).transpose(1, 2).reshape(b, t, d)
        x = self.attention_output(context) + x
        return self.output(F.gelu(self.intermediate(self.layernorm_after(x)))) + x


LAYERS = {"bert": BertLayer, "gpt2": GPT2Layer, "llama": LlamaLayer, "vit": ViTLayer}


def make_layers(family: str, count: int = 2, seed: int = 0, **kwargs) -> list[nn.Module]:
    """``count`` layers of ``family`` with random float64 weights (biases and norm gains
    randomized too, so that every parameter matters)."""
    torch.manual_seed(seed)
    layers = []
    for _ in range(count):
        layer = LAYERS[family](**kwargs).double().eval()
        with torch.no_grad():
            for name, p in layer.named_parameters():
                gain = p.dim() == 1 and name.endswith("weight")
                p.copy_((1.0 if gain else 0.0) + 0.2 * torch.randn_like(p))
        layers.append(layer)
    return layers


def rope_tables(positions, head_dim: int, theta: float = 10000.0):
    """transformers LlamaRotaryEmbedding: cos/sin [B, T, E] of cat(freqs, freqs) for
    positions [B, T]."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    freqs = torch.as_tensor(positions, dtype=torch.float64)[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


# ----------------------------------------------------------------------------- weights

def _np(t) -> np.ndarray:
    return t.detach().numpy()


def _linear(layer: nn.Linear, out_shape: tuple) -> np.ndarray:
    """A Linear's weight [out, in] as the cascade's [in, *out]."""
    return _np(layer.weight).T.reshape(layer.in_features, *out_shape)


def layer_inputs(family: str, layer: nn.Module) -> dict[str, np.ndarray]:
    """The layer cascade's weights (names of accelsim.lower.layer) from a test module."""
    if family == "llama":
        kh, e = layer.kv_heads, layer.head_dim
        g = layer.heads // kh
        return {"N1_W": _np(layer.input_layernorm.weight),
                "N2_W": _np(layer.post_attention_layernorm.weight),
                "WQ": _linear(layer.q_proj, (kh, g, e)), "WK": _linear(layer.k_proj, (kh, e)),
                "WV": _linear(layer.v_proj, (kh, e)),
                "WO": _np(layer.o_proj.weight).T.reshape(kh, g, e, -1),
                "WG": _linear(layer.gate_proj, (-1,)), "WU": _linear(layer.up_proj, (-1,)),
                "WD": _linear(layer.down_proj, (-1,))}
    h, e = layer.heads, layer.head_dim
    if family == "gpt2":
        d = layer.hidden
        w, bias = _np(layer.c_attn.weight), _np(layer.c_attn.bias)
        qkv = {"Q": slice(0, d), "K": slice(d, 2 * d), "V": slice(2 * d, 3 * d)}
        found = {f"W{n}": w[s].T.reshape(d, h, 1, e) if n == "Q" else w[s].T.reshape(d, h, e)
                 for n, s in qkv.items()}
        found.update({f"B{n}": bias[s].reshape(h, 1, e) if n == "Q" else bias[s].reshape(h, e)
                      for n, s in qkv.items()})
        norms = {"N1": layer.ln_1, "N2": layer.ln_2}
        out, ffn_in, ffn_out = layer.c_proj, layer.c_fc, layer.mlp_proj
    else:
        found = {"WQ": _linear(layer.query, (h, 1, e)), "BQ": _np(layer.query.bias).reshape(h, 1, e),
                 "WK": _linear(layer.key, (h, e)), "BK": _np(layer.key.bias).reshape(h, e),
                 "WV": _linear(layer.value, (h, e)), "BV": _np(layer.value.bias).reshape(h, e)}
        norms = ({"N1": layer.attention_norm, "N2": layer.output_norm} if family == "bert"
                 else {"N1": layer.layernorm_before, "N2": layer.layernorm_after})
        out, ffn_in, ffn_out = layer.attention_output, layer.intermediate, layer.output
    for prefix, module in norms.items():
        found[f"{prefix}_W"], found[f"{prefix}_B"] = _np(module.weight), _np(module.bias)
    found.update({"WO": _np(out.weight).T.reshape(h, 1, e, -1), "BO": _np(out.bias),
                  "W1": _linear(ffn_in, (-1,)), "B1": _np(ffn_in.bias),
                  "W2": _linear(ffn_out, (-1,)), "B2": _np(ffn_out.bias)})
    return found


def keys_as_cascade(k: torch.Tensor, rope: bool) -> np.ndarray:
    """Keys [B, KH, L, E] as the cascade's [B, L, KH, E] (or [B, L, KH, 2, E/2] after RoPE)."""
    a = _np(k).transpose(0, 2, 1, 3)
    return a.reshape(*a.shape[:3], 2, -1) if rope else a


# ----------------------------------------------------------------------------- other shapes

class GenericLayer(nn.Module):
    """A layer of any ModelShape without rotary embedding: the norm, its placement, biases
    and FFN activation (gelu, relu, swiglu, geglu) chosen by the shape (T5 and
    Transformer-XL style layers, for example)."""

    def __init__(self, shape: ModelShape, eps: float):
        super().__init__()
        d, self.heads = shape.hidden, shape.heads
        self.head_dim, self.shape = d // shape.heads, shape
        norm = (lambda: nn.RMSNorm(d, eps=eps)) if shape.norm == "rmsnorm" \
            else (lambda: nn.LayerNorm(d, eps=eps))
        self.norm1, self.norm2 = norm(), norm()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=shape.bias) for _ in range(4))
        gated = shape.ffn_activation in ("swiglu", "geglu")
        self.up = nn.Linear(d, shape.ffn, bias=shape.bias)
        self.gate = nn.Linear(d, shape.ffn, bias=shape.bias) if gated else None
        self.down = nn.Linear(shape.ffn, d, bias=shape.bias)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
                   for p in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=self.shape.causal)
        return self.o(a.transpose(1, 2).reshape(b, t, d))

    def feed_forward(self, x):
        act = {"relu": F.relu, "gelu": F.gelu, "swiglu": F.silu, "geglu": F.gelu}[
            self.shape.ffn_activation]
        inner = act(self.gate(x)) * self.up(x) if self.gate is not None else act(self.up(x))
        return self.down(inner)

    def forward(self, x):
        if self.shape.norm_position == "pre":
            x = x + self.attention(self.norm1(x))
            return x + self.feed_forward(self.norm2(x))
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.feed_forward(x))


def generic_inputs(layer: GenericLayer) -> dict[str, np.ndarray]:
    """The layer cascade's weights from a GenericLayer."""
    h, e = layer.heads, layer.head_dim
    found = {"WQ": _linear(layer.q, (h, 1, e)), "WK": _linear(layer.k, (h, e)),
             "WV": _linear(layer.v, (h, e)), "WO": _np(layer.o.weight).T.reshape(h, 1, e, -1)}
    gated = layer.gate is not None
    names = {"up": "WU" if gated else "W1", "gate": "WG", "down": "WD" if gated else "W2"}
    for attr, name in names.items():
        if getattr(layer, attr) is not None:
            found[name] = _linear(getattr(layer, attr), (-1,))
    for prefix, norm in (("N1", layer.norm1), ("N2", layer.norm2)):
        found[f"{prefix}_W"] = _np(norm.weight)
        if getattr(norm, "bias", None) is not None:
            found[f"{prefix}_B"] = _np(norm.bias)
    if layer.shape.bias:
        found.update({"BQ": _np(layer.q.bias).reshape(h, 1, e),
                      "BK": _np(layer.k.bias).reshape(h, e),
                      "BV": _np(layer.v.bias).reshape(h, e), "BO": _np(layer.o.bias)})
        biases = {"up": "BU" if gated else "B1", "gate": "BG", "down": "BD" if gated else "B2"}
        for attr, name in biases.items():
            if getattr(layer, attr) is not None:
                found[name] = _np(getattr(layer, attr).bias)
    return found
