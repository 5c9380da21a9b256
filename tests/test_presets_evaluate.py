"""Every shipped hardware preset evaluates a transformer layer in both phases.

GPT-2 small (workloads/gpt2.yaml) is lowered for a 64-token prefill and a decode step
against a 64-token KV cache, searched end to end with fusion (a small budget per member),
on every preset in hw_configs/.  Checked from first principles, not from stored numbers:
every kernel that computes or moves data through a level with a bandwidth takes positive
time, no faster than its off-chip bytes over the backing
store's read bandwidth allow when that is the only port (a lower bound any mapping obeys),
and the layer's off-chip traffic is at least its weights read once (12 x 768^2 + 2 x 768 x
3072 ... parameters per layer: computed here from the shapes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.lower import Request
from accelsim.pipeline import evaluate_workload

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "hw_configs").glob("*.yaml"))
D, FFN = 768, 3072                      # GPT-2 small, config.json: n_embd, 4 x n_embd
LAYER_WEIGHTS = 4 * D * D + 2 * D * FFN  # Q, K, V, O projections and the two FFN matrices


def takes_time(arch, report) -> bool:
    """A kernel that computes, or moves bytes through a level with a bandwidth, or pays a
    launch overhead.  A pure copy between levels without a bandwidth figure (xdna-like's
    system memory: unbounded, as its preset states) costs no time in the model."""
    finite = {lv.name for lv in arch.levels if lv.read_bytes_per_cycle != float("inf")}
    return bool(report.ops) or arch.launch_overhead_s > 0 or any(
        t.bytes > 0 and t.level in finite for t in report.tensors)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_preset_evaluates_a_layer(preset, phase):
    arch = load_architecture(str(preset))
    dtype = "int8" if arch.family == "mcu" else "bf16"
    lengths = dict(seq_len=64) if phase == "prefill" else dict(kv_len=64)
    result = evaluate_workload(arch, ROOT / "workloads" / "gpt2.yaml",
                               Request(phase=phase, dtype=dtype, **lengths), budget=40)
    assert result.layer_latency_s > 0 and result.energy_j >= 0
    layer = [e for e in result.einsums if e.part == "layer"]
    assert layer and all(e.report.latency_s > 0 for e in layer if takes_time(arch, e.report))
    offchip = sum(e.report.offchip_bytes for e in layer)
    assert offchip >= LAYER_WEIGHTS * BYTES_PER_ELEMENT[dtype]
    top = arch.levels[0]
    if top.read_bytes_per_cycle == top.write_bytes_per_cycle:
        for e in layer:
            floor = e.report.offchip_bytes / top.read_bytes_per_cycle / arch.clock_hz
            assert e.report.latency_s >= floor * (1 - 1e-9)
