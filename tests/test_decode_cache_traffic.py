"""A decode step reads its KV cache once and writes only the new token's keys and values.

Llama-2-7B (workloads/llama-2-7b.yaml: 32 layers, d = 4096, 32 heads and 32 KV heads of 128,
SwiGLU FFN of 11,008, RMSNorm, no biases), fp16, batch 1, a cache of 4,096 tokens, layers
only (no embeddings or LM head), on the A100 80 GB preset.  By hand, per token:

* weights, each read once: per layer 4 x 4096^2 (Q, K, V, O) + 3 x 4096 x 11008 (gate, up,
  down) + 2 x 4096 (norms) = 202,383,360 parameters; x 32 layers x 2 B = 12,952,535,040 B;
* the cache, read once with the new entry in place: 32 layers x 2 (K, V) x 4,097 entries x
  4,096 x 2 B = 2,148,007,936 B;
* the new keys and values, written once: 32 x 2 x 4,096 x 2 B = 524,288 B;

15,101,067,264 B in all.  Activations between kernels add a few MB at most.  Before the cache
was read in place, the step assembled a copy of the cache and read it back: 19.40 GB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.lower import Request, load_workload, lower
from accelsim.pipeline import evaluate_workload

ROOT = Path(__file__).resolve().parents[1]
LLAMA2 = str(ROOT / "workloads" / "llama-2-7b.yaml")
A100 = str(ROOT / "hw_configs" / "a100-sxm4-80gb.yaml")
BY_HAND = 12_952_535_040 + 2_148_007_936 + 524_288


def test_decode_reads_the_cache_once():
    spec = load_workload(LLAMA2)
    request = Request.for_workload(spec, phase="decode", kv_len=4096, batch=1)
    with pytest.warns(Warning, match="past the model's 4096 positions"):
        result = evaluate_workload(A100, LLAMA2, request, budget=40)
    moved = sum(e.report.offchip_bytes * e.count for e in result.einsums)
    assert BY_HAND <= moved <= 1.02 * BY_HAND
    assert not any("KF" in e.name.split("+") for e in result.einsums)


def test_the_cascade_still_runs_the_append_and_costing_reads_in_place():
    """The lowered layer assembles KF and VF (so that it runs numerically); its costed
    form drops those three Einsums each and reads KF and VF as inputs."""
    spec = load_workload(LLAMA2)
    lowered = lower(spec, Request.for_workload(spec, phase="decode", kv_len=16, batch=1))
    names = {e.name for e in lowered.layer.einsums}
    assert {"KCP", "KNP", "KF", "VCP", "VNP", "VF"} <= names
    costed = lowered.in_place()
    kept = {e.name for e in costed.layer.einsums}
    assert kept == names - {"KCP", "KNP", "KF", "VCP", "VNP", "VF"}
    assert {"KF", "VF"} <= set(costed.layer.inputs) and "KC" not in costed.layer.tensors
    assert costed.roles["KF"] == "input" and costed.layer.shape("KF")[1] == 17
    prefill = lower(spec, Request.for_workload(spec, phase="prefill", seq_len=16))
    assert prefill.in_place() is prefill
