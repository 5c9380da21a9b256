"""Every shipped cascade, run by the numpy interpreter, equals a PyTorch float64 reference.

Tolerance: both sides compute in float64, so they agree to round-off; ``rtol=1e-10`` with a
tiny ``atol`` (outputs cross zero) is orders of magnitude above float64 round-off (~1e-16
per operation) and orders below any real formula error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
RTOL, ATOL = 1e-10, 1e-12


def close(got, want):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def qkv(rng, heads, queries, keys, e, f, kv_heads=None):
    kv_heads = kv_heads or heads
    return (rng.standard_normal((heads, queries, e)), rng.standard_normal((kv_heads, keys, e)),
            rng.standard_normal((kv_heads, keys, f)))


def sdpa(q, k, v, **kwargs):
    t = [torch.tensor(x) for x in (q, k, v)]
    return F.scaled_dot_product_attention(*t, **kwargs)


SHAPES = [(4, 128, 128, 64, 64), (2, 37, 53, 16, 24), (1, 1, 7, 8, 8)]


@pytest.mark.parametrize("name", ["attention_3pass", "attention_2pass"])
@pytest.mark.parametrize("shape", SHAPES)
def test_unblocked_attention_matches_sdpa(cascade, name, shape):
    q, k, v = qkv(np.random.default_rng(1), *shape)
    close(cascade(name).run({"Q": q, "K": k, "V": v})["AV"], sdpa(q, k, v))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("block", [32, 24, 1])  # 24 divides none of the key counts
def test_fusemax_1pass_matches_sdpa(cascade, shape, block):
    q, k, v = qkv(np.random.default_rng(2), *shape)
    out = cascade("attention_1pass").run({"Q": q, "K": k, "V": v}, M0=block)
    close(out["AV"], sdpa(q, k, v))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("blocks", [(32, 32), (48, 20), (7, 128)])  # (Br, Bc)
def test_flash_attention2_matches_sdpa_and_logsumexp(cascade, shape, blocks):
    heads, queries, keys, e, f = shape
    q, k, v = qkv(np.random.default_rng(3), *shape)
    out = cascade("flash_attention2").run({"Q": q, "K": k, "V": v}, P0=blocks[0], M0=blocks[1])
    close(out["O"].reshape(heads, -1, f)[:, :queries], sdpa(q, k, v))
    scores = torch.tensor(q) @ torch.tensor(k).transpose(-1, -2) / math.sqrt(e)
    close(out["LSE"].reshape(heads, -1)[:, :queries], torch.logsumexp(scores, dim=-1))


@pytest.mark.parametrize("shape", [(4, 128, 128, 64, 64), (2, 37, 53, 16, 24), (3, 9, 9, 4, 4)])
def test_causal_attention_matches_sdpa(cascade, shape):
    q, k, v = qkv(np.random.default_rng(4), *shape)
    close(cascade("attention_causal").run({"Q": q, "K": k, "V": v})["AV"],
          sdpa(q, k, v, is_causal=True))


@pytest.mark.parametrize("valid_keys", [128, 100, 1])
def test_padding_mask_matches_sdpa(cascade, valid_keys):
    q, k, v = qkv(np.random.default_rng(5), 4, 64, 128, 32, 32)
    mask = np.zeros((64, 128))
    mask[:, valid_keys:] = -np.inf
    out = cascade("attention_padding").run({"Q": q, "K": k, "V": v, "MASK": mask})["AV"]
    close(out, sdpa(q, k, v, attn_mask=torch.tensor(mask)))


@pytest.mark.parametrize("keys,chunk", [(1000, 128), (128, 128), (37, 5), (5, 64)])
@pytest.mark.parametrize("queries", [1, 3])
def test_split_kv_decode_matches_sdpa(cascade, keys, chunk, queries):
    q, k, v = qkv(np.random.default_rng(6), 4, queries, keys, 64, 32)
    out = cascade("attention_decode_splitkv").run({"Q": q, "K": k, "V": v}, C=chunk)
    close(out["AV"], sdpa(q, k, v))
    scores = torch.tensor(q) @ torch.tensor(k).transpose(-1, -2) / 8.0  # sqrt(64)
    close(out["LSE"], torch.logsumexp(scores, dim=-1))


@pytest.mark.parametrize("group", [1, 4, 8])
def test_grouped_query_attention_matches_sdpa(cascade, group):
    kv_heads = 2
    q, k, v = qkv(np.random.default_rng(7), kv_heads * group, 40, 56, 16, 16, kv_heads)
    out = cascade("attention_gqa").run({"Q": q, "K": k, "V": v})["AV"]
    assert out.shape == (kv_heads, group, 40, 16)
    close(out.reshape(kv_heads * group, 40, 16), sdpa(q, k, v, enable_gqa=True))


@pytest.mark.parametrize("shape", [(33, 70), (1, 1), (4, 512)])
def test_softmax_matches_torch(cascade, shape):
    x = np.random.default_rng(8).standard_normal(shape) * 10
    close(cascade("softmax").run({"X": x})["Y"], torch.softmax(torch.tensor(x), dim=-1))


@pytest.mark.parametrize("tokens,dim", [(16, 64), (5, 7)])
def test_layernorm_matches_torch(cascade, tokens, dim):
    rng = np.random.default_rng(9)
    x, g, b = rng.standard_normal((tokens, dim)), rng.standard_normal(dim), rng.standard_normal(dim)
    norm = torch.nn.LayerNorm(dim, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(g))
        norm.bias.copy_(torch.tensor(b))
    out = cascade("layernorm").run({"X": x, "GAMMA": g, "BETA": b})["Y"]
    close(out, norm(torch.tensor(x)))


@pytest.mark.parametrize("tokens,dim", [(16, 64), (5, 7)])
def test_rmsnorm_matches_torch(cascade, tokens, dim):
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((tokens, dim)), rng.standard_normal(dim)
    norm = torch.nn.RMSNorm(dim, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(w))
    close(cascade("rmsnorm").run({"X": x, "W": w})["Y"], norm(torch.tensor(x)))


@pytest.mark.parametrize("tokens,dim,hidden", [(12, 32, 80), (1, 3, 5)])
def test_gelu_ffn_matches_torch(cascade, tokens, dim, hidden):
    rng = np.random.default_rng(11)
    x, w1, b1, w2, b2 = (rng.standard_normal(s) for s in
                         ((tokens, dim), (dim, hidden), hidden, (hidden, dim), dim))
    t = [torch.tensor(a) for a in (x, w1, b1, w2, b2)]
    want = F.gelu(t[0] @ t[1] + t[2]) @ t[3] + t[4]
    out = cascade("ffn_gelu").run({"X": x, "W1": w1, "B1": b1, "W2": w2, "B2": b2})["Y"]
    close(out, want)


@pytest.mark.parametrize("tokens,dim,hidden", [(12, 32, 88), (1, 3, 5)])
def test_swiglu_ffn_matches_torch(cascade, tokens, dim, hidden):
    rng = np.random.default_rng(12)
    x, wg, wu, wd = (rng.standard_normal(s) for s in
                     ((tokens, dim), (dim, hidden), (dim, hidden), (hidden, dim)))
    t = [torch.tensor(a) for a in (x, wg, wu, wd)]
    want = (F.silu(t[0] @ t[1]) * (t[0] @ t[2])) @ t[3]
    close(cascade("ffn_swiglu").run({"X": x, "WG": wg, "WU": wu, "WD": wd})["Y"], want)


def rope_reference(x: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE written directly from RoFormer Section 3 (theta_j = 10000^(-2j/E))."""
    heads, positions, dim = x.shape
    theta = 10000.0 ** (-torch.arange(0, dim // 2, dtype=torch.float64) * 2 / dim)
    angle = torch.arange(positions, dtype=torch.float64)[:, None] * theta[None, :]
    cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)
    rotated = torch.cat([-x[..., dim // 2:], x[..., :dim // 2]], -1)
    return x * cos + rotated * sin


@pytest.mark.parametrize("shape", [(2, 50, 64), (1, 3, 2)])
def test_rope_matches_reference(cascade, shape):
    x = np.random.default_rng(13).standard_normal(shape)
    out = cascade("rope").run({"X": x})["Y"]
    close(out.reshape(shape), rope_reference(torch.tensor(x)))


def linear_attention_reference(q, k, v):
    """Causal linear attention as a literal recurrence: S_t = S_(t-1) + k_t^T v_t, o_t = q_t S_t."""
    q, k, v = (torch.tensor(a) for a in (q, k, v))
    heads, tokens, _ = q.shape
    state = torch.zeros(heads, k.shape[-1], v.shape[-1], dtype=torch.float64)
    out = torch.zeros(heads, tokens, v.shape[-1], dtype=torch.float64)
    for t in range(tokens):
        state = state + k[:, t, :, None] * v[:, t, None, :]
        out[:, t] = torch.einsum("he,hef->hf", q[:, t], state)
    return out


@pytest.mark.parametrize("tokens,chunk", [(64, 16), (100, 24), (5, 8), (7, 1)])
def test_chunkwise_linear_attention_matches_recurrence(cascade, tokens, chunk):
    rng = np.random.default_rng(14)
    q, k, v = (rng.standard_normal((3, tokens, d)) for d in (16, 16, 12))
    out = cascade("linear_attention_chunkwise").run({"Q": q, "K": k, "V": v}, C=chunk)["O"]
    close(out.reshape(3, -1, 12)[:, :tokens], linear_attention_reference(q, k, v))


def selective_scan_reference(x, dt, dtb, a, b, c):
    """Mamba Algorithm 2 as a literal loop over positions."""
    x, dt, dtb, a, b, c = (torch.tensor(t) for t in (x, dt, dtb, a, b, c))
    delta = F.softplus(dt + dtb[:, None])
    h = torch.zeros(a.shape, dtype=torch.float64)
    ys = []
    for t in range(x.shape[1]):
        h = torch.exp(delta[:, t, None] * a) * h + delta[:, t, None] * b[None, :, t] * x[:, t, None]
        ys.append(h @ c[:, t])
    return torch.stack(ys, dim=1)


@pytest.mark.parametrize("channels,state,length", [(24, 16, 128), (3, 2, 1)])
def test_mamba_selective_scan_matches_recurrence(cascade, channels, state, length):
    rng = np.random.default_rng(15)
    inputs = {"X": rng.standard_normal((channels, length)),
              "DT": rng.standard_normal((channels, length)),
              "DTB": rng.standard_normal(channels),
              "A": -np.exp(rng.standard_normal((channels, state))),
              "BS": rng.standard_normal((state, length)),
              "CS": rng.standard_normal((state, length))}
    out = cascade("mamba_selective_scan").run(inputs)["Y"]
    want = selective_scan_reference(*(inputs[n] for n in ("X", "DT", "DTB", "A", "BS", "CS")))
    close(out, want)
