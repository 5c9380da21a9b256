"""The lowered cascades reproduce faithful PyTorch layers (tests/lower/lower_reference.py).

Each check runs two layers of a family at hidden size 64 in float64, then the lowered
cascade with the float64 interpreter on the same weights, and compares within float64
round-off: at most 1e-9 of the largest output magnitude.  FLOPs are compared with
``torch.utils.flop_counter.FlopCounterMode`` (with scaled_dot_product_attention on its math
backend: FlopCounterMode does not count the CPU flash-attention kernel).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lower_reference import (SHAPES, keys_as_cascade, layer_inputs, make_layers,  # noqa: E402
                             rope_tables, workload)

from accelsim.lower import lower  # noqa: E402

VARIANTS = ("3pass", "2pass", "1pass", "flash2", "splitkv")
TOLERANCE = 1e-9


def assert_close(actual, expected) -> None:
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE,
                               atol=TOLERANCE * max(1.0, np.abs(expected).max()))


def at(x, start: int = 0) -> np.ndarray:
    """Positions [B, T] of the tokens of ``x`` [B, T, D], from ``start``."""
    return np.broadcast_to(np.arange(start, start + x.shape[1]), x.shape[:2]).copy()


def torch_stack(family, layers, x, positions=None, past=None, mask=None):
    """Run the module layers; returns the output and each layer's full keys and values."""
    positions = at(x) if positions is None else positions
    cos, sin = rope_tables(positions, layers[0].head_dim) if family == "llama" else (None, None)
    keys, values = [], []
    for k, layer in enumerate(layers):
        cache = past[k] if past else (None, None)
        if family == "llama":
            x, key, value = layer(x, cos, sin, *cache, mask=mask)
        elif family == "gpt2":
            x, key, value = layer(x, *cache)
        else:
            x, key, value = layer(x), None, None
        keys.append(key)
        values.append(value)
    return x.detach(), keys, values


def shared_inputs(family, x, positions=None) -> dict:
    positions = at(x) if positions is None else positions
    inputs = {"X": x.numpy()}
    if family == "llama":
        cos, sin = rope_tables(positions, 16)
        inputs.update(COS=cos.numpy(), SIN=sin.numpy())
    return inputs


@pytest.mark.parametrize("family", sorted(SHAPES))
@pytest.mark.parametrize("batch,seq_len", [(1, 1), (2, 7), (3, 12)])
def test_prefill_matches_module(family, batch, seq_len):
    torch.manual_seed(batch * 100 + seq_len)
    layers = make_layers(family)
    x = torch.randn(batch, seq_len, 64, dtype=torch.float64)
    expected, keys, values = torch_stack(family, layers, x)
    lowered = lower(workload(family, **SHAPES[family]), "prefill", batch=batch,
                    seq_len=None if family == "vit" else seq_len, dtype="fp32")
    out = lowered.run(shared_inputs(family, x),
                      [layer_inputs(family, layer) for layer in layers])
    assert_close(out["Y"], expected)
    if family in ("gpt2", "llama"):  # decoders write their keys and values to the cache
        for k, result in enumerate(out["layers"]):
            assert_close(result["KNEW"], keys_as_cascade(keys[k], family == "llama"))
            assert_close(result["VNEW"], keys_as_cascade(values[k], False))


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_matches_in_prefill_and_decode(family, variant):
    """Blocks of 3 keys over 7 (prefill) and 8 (decode) keys: padded last blocks included."""
    torch.manual_seed(7)
    layers = make_layers(family, seed=1)
    batch, prompt = 2, 7
    x = torch.randn(batch, prompt, 64, dtype=torch.float64)
    _, keys, values = torch_stack(family, layers, x)
    new = torch.randn(batch, 1, 64, dtype=torch.float64)
    expected, _, _ = torch_stack(family, layers, new, at(new, prompt),
                                 past=list(zip(keys, values)))
    shape = workload(family, **SHAPES[family])
    prefill = lower(shape, "prefill", batch=batch, seq_len=prompt, attention=variant, block=3)
    weights = [layer_inputs(family, layer) for layer in layers]
    out = prefill.run(shared_inputs(family, x), weights)
    assert_close(out["layers"][-1]["KNEW"], keys_as_cascade(keys[-1], family == "llama"))
    decode = lower(shape, "decode", batch=batch, kv_len=prompt, attention=variant, block=3)
    caches = [{"KC": keys_as_cascade(k, family == "llama"), "VC": keys_as_cascade(v, False)}
              for k, v in zip(keys, values)]
    out = decode.run(shared_inputs(family, new, at(new, prompt)),
                     [{**w, **c} for w, c in zip(weights, caches)])
    assert_close(out["Y"], expected)


