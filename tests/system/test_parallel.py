"""Tensor and pipeline parallelism: a device's shard against the whole layer, the layer's
all-reduces, the pipeline's time and bubble, and refusals of impossible plans.

Expected values by hand from the model shapes (workloads/*.yaml cite them) and the figures
of accelsim/system/collectives.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.lower import Request, layer_parameters, load_workload, lower
from accelsim.system import load_system
from accelsim.system.parallel import (Parallelism, evaluate_system, pipeline_s, shard,
                                      stage_layers)

ROOT = Path(__file__).resolve().parents[2]
GPT2 = str(ROOT / "workloads" / "gpt2.yaml")
LLAMA3 = str(ROOT / "workloads" / "llama-3-8b.yaml")
DGX_H100 = str(ROOT / "hw_configs" / "systems" / "dgx-h100.yaml")


def test_four_shards_hold_the_layers_matmuls_and_repeat_only_the_norms():
    request = Request.for_workload(GPT2, seq_len=128)
    whole = lower(load_workload(GPT2), request)
    part = lower(shard(GPT2, 4), request)
    assert 4 * part.flops() == whole.flops()
    # layer norm's variance is a sum of squares: 2 norms x 128 tokens x 768 multiply-adds,
    # repeated on the 3 other devices
    assert 4 * part.layer.op_counts().mac - whole.layer.op_counts().mac == 3 * 2 * 128 * 768


def test_a_shard_holds_a_quarter_of_the_split_weights_and_all_of_the_rest():
    # GPT-2 per device: QKV 768 x 576 + 576, out 192 x 768 + 768, FFN 768 x 768 + 768 and
    # 768 x 768 + 768, two layer norms 2 x 1536 (the out and FFN-down biases are added
    # whole after the all-reduce, on every device)
    by_hand = 768 * 576 + 576 + 192 * 768 + 768 + 768 * 768 + 768 + 768 * 768 + 768 + 3072
    part = shard(GPT2, 4).model
    assert layer_parameters(part) == by_hand
    replicated = 768 + 768 + 3072
    assert 4 * by_hand == layer_parameters(load_workload(GPT2).model) + 3 * replicated


def test_grouped_query_heads_are_split_or_replicated():
    assert (shard(LLAMA3, 8).model.heads, shard(LLAMA3, 8).model.kv_heads) == (4, 1)
    assert shard(LLAMA3, 16).model.kv_heads == 1        # 8 KV heads, each on two devices
    assert shard(LLAMA3, 2).model.kv_heads == 4
    with pytest.raises(SpecError, match="does not divide the model's heads") as caught:
        shard(LLAMA3, 3, file=LLAMA3)
    assert caught.value.location.path == "model.heads" and "llama-3-8b.yaml" in str(caught.value)
    odd = load_workload(LLAMA3).model.model_copy(update={"heads": 12, "kv_heads": 4,
                                                          "ffn": 14400})
    with pytest.raises(SpecError, match="neither divides the 4 KV heads"):
        shard(odd, 6)


def test_pipeline_time_and_bubble_by_hand():
    assert stage_layers(32, 4) == (8, 8, 8, 8)
    assert stage_layers(30, 4) == (8, 8, 7, 7)
    # 4 equal stages of 1 s, 8 microbatches: (8 + 4 - 1) s, plus 3 transfers of 0.1 s
    assert pipeline_s((1.0,) * 4, 8, 0.1) == pytest.approx(11.3)
    # unequal stages: the slowest one paces the microbatches after the first
    assert pipeline_s((1.0, 2.0), 3, 0.0) == pytest.approx(3.0 + 2 * 2.0)


@pytest.fixture(scope="module")
def dgx():
    return load_system(DGX_H100)


def test_tensor_parallel_decode_adds_two_all_reduces_per_layer(dgx):
    request = Request.for_workload(LLAMA3, phase="decode", kv_len=1024, batch=4)
    r = evaluate_system(dgx, LLAMA3, request, Parallelism(tp=8), budget=40)
    # 4 tokens x 4096 x 2 bytes (bf16) = 32 KiB, 8 devices: LL, 3.6 + 14 x 0.47 us and
    # 1.75 x 32768 B at 450 GB/s / 4
    assert [c.size_bytes for c in r.collectives] == [32768, 32768]
    one = 3.6e-6 + 14 * 0.47e-6 + 1.75 * 32768 / (450e9 / 4)
    assert r.layer_comm_s == pytest.approx(2 * one)
    ends = sum(e.report.latency_s for e in r.device.einsums if e.part != "layer")
    assert r.model_latency_s == pytest.approx(32 * (r.layer_compute_s + 2 * one) + ends)
    # weights: a quarter-head shard of Llama-3-8B's layers, 1/8 of its embeddings and head
    assert r.weights_bytes == pytest.approx(r.device.weights_bytes)
    assert r.tokens == 4 and r.fits and r.bubble == pytest.approx(0.0)


def test_pipeline_parallel_prefill_splits_layers_and_batch(dgx):
    request = Request.for_workload(GPT2, seq_len=64, batch=4)
    r = evaluate_system(dgx, GPT2, request, Parallelism(tp=2, pp=4, microbatches=2),
                        budget=30)
    assert r.device.einsums and r.parallelism.pp == 4
    # 12 layers over 4 stages; each microbatch has 2 x 64 tokens x 768 x 2 B
    assert r.transfer.size_bytes == 2 * 64 * 768 * 2
    layer = r.layer_compute_s + r.layer_comm_s
    pre = sum(e.report.latency_s for e in r.device.einsums if e.part == "pre")
    assert r.stage_s[0] == pytest.approx(3 * layer + pre)
    assert r.stage_s[1] == pytest.approx(3 * layer)
    assert r.model_latency_s == pytest.approx(sum(r.stage_s) + 3 * r.transfer.time_s
                                              + max(r.stage_s))
    assert r.tokens == 4 * 64


@pytest.mark.parametrize("plan, fragment", [
    (Parallelism(tp=8, pp=2), "needs 16 devices"),
    (Parallelism(tp=1, pp=5), "5 pipeline stages for 4 layers"),
    (Parallelism(tp=1, pp=2, microbatches=3), "3 microbatches do not divide the batch of 4"),
])
def test_impossible_plans_are_refused(dgx, plan, fragment):
    with pytest.raises(SpecError, match=fragment):
        four = load_workload(GPT2).model.model_copy(update={"layers": 4})
        evaluate_system(dgx, four, Request.for_workload(GPT2, seq_len=16, batch=4), plan)


def test_cli_evaluates_a_workload_on_a_system(run_cli, tmp_path):
    import json

    code, out, err = run_cli("evaluate", DGX_H100, GPT2, "--tp", "2", "--pp", "2", "--seq", "32",
                             "--budget", "20", "--json", str(tmp_path / "s.json"))
    assert code == 0, err
    assert "TP 2 x EP 1 x PP 2" in out and "all-reduce  attention" in out and "bubble" in out
    document = json.loads((tmp_path / "s.json").read_text())["system"]
    assert document["parallelism"] == {"tp": 2, "pp": 2, "microbatches": 1, "overlap": "none",
                                       "ep": 1}
    assert len(document["collectives"]) == 2 and document["device"]["einsums"]
    code, out, err = run_cli("evaluate", DGX_H100, GPT2, "--tp", "5")
    assert code == 2 and "model.heads" in err and "gpt2.yaml" in err
    hardware = str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml")
    code, out, err = run_cli("evaluate", hardware, GPT2, "--tp", "2")
    assert code == 2 and "need a system spec" in out + err


def test_no_kernel_of_a_shard_runs_past_an_all_reduce(dgx):
    """The all-reduces sit after AO and FO, so a fused kernel may end with them but not
    continue (the residual add needs the reduced sum)."""
    request = Request.for_workload(LLAMA3, phase="decode", kv_len=512)
    r = evaluate_system(dgx, LLAMA3, request, Parallelism(tp=8), budget=30)
    kernels = [e.name.split("+") for e in r.device.einsums if e.part == "layer"]
    for members in kernels:
        for name in ("AO", "FO"):
            assert name not in members[:-1], members
    assert any(m[-1] == "AO" for m in kernels) and any(m[-1] == "FO" for m in kernels)


def test_kernel_ends_must_be_names():
    with pytest.raises(SpecError, match="kernel_ends must be a list of Einsum names"):
        Request(kernel_ends="AO")


def test_a_plan_that_overflows_a_device_is_refused_unless_asked(dgx, run_cli):
    # GPT-3 175B in bf16 over 4 devices: 174.6e9 x 2 B / 4 = 87.3 GB of weights per device
    # before the norms, more than an H100's 80 GB
    gpt3 = str(ROOT / "workloads" / "gpt3-175b.yaml")
    request = Request.for_workload(gpt3, phase="decode", kv_len=16)
    with pytest.raises(SpecError, match="does not fit: weights 87.") as caught:
        evaluate_system(dgx, gpt3, request, Parallelism(tp=4), budget=5)
    assert caught.value.location.path == "devices[0].count"
    code, out, err = run_cli("evaluate", DGX_H100, gpt3, "--tp", "4", "--phase", "decode",
                             "--kv", "16")
    assert code == 2 and "dgx-h100.yaml: devices[0].count: does not fit" in err
    code, out, err = run_cli("evaluate", DGX_H100, gpt3, "--tp", "4", "--phase", "decode",
                             "--kv", "16", "--budget", "5", "--ignore-fit", "--no-ends")
    assert code == 0, err
    assert "does NOT fit" in out


def test_one_stage_holds_a_tied_table_once(dgx):
    # GPT-2, by hand: embeddings 50257 x 768 + 1024 x 768, 12 layers of 7,087,872, the final
    # norm 1536: 124,439,808 parameters in bf16 on one device
    from accelsim.system.parallel import per_device_bytes

    request = Request.for_workload(GPT2, seq_len=16)
    assert per_device_bytes(shard(GPT2, 1), request, (12,))[0] == 124_439_808 * 2


def test_the_bubble_of_equal_stages_by_hand():
    from accelsim.system.parallel import SystemResult

    # 4 stages of 1 s, 8 microbatches: 11 s; a device is busy 8 s of them: idle 3/11
    r = SystemResult("s", "g", Parallelism(1, 4, 8), None, (), (1.0,) * 4, None, 11.0, 1,
                     0.0, 0.0, 1.0, 11.0)
    assert r.bubble == pytest.approx(3 / 11)


def test_plans_the_cli_cannot_run_are_refused_cleanly(run_cli):
    code, out, err = run_cli("evaluate", DGX_H100, GPT2, "--pp", "9", "--seq", "16")
    assert code == 2 and "needs 9 devices" in err
    with pytest.raises(SpecError, match="several lengths"):
        evaluate_system(load_system(DGX_H100), GPT2, Request(seq_len=[8, 16]), Parallelism(2))
