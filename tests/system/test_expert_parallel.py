"""Expert parallelism of Mixtral 8x7B on eight H100s: each device runs its share of the
sequences and one expert; tokens reach their experts by all-to-all (expected values by
hand from workloads/mixtral-8x7b.yaml and accelsim/system/collectives.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.lower import Request
from accelsim.system import load_system
from accelsim.system.parallel import Parallelism, evaluate_system

ROOT = Path(__file__).resolve().parents[2]
MIXTRAL = str(ROOT / "workloads" / "mixtral-8x7b.yaml")
GPT2 = str(ROOT / "workloads" / "gpt2.yaml")
D, I = 4096, 14336


@pytest.fixture(scope="module")
def dgx():
    return load_system(str(ROOT / "hw_configs" / "systems" / "dgx-h100.yaml"))


@pytest.fixture(scope="module")
def ep8(dgx):
    request = Request.for_workload(MIXTRAL, phase="decode", kv_len=256, batch=8)
    return evaluate_system(dgx, MIXTRAL, request, Parallelism(ep=8), budget=20)


def test_each_device_holds_one_expert_and_its_rows(ep8):
    # 8 tokens route 16 copies; 8 x (1 - (6/8)^8) = 7.20 experts active, 1 per device
    # (rounded up), receiving 1 token x 2 copies: 2 rows
    from accelsim.lower import load_workload, lower

    share = load_workload(MIXTRAL).model.model_copy(update={"experts": 1})
    sizes = lower(share, Request(phase="decode", batch=1, kv_len=256,
                                 expert_shards=8)).layer.sizes()
    assert (sizes["EX"], sizes["CAP"]) == (1, 2)
    assert ep8.device.workload.endswith("(EP 8 share)")
    weights = ep8.weights_bytes
    # attention 4096 x 4096 x 2 + 2 x 4096 x 1024, one expert 3 x 4096 x 14336, router
    # 4096 x 1 and two norms, x 32 layers, plus embeddings, LM head and final norm, in bf16
    layer_params = 2 * D * D + 2 * D * 1024 + 3 * D * I + D + 2 * D
    assert weights == (32 * layer_params + 2 * 32000 * D + D) * 2


def test_dispatch_and_combine_are_all_to_alls_of_every_copy(ep8):
    # one sequence per device, 2 copies of 4096 bf16 values: 16,384 B; 8 devices over
    # NVLink: LL, 3.6 + 7 x 0.47 us and 7/8 x 16,384 B at 450 GB/s / 4
    one = 3.6e-6 + 7 * 0.47e-6 + 0.875 * 16_384 / (450e9 / 4)
    assert [c.op for c in ep8.collectives] == ["all_to_all", "all_to_all"]
    assert [c.size_bytes for c in ep8.collectives] == [16_384, 16_384]
    assert ep8.layer_comm_s == pytest.approx(2 * one)
    ends = sum(e.report.latency_s for e in ep8.device.einsums if e.part != "layer")
    assert ep8.model_latency_s == pytest.approx(32 * (ep8.layer_compute_s + 2 * one) + ends)
    assert ep8.tokens == 8


@pytest.mark.parametrize("model, plan, batch, words", [
    (GPT2, Parallelism(ep=2), 4, "needs a mixture of experts"),
    (MIXTRAL, Parallelism(ep=3), 6, "does not divide the model's 8 experts"),
    (MIXTRAL, Parallelism(ep=4), 6, "does not divide the batch of 6"),
    (MIXTRAL, Parallelism(ep=2, tp=2), 4, "without tensor parallelism"),
    (MIXTRAL, Parallelism(ep=4, pp=4), 4, "needs 16 devices"),
])
def test_impossible_expert_plans_are_refused(dgx, model, plan, batch, words):
    request = Request.for_workload(model, phase="decode", kv_len=16, batch=batch)
    with pytest.raises(SpecError, match=words):
        evaluate_system(dgx, model, request, plan)


def test_cli_runs_expert_parallel_decode(run_cli):
    code, out, err = run_cli("evaluate", str(ROOT / "hw_configs" / "systems" / "dgx-h100.yaml"),
                             MIXTRAL, "--phase", "decode", "--kv", "64", "--batch", "8",
                             "--ep", "8", "--budget", "10")
    assert code == 0, err
    assert "TP 1 x EP 8 x PP 1" in out and "all-to-all  dispatch" in out
