"""accelsim.lower.Request: a workload request whose defaults are applied once, when it is built.

Expected values come from the documented rules, not from running the code:

* attention: 3pass when fusing, else splitkv (decode) and flash2 (prefill);
* Request.for_workload: a prompt left out is 512 tokens, or for a ViT None (the lowering
  counts its patches plus the class token: DeiT-Ti at 224 px in 16 px patches is
  (224 / 16)^2 + 1 = 197 tokens, workloads/deit-tiny.yaml); decode reads the KV-cache length
  from --kv, else from the prompt length, and has no prompt; a prefill drops a KV-cache length;
* batch: one per length of a list, else 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.lower import DEFAULT_SEQ_LEN, Precision, Request, load_workload, lower, prompt_length

ROOT = Path(__file__).resolve().parents[2]
LLAMA = ROOT / "workloads" / "llama-3-8b.yaml"
DEIT = ROOT / "workloads" / "deit-tiny.yaml"
GEMM = ROOT / "einsum_cascades" / "gemm.yaml"


@pytest.mark.parametrize("fields, attention", [
    (dict(phase="prefill", seq_len=8), "3pass"),
    (dict(phase="decode", kv_len=8), "3pass"),
    (dict(phase="prefill", seq_len=8, fuse=False), "flash2"),
    (dict(phase="decode", kv_len=8, fuse=False), "splitkv"),
    (dict(phase="decode", kv_len=8, fuse=False, attention="1pass"), "1pass"),
    (dict(phase="prefill", seq_len=8, attention="2pass"), "2pass"),
])
def test_attention_default_is_one_policy(fields, attention):
    assert Request(**fields).attention == attention


@pytest.mark.parametrize("workload, options, seq_len, kv_len", [
    (LLAMA, dict(), 512, None),
    (LLAMA, dict(seq_len=128), 128, None),
    (LLAMA, dict(seq_len=128, kv_len=4096), 128, None),          # a prefill has no cache
    (LLAMA, dict(phase="decode"), None, 512),
    (LLAMA, dict(phase="decode", seq_len=1024), None, 1024),      # --kv defaults to --seq
    (LLAMA, dict(phase="decode", seq_len=1024, kv_len=4096), None, 4096),
    (DEIT, dict(), None, None),                                   # the lowering counts patches
    (DEIT, dict(seq_len=197), 197, None),
    (GEMM, dict(), 512, None),                                    # a cascade file: plain default
])
def test_for_workload_reads_lengths_as_the_command_line_does(workload, options, seq_len,
                                                             kv_len):
    request = Request.for_workload(workload, **options)
    assert (request.seq_len, request.kv_len) == (seq_len, kv_len)
    assert request.length == (kv_len if request.phase == "decode" else seq_len)
    assert request.batch == 1 and request.attention == "3pass"


def test_the_default_prompt_is_512_tokens():
    assert DEFAULT_SEQ_LEN == 512


def test_a_vit_prompt_is_its_patches_and_the_class_token():
    request = Request.for_workload(DEIT)
    assert prompt_length(load_workload(DEIT).model, request.seq_len) == 197
    assert lower(DEIT, request).sizes["T"] == 197


@pytest.mark.parametrize("fields, batch, length", [
    (dict(seq_len=[64, 128]), 2, (64, 128)),
    (dict(seq_len=(64, 128), batch=2), 2, (64, 128)),
    (dict(seq_len=64), 1, 64),
    (dict(seq_len=64, batch=4), 4, 64),
    (dict(phase="decode", kv_len=[100, 200, 300]), 3, (100, 200, 300)),
])
def test_batch_defaults_to_one_per_length(fields, batch, length):
    request = Request(**fields)
    assert (request.batch, request.length) == (batch, length)


def test_a_request_is_frozen_and_equal_by_value():
    request = Request(phase="decode", kv_len=[4, 5])
    assert request == Request(phase="decode", batch=2, kv_len=(4, 5), attention="3pass")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.batch = 3


def test_precision_follows_the_dtype_rules():
    """int8 weights alone: activations and KV cache follow the weights, sums in int32
    (accelsim.lower.precision)."""
    assert Request(seq_len=8, dtype={"weights": "int8"}).precision == Precision(
        "int8", "int8", "int8", "int32")
    assert Request(seq_len=8).precision == Precision("bf16", "bf16", "bf16", "fp32")
    # the command line's form: kv given, accumulators follow the activations (fp16 -> fp32)
    assert Request(seq_len=8, dtype="weights=int4, activations=fp16,kv=fp8").precision == \
        Precision("int4", "fp16", "fp8", "fp32")


def test_the_command_line_takes_a_type_per_class(run_cli, tmp_path):
    """Weights in int4 and a cache in fp8 hold a quarter and a half of their bf16 bytes."""
    import json

    hardware = str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml")
    args = ("evaluate", hardware, str(LLAMA), "--phase", "decode", "--kv", "64", "--budget",
            "10", "--quiet")
    code, _, err = run_cli(*args, "--json", str(tmp_path / "b.json"))
    assert code == 0, err
    code, _, err = run_cli(*args, "--dtype", "weights=int4,kv=fp8,activations=bf16",
                           "--json", str(tmp_path / "q.json"))
    assert code == 0, err
    plain, narrow = (json.loads((tmp_path / f"{n}.json").read_text())["workload"]
                     for n in "bq")
    assert narrow["weights_bytes"] == plain["weights_bytes"] / 4
    assert narrow["kv_cache_bytes"] == plain["kv_cache_bytes"] / 2
    code, out, err = run_cli(*args, "--dtype", "weights=int4,kv")
    assert code == 2 and "'kv' in 'weights=int4,kv' is not CLASS=TYPE" in err


@pytest.mark.parametrize("fields, message", [
    (dict(phase="generate"), "unknown phase 'generate'; expected one of prefill, decode"),
    (dict(seq_len=8, batch=0), "batch must be >= 1, got 0"),
    (dict(seq_len=8, batch=-2), "batch must be >= 1, got -2"),
    (dict(seq_len=8, batch=2.5), "batch must be a whole number, got 2.5"),
    (dict(seq_len=[8, 9], batch=3), "batch 3 disagrees with 2 sequence lengths"),
    (dict(seq_len=0), "seq_len must be >= 1, got 0"),
    (dict(phase="decode", kv_len=[4, 0]), r"kv_len\[1\] must be >= 1, got 0"),
    (dict(seq_len=8, kv_len=4), "kv_len is for decode"),
    (dict(phase="decode", seq_len=8, kv_len=4), "seq_len must be 1 or left out"),
    (dict(seq_len=8, dtype="fp12"), "dtype: unknown element type 'fp12'"),
    (dict(seq_len=8, dtype={"kv": "fp12", "weights": "bf16"}), "dtype.kv: unknown element"),
    (dict(seq_len=8, attention="flash3"), "unknown attention variant 'flash3'; expected one "
                                          "of 3pass, 2pass, 1pass, fusemax, flash2, splitkv"),
    (dict(seq_len=8, fuse="yes"), "fuse must be true or false, got 'yes'"),
    (dict(seq_len=8, lm_head=1), "lm_head must be true or false, got 1"),
])
def test_bad_values_are_spec_errors_naming_the_field(fields, message):
    with pytest.raises(SpecError, match=message):
        Request(**fields)


def test_lower_takes_a_request_or_its_fields():
    request = Request(phase="decode", batch=2, kv_len=64, fuse=False)
    by_request = lower(LLAMA, request)
    by_fields = lower(LLAMA, "decode", batch=2, kv_len=64, attention="splitkv")
    assert by_request.op_counts() == by_fields.op_counts()
    assert by_request.layer.name == by_fields.layer.name == "llama-3-8b-layer-decode"
    with pytest.raises(TypeError, match="not both"):
        lower(LLAMA, request, batch=4)


def test_the_command_line_reports_a_bad_request_in_one_line(run_cli):
    code, out, err = run_cli("evaluate", str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"),
                             str(LLAMA), "--attention", "flash3")
    assert code == 2
    assert err.strip() == ("error: unknown attention variant 'flash3'; expected one of 3pass, "
                           "2pass, 1pass, fusemax, flash2, splitkv")
    assert "Traceback" not in out + err