def test_decode_with_a_sliding_window_reads_the_last_keys_only():
    """Mistral-style window W = 4: the module masks keys with i - j >= W; the lowered decode
    step reads a cache of the last W - 1 keys."""
    torch.manual_seed(3)
    window, prompt, batch = 4, 9, 2
    layers = make_layers("llama", seed=2)
    x = torch.randn(batch, prompt, 64, dtype=torch.float64)
    i = torch.arange(prompt)
    keep = (i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] < window)
    mask = torch.zeros(prompt, prompt, dtype=torch.float64).masked_fill(~keep, float("-inf"))
    expected, keys, values = torch_stack("llama", layers, x, mask=mask)
    shape = workload("mistral", **{**SHAPES["llama"], "sliding_window": window})
    weights = [layer_inputs("llama", layer) for layer in layers]
    for variant in ("3pass", "1pass"):
        prefill = lower(shape, "prefill", batch=batch, seq_len=prompt, attention=variant,
                        block=2)
        assert_close(prefill.run(shared_inputs("llama", x), weights)["Y"], expected)
    new = torch.randn(batch, 1, 64, dtype=torch.float64)
    recent = [(k[:, :, -(window - 1):], v[:, :, -(window - 1):]) for k, v in zip(keys, values)]
    expected, _, _ = torch_stack("llama", layers, new, at(new, prompt), past=recent)
    decode = lower(shape, "decode", batch=batch, kv_len=prompt)
    assert decode.layer.sizes()["L"] == window - 1
    caches = [{"KC": keys_as_cascade(k, True), "VC": keys_as_cascade(v, False)}
              for k, v in recent]
    out = decode.run(shared_inputs("llama", new, at(new, prompt)),
                     [{**w, **c} for w, c in zip(weights, caches)])
    assert_close(out["Y"], expected)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_variable_length_batch_without_and_with_padding(family):
    lengths = [5, 3, 5, 2]
    torch.manual_seed(11)
    layers = make_layers(family, seed=3)
    weights = [layer_inputs(family, layer) for layer in layers]
    sequences = [torch.randn(1, n, 64, dtype=torch.float64) for n in lengths]
    expected = [torch_stack(family, layers, s)[0][0] for s in sequences]
    shape = workload(family, **SHAPES[family])
    grouped = lower(shape, "prefill", seq_len=lengths)
    assert [grouped.layer.sizes()[f"T_{k}"] for k in range(3)] == [5, 3, 2]
    inputs = {}
    for k, n in enumerate([5, 3, 2]):
        members = [s for s in sequences if s.shape[1] == n]
        inputs.update({f"{name}_{k}": v for name, v in shared_inputs(
            family, torch.cat(members)).items()})
    out = grouped.run(inputs, weights)
    assert_close(out["Y_0"][1], expected[2])
    assert_close(out["Y_1"][0], expected[1])
    padded = lower(shape, "prefill", seq_len=lengths, padded=True, attention="flash2", block=2)
    x = torch.zeros(len(lengths), 5, 64, dtype=torch.float64)
    mask = np.full((len(lengths), 5), -np.inf)
    for b, s in enumerate(sequences):
        x[b, :lengths[b]] = s[0]
        mask[b, :lengths[b]] = 0.0
    out = padded.run({**shared_inputs(family, x), "MASK": mask}, weights)
    for b, n in enumerate(lengths):
        assert_close(out["Y"][b, :n], expected[b])
    assert padded.flops() > grouped.flops()


def test_padded_decode_with_unequal_cache_lengths():
    """Two sequences with 6 and 4 cached keys, each new token at its own position."""
    torch.manual_seed(5)
    layers = make_layers("llama", seed=4)
    weights = [layer_inputs("llama", layer) for layer in layers]
    lengths, news, caches, expected = [6, 4], [], [], []
    for n in lengths:
        _, keys, values = torch_stack("llama", layers, torch.randn(1, n, 64, dtype=torch.float64))
        new = torch.randn(1, 1, 64, dtype=torch.float64)
        expected.append(torch_stack("llama", layers, new, at(new, n),
                                    past=list(zip(keys, values)))[0][0])
        news.append(new)
        caches.append((keys, values))
    decode = lower(workload("llama", **SHAPES["llama"]), "decode", kv_len=lengths, padded=True)
    per_layer = []
    for k, w in enumerate(weights):
        kc, vc = np.zeros((2, 6, 2, 2, 8)), np.zeros((2, 6, 2, 16))
        for b, (keys, values) in enumerate(caches):
            kc[b, :lengths[b]] = keys_as_cascade(keys[k], True)[0]
            vc[b, :lengths[b]] = keys_as_cascade(values[k], False)[0]
        per_layer.append({**w, "KC": kc, "VC": vc})
    mask = np.zeros((2, 7))
    mask[1, 5:] = -np.inf  # cache entry l is key m = l + 1: entries 4 and 5 of sequence 1 unused
    x = torch.cat(news)
    out = decode.run({**shared_inputs("llama", x, np.array([[6], [4]])), "MASK": mask},
                     per_layer)
    for b in range(2):
        assert_close(out["Y"][b], expected[b])


