"""Work of lowered cascades: FLOPs against FlopCounterMode and hand formulas, parameters,
KV-cache bytes, element types per role, generation summaries and lowering speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accelsim.lower import (generate_summary, kv_cache_bytes_per_token, lower,
                            parameter_count)

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"


# ----------------------------------------------------------------------------- FLOPs

def module_flops(family, layers, x, decode=False):
    """FlopCounterMode's count for the module stack (prefill, or one decode step)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from lower_reference import rope_tables

    b, t, _ = x.shape
    past, prompt = None, 5
    if decode:
        e, kh = layers[0].head_dim, getattr(layers[0], "kv_heads", layers[0].heads)
        past = (torch.randn(b, kh, prompt, e, dtype=torch.float64),) * 2
    positions = [[prompt if decode else i for i in range(t)]] * b
    cos, sin = rope_tables(positions, layers[0].head_dim)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        for layer in layers:
            if family == "llama":
                x = layer(x, cos, sin, *(past or ()))[0]
            elif family == "gpt2":
                x = layer(x, *(past or ()))[0]
            else:
                x = layer(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "vit"])
@pytest.mark.parametrize("batch,seq_len", [(1, 3), (2, 17)])
def test_prefill_flops_equal_flop_counter(family, batch, seq_len):
    torch = pytest.importorskip("torch")
    from lower_reference import SHAPES, make_layers, workload

    x = torch.randn(batch, seq_len, 64, dtype=torch.float64)
    expected = module_flops(family, make_layers(family), x)
    shape = dict(SHAPES[family], image_size=None, patch_size=None, channels=None) \
        if family == "vit" else SHAPES[family]
    for variant in ("3pass", "2pass"):
        lowered = lower(workload(family, **shape), "prefill", batch=batch, seq_len=seq_len,
                        attention=variant)
        assert lowered.flops() == expected


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_decode_flops_equal_flop_counter(family):
    torch = pytest.importorskip("torch")
    from lower_reference import SHAPES, make_layers, workload

    x = torch.randn(3, 1, 64, dtype=torch.float64)
    expected = module_flops(family, make_layers(family), x, decode=True)
    for variant, block in (("3pass", None), ("1pass", 3), ("flash2", 2), ("splitkv", 6)):
        lowered = lower(workload(family, **SHAPES[family]), "decode", batch=3, kv_len=5,
                        attention=variant, block=block)
        assert lowered.flops() == expected, variant  # blocks divide the 6 keys


def test_llama3_decode_macs_by_hand():
    """Llama-3-8B decode step, batch 8, 4096 cached keys (M = 4097 with the new token):
    per token D*H*E + 2*D*KH*E (Q, K, V) + H*E*D (output) + 3*D*I (SwiGLU) weight MACs, and
    H*M*E (scores) + H*M*E (values) attention MACs; D=4096, H=32, KH=8, E=128, I=14336.
    The two RMSNorms add D MACs each (sums of squares), which are not matmul FLOPs."""
    d, h, kh, e, i, m, b = 4096, 32, 8, 128, 14336, 4097, 8
    per_token = d * h * e + 2 * d * kh * e + h * e * d + 3 * d * i + 2 * h * m * e
    lowered = lower(WORKLOADS / "llama-3-8b.yaml", "decode", batch=b, kv_len=4096)
    assert lowered.flops() == 2 * 32 * b * per_token
    assert lowered.op_counts().mac == 32 * b * (per_token + 2 * d)
    assert lowered.layers == 32 and len(lowered.layer.einsums) < 40


# ----------------------------------------------------------------------------- closed forms

@pytest.mark.parametrize("name,published", [
    ("bert-base", 110e6),    # Devlin et al. 2019, Section 3
    ("gpt2", 124e6),         # Hugging Face openai-community/gpt2 model card (124M)
    ("llama-2-7b", 6.74e9),  # Touvron et al. 2023, Llama 2, 6.74B (model card)
    ("llama-3-8b", 8.03e9),  # Meta Llama 3 model card (8.03B)
    ("mistral-7b", 7.24e9),  # Jiang et al. 2023, Mistral 7B (7.24B)
    ("vit-b-16", 86e6),      # Dosovitskiy et al. 2021, Table 1
])
def test_parameter_counts_match_published_sizes(name, published):
    assert abs(parameter_count(WORKLOADS / f"{name}.yaml") / published - 1) < 0.01


@pytest.mark.parametrize("name,dtype,expected", [
    ("llama-3-8b", "bf16", 2 * 32 * 8 * 128 * 2),     # GQA: 8 KV heads
    ("llama-2-7b", "fp16", 2 * 32 * 32 * 128 * 2),
    ("mistral-7b", "fp8", 2 * 32 * 8 * 128 * 1),
    ("gpt2", "fp32", 2 * 12 * 12 * 64 * 4),
])
def test_kv_cache_bytes_per_token(name, dtype, expected):
    assert kv_cache_bytes_per_token(WORKLOADS / f"{name}.yaml", dtype) == expected


