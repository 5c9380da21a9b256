"""Attention offloading: which Einsums move, what crosses the link, the two-batch pipeline
and cost per token (expected values by hand from the shapes in workloads/*.yaml and the
figures of accelsim/system/collectives.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.lower import Request, load_workload, lower
from accelsim.system import load_system
from accelsim.system.collectives import Collective
from accelsim.system.offload import OffloadResult, attention_core, evaluate_offload

ROOT = Path(__file__).resolve().parents[2]
LLAMA3 = str(ROOT / "workloads" / "llama-3-8b.yaml")
PAIR = str(ROOT / "hw_configs" / "systems" / "offload-h100-a100.yaml")


def test_the_attention_core_is_scores_softmax_and_values():
    request = Request.for_workload(LLAMA3, phase="decode", kv_len=64)
    layer = lower(load_workload(LLAMA3), request).in_place().layer
    assert attention_core(layer) == {"AT_QS", "AT_QK", "AT_GM", "AT_SN", "AT_SD", "AT_A", "AV"}


def _sent(seconds: float) -> Collective:
    return Collective("send_recv", "ring", 2, 1.0, seconds, "Simple")


def test_two_batches_in_flight_by_hand():
    r = OffloadResult("s", None, None, (4, 2), compute_s=10.0, attention_s=4.0,
                      to_attention=_sent(1.0), from_attention=_sent(1.0), layers=3,
                      ends_s=5.0, tokens=8, memory=((1.0, 0.0, 2.0), (0.0, 1.0, 2.0)))
    assert r.layer_s == 16.0                         # 10 + 1 + 4 + 1
    assert r.period_s == 20.0                        # the compute group twice
    assert r.latency_s == 3 * 16.0 + 5.0
    assert r.tokens_per_s == pytest.approx(16 / (3 * 20.0 + 10.0))
    # 4 devices at $2 and 2 at $1 an hour: $10 an hour
    assert r.cost_per_token((2.0, 1.0)) == pytest.approx(10 / 3600 / r.tokens_per_s)
    assert r.fits


@pytest.fixture(scope="module")
def offloaded():
    request = Request.for_workload(LLAMA3, phase="decode", kv_len=256, batch=8)
    return evaluate_offload(load_system(PAIR), LLAMA3, request, "compute", "attention",
                            budget=30)


def test_queries_keys_and_values_cross_the_network(offloaded):
    # Llama-3-8B: 32 query and 8 KV heads of 128; batch 8, bf16: Q, K, V are
    # (32 + 16) x 128 x 8 x 2 B = 98,304 B, over 4 device pairs 24,576 B each; back 32 x 128
    # x 8 x 2 / 4 = 16,384 B.  Network, LL: 3.6 + 2.7 us + bytes at 50 GB/s / 4
    assert offloaded.to_attention.size_bytes == 24_576
    assert offloaded.from_attention.size_bytes == 16_384
    assert offloaded.to_attention.time_s == pytest.approx(6.3e-6 + 24_576 / 12.5e9)
    assert offloaded.devices == (4, 4)


def test_each_group_holds_only_its_share(offloaded):
    (weights, kv_c, _), (weights_a, kv, _) = offloaded.memory
    assert kv_c == 0.0 and weights_a == 0.0
    # KV: 2 x 32 layers x 2 KV heads x 128 x 2 B x 8 sequences x 257 tokens per device
    assert kv == 2 * 32 * 2 * 128 * 2 * 8 * 257
    assert weights == offloaded.compute.weights_bytes
    core = {"AT_QS", "AT_QK", "AT_GM", "AT_SN", "AT_SD", "AT_A", "AV"}
    moved = [e for e in offloaded.attention.einsums if e.part == "layer"
             and core & set(e.name.split("+"))]
    assert all(set(e.name.split("+")) <= core for e in moved)   # kernels end at the core
    assert offloaded.attention_s == pytest.approx(sum(e.report.latency_s for e in moved))


def test_prefill_and_unknown_groups_are_refused():
    system = load_system(PAIR)
    with pytest.raises(SpecError, match="modelled for decode"):
        evaluate_offload(system, LLAMA3, Request.for_workload(LLAMA3, seq_len=16), "compute",
                         "attention")
    with pytest.raises(SpecError, match="no device group 'gpu'"):
        evaluate_offload(system, LLAMA3, Request.for_workload(LLAMA3, phase="decode"),
                         "compute", "gpu")


def test_cli_reports_throughput_and_cost(run_cli):
    args = ("evaluate", PAIR, LLAMA3, "--phase", "decode", "--kv", "128", "--batch", "4",
            "--budget", "20", "--offload-attention", "attention")
    code, out, err = run_cli(*args, "--price", "compute=2.49", "--price", "attention=1.49")
    assert code == 0, err
    assert "pipelined   two batches in flight" in out and "per million tokens" in out
    code, out, err = run_cli(*args, "--price", "attention=cheap")
    assert code == 2 and "GROUP=USD_PER_DEVICE_HOUR" in out + err


def test_offload_refuses_what_it_cannot_mean(run_cli):
    system = load_system(PAIR)
    with pytest.raises(SpecError, match="another group than the compute group"):
        evaluate_offload(system, LLAMA3, Request.for_workload(LLAMA3, phase="decode"),
                         "compute", "compute")
    args = ("evaluate", PAIR, LLAMA3, "--phase", "decode", "--offload-attention", "attention")
    code, out, err = run_cli(*args, "--tp", "2")
    assert code == 2 and "leave out --tp" in out + err
    code, out, err = run_cli(*args, "--price", "attention=1.49")
    assert code == 2 and "give a price for both groups" in out + err


def test_a_groups_own_link_comes_before_the_network(tmp_path):
    text = Path(PAIR).read_text()
    links = text[text.index("links:"):]
    ndr = links[links.index("  - name: ndr"):]
    reordered = text.replace(links, "links:\n" + ndr + links[len("links:\n"):links.index(
        "  - name: ndr")])
    path = tmp_path / "pair.yaml"
    path.write_text(reordered.replace("../", str(ROOT / "hw_configs") + "/"))
    system = load_system(str(path))
    assert system.links[0].name == "ndr"
    assert system.link_of("compute").name == "nvlink4"
