"""Mixture of experts (Mixtral 8x7B): parameters, active experts, the layer's work and the
expert weights a decode step reads, each derived by hand from the shape in
workloads/mixtral-8x7b.yaml (Jiang et al., arXiv:2401.04088, Table 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.errors import LoweringError
from accelsim.lower import Request, load_workload, lower, parameter_count
from accelsim.lower.blocks import active_experts

ROOT = Path(__file__).resolve().parents[2]
MIXTRAL = str(ROOT / "workloads" / "mixtral-8x7b.yaml")
D, I, E, K = 4096, 14336, 8, 2


def test_parameters_by_hand():
    attention = D * D + 2 * D * 1024 + D * D          # Q, K and V (8 KV heads x 128), output
    experts = E * 3 * D * I                           # gate, up and down of each expert
    layer = attention + experts + D * E + 2 * D       # router, two RMSNorm gains
    total = 32 * layer + 2 * 32000 * D + D            # embeddings, LM head, final norm
    assert parameter_count(MIXTRAL) == total
    assert round(total / 1e9, 1) == 46.7              # the paper's "47B"


@pytest.mark.parametrize("tokens, active", [
    (1, 2),          # one token picks its 2 experts
    (2, 4),          # 8 x (1 - 0.75^2) = 3.5 -> 4
    (16, 8),         # 8 x (1 - 0.75^16) = 7.92 -> 8
    (4096, 8),
])
def test_active_experts_under_uniform_routing(tokens, active):
    assert active_experts(E, K, tokens) == active


def _layer_macs(phase: str, batch: int, experts: int | None) -> int:
    shape = load_workload(MIXTRAL).model
    if experts is None:
        shape = shape.model_copy(update={"experts": None, "experts_per_token": None})
    request = Request(phase=phase, batch=batch, kv_len=64)
    return lower(shape, request).layer.op_counts().mac


def test_a_decode_token_runs_two_experts_and_the_routing_around_them():
    dense = _layer_macs("decode", 1, None)
    moe = _layer_macs("decode", 1, E)
    # two experts of one row each (3 D I each) instead of one dense FFN, plus the router
    # over the 2 active experts (D x 2), dispatch (1 token x 2 experts x 1 row x D) and
    # combine (the same)
    assert moe - dense == 2 * 3 * D * I - 3 * D * I + D * 2 + 2 * D + 2 * D


def test_sixteen_sequences_touch_every_expert_with_four_rows_each():
    lowered = lower(load_workload(MIXTRAL), Request(phase="decode", batch=16, kv_len=64))
    sizes = lowered.layer.sizes()
    assert (sizes["EX"], sizes["CAP"]) == (8, 4)        # ceil(16 x 2 / 8)
    one = lower(load_workload(MIXTRAL), Request(phase="decode", batch=1, kv_len=64))
    # expert weights read once per step: 8 experts' against 2 experts' (bf16)
    weights = {n: lowered.layer.compulsory_bytes()[n] for n in ("WG", "WU", "WD")}
    assert sum(weights.values()) == 8 * 3 * D * I * 2
    assert sum(one.layer.compulsory_bytes()[n] for n in ("WG", "WU", "WD")) == 2 * 3 * D * I * 2


def test_bad_expert_counts_are_refused():
    shape = load_workload(MIXTRAL).model
    for update, words in (({"experts": 0}, "greater than or equal to 1"),
                          ({"experts_per_token": 9}, "more than the 8 experts"),
                          ({"experts_per_token": None}, "go together")):
        with pytest.raises(ValueError, match=words):
            type(shape).model_validate({**shape.model_dump(), **update})


def test_variable_length_batches_of_experts_are_refused_clearly():
    with pytest.raises(LoweringError, match="mixture of experts is lowered for one length"):
        lower(load_workload(MIXTRAL), Request(phase="prefill", seq_len=[8, 16]))


def test_the_cli_evaluates_mixtral_in_both_phases(run_cli):
    hardware = str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml")
    for phase in ("prefill", "decode"):
        code, out, err = run_cli("evaluate", hardware, MIXTRAL, "--phase", phase, "--seq", "64",
                                 "--budget", "10")
        assert code == 0, err
        assert "EO" in out or "FG" in out