def test_gpt2_embeddings_and_tied_lm_head():
    torch.manual_seed(9)
    layers = make_layers("gpt2", seed=5)
    wte = torch.randn(100, 64, dtype=torch.float64)
    wpe = torch.randn(32, 64, dtype=torch.float64)
    ln_f = torch.nn.LayerNorm(64, eps=1e-5).double()
    ids = torch.randint(0, 100, (2, 6))
    hidden, _, _ = torch_stack("gpt2", layers, wte[ids] + wpe[:6])
    logits = ln_f(hidden) @ wte.T
    lowered = lower(workload("gpt2", **SHAPES["gpt2"]), "prefill", batch=2, seq_len=6,
                    embeddings=True, lm_head=True)
    out = lowered.run({"TOK": wte[ids].numpy(), "POS": wpe[:6].numpy()},
                      [layer_inputs("gpt2", layer) for layer in layers],
                      post_inputs={"FN_W": ln_f.weight.detach().numpy(),
                                   "FN_B": ln_f.bias.detach().numpy(), "WLM": wte.T.numpy()})
    assert_close(out["LOGITS"], logits.detach())
    assert lowered.roles["WLM"] == "weight" and lowered.roles["LOGITS"] == "output"


def test_vit_patch_embedding_and_class_token():
    torch.manual_seed(13)
    layers = make_layers("vit", seed=6)
    conv = torch.nn.Conv2d(3, 64, kernel_size=4, stride=4).double()
    cls = torch.randn(64, dtype=torch.float64)
    pos = torch.randn(17, 64, dtype=torch.float64)
    image = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    patches = conv(image).flatten(2).transpose(1, 2)
    tokens = torch.cat([cls.expand(2, 1, 64), patches], dim=1) + pos
    expected, _, _ = torch_stack("vit", layers, tokens)
    lowered = lower(workload("vit", **SHAPES["vit"]), "prefill", batch=2, embeddings=True)
    unfolded = image.unfold(2, 4, 4).unfold(3, 4, 4)  # [b, c, ny, nx, py, px]
    pixels = unfolded.permute(0, 2, 3, 1, 4, 5).reshape(2, 16, 48)
    out = lowered.run({"PATCH": pixels.numpy(), "POS": pos.numpy()},
                      [layer_inputs("vit", layer) for layer in layers],
                      pre_inputs={"WPATCH": conv.weight.detach().reshape(64, 48).T.numpy(),
                                  "BPATCH": conv.bias.detach().numpy(), "CLS": cls.numpy()})
    assert_close(out["Y"], expected)


@pytest.mark.parametrize("model", [
    dict(family="t5", norm="rmsnorm", norm_position="pre", ffn_activation="relu", bias=False,
         causal=False, position="relative"),
    dict(family="transformer-xl", norm="layernorm", norm_position="post",
         ffn_activation="relu", causal=True, position="relative"),
    dict(family="generic", norm="rmsnorm", norm_position="pre", ffn_activation="geglu",
         causal=True, position="none"),
    dict(family="generic", norm="layernorm", norm_position="post", ffn_activation="swiglu",
         causal=False, position="none"),
])
def test_other_norms_placements_and_activations(model):
    """T5-, Transformer-XL-style and gated layers (relative position biases are not
    modelled: the reference layer has none either)."""
    from lower_reference import GenericLayer, generic_inputs

    from accelsim.lower.phases import NORM_EPS
    from accelsim.spec.workload import ModelShape

    shape = ModelShape(layers=1, hidden=64, heads=4, ffn=96, **model)
    torch.manual_seed(21)
    layer = GenericLayer(shape, NORM_EPS.get(shape.family, 1e-5)).double().eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 6, 64, dtype=torch.float64)
    lowered = lower(workload(shape.family, layers=1, **model, hidden=64, heads=4, ffn=96),
                    "prefill", batch=2, seq_len=6, attention="2pass")
    out = lowered.run({"X": x.numpy()}, [generic_inputs(layer)])
    assert_close(out["Y"], layer(x).detach())
