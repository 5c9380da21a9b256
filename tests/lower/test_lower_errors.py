"""Bad input to the lowering is a clear LoweringError or SpecError, never another exception.

A value that is wrong on its own (a request's phase, batch, lengths, element types or
attention variant; a block size) is a SpecError from accelsim.lower.Request; one that does not
fit the workload (a prompt a ViT disagrees with, decode on an encoder) is a LoweringError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.errors import AccelsimError, LoweringError, SpecError
from accelsim.lower import ATTENTION_VARIANTS, generate_summary, lower, parameter_count
from accelsim.spec.workload import ModelShape, WorkloadSpec

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"
LLAMA = WORKLOADS / "llama-3-8b.yaml"
SMALL = dict(family="llama", layers=2, hidden=64, heads=4, kv_heads=2, ffn=96, norm="rmsnorm",
             position="rope", vocab=100, bias=False, ffn_activation="swiglu")


def spec(**model) -> dict:
    return {"kind": "workload", "version": 1, "name": "bad", "source": "test",
            "model": {**SMALL, **model}}


@pytest.mark.parametrize("model,message", [
    (dict(hidden=65), "not divisible by heads"),
    (dict(kv_heads=3), "must divide heads"),
])
def test_inconsistent_shapes(model, message, tmp_path):
    with pytest.raises(SpecError, match=message):
        lower(spec(**model), "prefill", seq_len=4)
    with pytest.raises(LoweringError, match=message):  # a shape built without validation
        lower(ModelShape.model_construct(**{**ModelShape(**SMALL).__dict__, **model}),
              "prefill", seq_len=4)
    path = tmp_path / "bad.yaml"
    path.write_text(f"kind: workload\nversion: 1\nname: bad\nsource: test\nmodel:\n" + "".join(
        f"  {k}: {v}\n" for k, v in {**SMALL, **model}.items()))
    with pytest.raises(SpecError, match=message):
        lower(path, "prefill", seq_len=4)


def test_unknown_attention_variant_lists_the_valid_ones():
    with pytest.raises(SpecError) as caught:
        lower(LLAMA, "prefill", seq_len=16, attention="flash3")
    for name in ATTENTION_VARIANTS:
        assert name in str(caught.value)


@pytest.mark.parametrize("phase,options,message", [
    ("prefill", dict(seq_len=-1), "seq_len must be >= 1"),
    ("prefill", dict(seq_len=0), "seq_len must be >= 1"),
    ("prefill", dict(seq_len=[4, -2]), r"seq_len\[1\] must be >= 1"),
    ("prefill", dict(seq_len=[]), "empty"),
    ("prefill", dict(seq_len=2.5), "whole number"),
    ("prefill", dict(seq_len=True), "whole number"),
    ("prefill", dict(seq_len=8, batch=0), "batch must be >= 1"),
    ("prefill", dict(seq_len=[3, 4], batch=3), "disagrees"),
    ("prefill", dict(seq_len=8, kv_len=4), "kv_len is for decode"),
    ("decode", dict(kv_len=-5), "kv_len must be >= 1"),
    ("decode", dict(kv_len=8, seq_len=4), "one token"),
    ("generate", dict(), "unknown phase"),
    ("prefill", dict(seq_len=8, block=0), "block must be >= 1"),
    ("prefill", dict(seq_len=8, dtype="fp12"), "dtype: unknown element type 'fp12'"),
    ("prefill", dict(seq_len=8, dtype={"weight": "int8"}), "unknown tensor class 'weight'"),
    ("prefill", dict(seq_len=8, embeddings="yes"), "embeddings must be true or false"),
])
def test_bad_values(phase, options, message):
    with pytest.raises(SpecError, match=message):
        lower(LLAMA, phase, **options)


@pytest.mark.parametrize("phase,options,message", [
    ("prefill", dict(), "needs seq_len"),
    ("decode", dict(), "needs kv_len"),
    ("prefill", dict(seq_len=8, norm_eps=-1.0), "norm_eps"),
    ("prefill", dict(seq_len=8, gelu="swish"), "gelu must be"),
])
def test_values_the_workload_or_lowering_refuses(phase, options, message):
    with pytest.raises(LoweringError, match=message):
        lower(LLAMA, phase, **options)


def test_phase_and_family_mismatches():
    with pytest.raises(LoweringError, match="encoder"):
        lower(WORKLOADS / "bert-base.yaml", "decode", kv_len=8)
    with pytest.raises(LoweringError, match="no vocabulary"):
        lower(WORKLOADS / "vit-b-16.yaml", "prefill", lm_head=True)
    with pytest.raises(LoweringError, match="197 tokens"):
        lower(WORKLOADS / "vit-b-16.yaml", "prefill", seq_len=100)


def test_bad_workloads():
    with pytest.raises(SpecError):
        lower(WORKLOADS / "missing.yaml", "prefill", seq_len=4)
    with pytest.raises(SpecError):
        lower({"kind": "workload", "version": 1, "name": "x", "source": "y",
               "model": {**SMALL, "heads": 0}}, "prefill", seq_len=4)
    with pytest.raises(LoweringError, match="workload must be"):
        lower(42, "prefill", seq_len=4)
    with pytest.raises(LoweringError, match="new_tokens"):
        generate_summary(LLAMA, prompt_len=8, new_tokens=0)
    with pytest.raises(SpecError):
        parameter_count(WORKLOADS / "missing.yaml")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phase=st.sampled_from(["prefill", "decode", "x"]),
       batch=st.one_of(st.none(), st.integers(-2, 3), st.just(True)),
       seq_len=st.one_of(st.none(), st.integers(-3, 9), st.lists(st.integers(-1, 5),
                                                                   max_size=3)),
       kv_len=st.one_of(st.none(), st.integers(-3, 9), st.lists(st.integers(-1, 5),
                                                                  max_size=3)),
       padded=st.booleans(), attention=st.sampled_from([*ATTENTION_VARIANTS, "nope"]),
       block=st.one_of(st.none(), st.integers(-1, 5)))
def test_any_arguments_give_a_lowering_or_an_accelsim_error(phase, batch, seq_len, kv_len,
                                                            padded, attention, block):
    workload = WorkloadSpec(kind="workload", version=1, name="small", source="test",
                            model=ModelShape(**SMALL))
    try:
        lowered = lower(workload, phase, batch=batch, seq_len=seq_len, kv_len=kv_len,
                        padded=padded, attention=attention, block=block)
    except AccelsimError:
        return
    assert lowered.flops() > 0