def test_kv_cache_in_the_cascades_matches_the_closed_form():
    path = WORKLOADS / "llama-3-8b.yaml"
    prefill = lower(path, "prefill", batch=2, seq_len=10, dtype="fp16")
    written = sum(prefill.layer.compulsory_bytes()[n] for n in ("KNEW", "VNEW"))
    assert prefill.layers * written == 2 * 10 * kv_cache_bytes_per_token(path, "fp16")


# ----------------------------------------------------------------------------- roles, types

def test_roles_and_element_types_per_tensor_class():
    mixed = {"weights": "int8", "activations": "fp16", "kv": "fp8", "accum": "fp32"}
    lowered = lower(WORKLOADS / "llama-3-8b.yaml", "decode", batch=4, kv_len=100, dtype=mixed)
    roles, dtypes = lowered.roles, lowered.dtypes
    assert {roles[n] for n in ("WQ", "WK", "WD", "N1_W")} == {"weight"}
    assert {roles[n] for n in ("X", "KC", "VC", "COS")} == {"input"}
    assert {roles[n] for n in ("Y", "KNEW", "VNEW")} == {"output"}
    assert roles["AT_QK"] == "intermediate"
    assert dtypes["WQ"] == "int8" and dtypes["X"] == "fp16" and dtypes["Y"] == "fp16"
    assert dtypes["KC"] == dtypes["KNEW"] == dtypes["KF"] == "fp8"
    assert dtypes["AT_QK"] == dtypes["N1_SS"] == "fp32"  # results of sum reductions
    assert set(roles) == set(dtypes) == set(lowered.layer.tensors)
    assert lowered.sizes["L"] == 100 and lowered.sizes["M"] == 101
    assert lowered.layer.tensors["WQ"].dtype == "int8"


def test_bf16_accumulates_in_fp32():
    lowered = lower(WORKLOADS / "gpt2.yaml", "prefill", seq_len=8, dtype="bf16")
    assert lowered.dtypes["W1"] == "bf16" and lowered.dtypes["F1"] == "fp32"


# ----------------------------------------------------------------------------- generation

def test_generate_summary_sums_every_decode_step():
    """The closed-form sum equals lowering each decode step on its own (blocked splitkv: the
    number of chunks changes every 4 steps)."""
    path = WORKLOADS / "gpt2.yaml"
    summary = generate_summary(path, prompt_len=6, new_tokens=12, batch=2,
                               attention="splitkv", block=4)
    steps = [lower(path, "decode", batch=2, kv_len=6 + i, attention="splitkv", block=4)
             for i in range(11)]
    assert summary.cache_lengths == tuple(range(6, 17))
    assert summary.decode_ops == sum((s.op_counts() for s in steps), type(summary.ops)())
    assert summary.decode_bytes == pytest.approx(sum(s.compulsory_bytes() for s in steps))
    assert summary.prefill_ops == lower(path, "prefill", batch=2, seq_len=6,
                                        attention="splitkv", block=4).op_counts()
    assert summary.kv_cache_bytes == 2 * 17 * kv_cache_bytes_per_token(path, "bf16")


def test_generate_summary_with_a_sliding_window():
    path = WORKLOADS / "mistral-7b.yaml"
    summary = generate_summary(path, prompt_len=4090, new_tokens=20)
    assert summary.cache_lengths[:6] == (4090, 4091, 4092, 4093, 4094, 4095)
    assert set(summary.cache_lengths[6:]) == {4095}
    last = lower(path, "decode", kv_len=4200)
    assert summary.decode_ops.mac == 13 * last.op_counts().mac + sum(
        lower(path, "decode", kv_len=n).op_counts().mac for n in range(4090, 4096))


# ----------------------------------------------------------------------------- speed

@pytest.mark.parametrize("phase,options", [
    ("decode", dict(batch=8, kv_len=4096, attention="splitkv")),
    ("prefill", dict(seq_len=4096, attention="flash2")),
])
def test_llama3_lowers_in_well_under_a_second(phase, options):
    start = time.perf_counter()
    lowered = lower(WORKLOADS / "llama-3-8b.yaml", phase, embeddings=True, lm_head=True,
                    **options)
    lowered.flops()
    elapsed = time.perf_counter() - start
    print(f"llama-3-8b {phase} lowered and counted in {elapsed * 1000:.1f} ms")
    assert elapsed < 5.0


@pytest.mark.parametrize("path", sorted(WORKLOADS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_workload_lowers(path):
    from accelsim.spec import load_spec

    shape = load_spec(path, kind="workload").model
    vision = shape.image_size is not None
    prefill = lower(path, "prefill", batch=2, seq_len=None if vision else 64, embeddings=True,
                    lm_head=shape.vocab is not None)
    assert prefill.flops() > 0 and prefill.compulsory_bytes() > 0
    assert prefill.layers == shape.layers
    if shape.causal:
        decode = lower(path, "decode", batch=2, kv_len=100, attention="splitkv")
        assert 0 < decode.flops() < prefill.flops()
    assert parameter_count(path) > shape.layers * shape.hidden ** 2
