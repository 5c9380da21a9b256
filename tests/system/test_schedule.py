"""Compute and communication streams: standard tensor parallelism adds everything, Ladder
Residual hides each all-reduce behind the next block (timelines worked out by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.lower import Request
from accelsim.system import load_system
from accelsim.system.parallel import Parallelism, block_compute_s, evaluate_system
from accelsim.system.schedule import chain_s

ROOT = Path(__file__).resolve().parents[2]


def test_standard_tensor_parallelism_overlaps_nothing():
    assert chain_s([10.0] * 4, [4.0] * 4) == pytest.approx(4 * 14.0)
    assert chain_s([3.0, 5.0], [1.0, 2.0]) == pytest.approx(11.0)


def test_ladder_hides_short_all_reduces_behind_compute():
    # c0 0-10, a0 10-14, c1 10-20, a1 20-24, c2 (after a0) 20-30, a2 30-34,
    # c3 (after a1) 30-40, a3 40-44: K c + a
    assert chain_s([10.0] * 4, [4.0] * 4, "ladder") == pytest.approx(44.0)


def test_ladder_with_long_all_reduces_is_paced_by_communication():
    # c0 0-4, a0 4-14, c1 4-8, a1 14-24, c2 (after a0) 14-18, a2 24-34,
    # c3 (after a1) 24-28, a3 34-44: c + K a
    assert chain_s([4.0] * 4, [10.0] * 4, "ladder") == pytest.approx(44.0)


def test_unknown_overlap_is_refused():
    with pytest.raises(ValueError, match="unknown overlap 'async'"):
        chain_s([1.0], [1.0], "async")


def test_ladder_on_a_system_saves_what_the_timeline_says():
    system = load_system(str(ROOT / "hw_configs" / "systems" / "dgx-h100.yaml"))
    workload = str(ROOT / "workloads" / "gpt2.yaml")
    request = Request.for_workload(workload, seq_len=32)
    ladder = evaluate_system(system, workload, request, Parallelism(tp=4, overlap="ladder"),
                             budget=20)
    attention, ffn = block_compute_s(ladder.device)
    # the split by hand: the layer's kernels through the one ending in AO, then the rest
    kernels = [e for e in ladder.device.einsums if e.part == "layer"]
    cut = [e.name.split("+")[-1] for e in kernels].index("AO")
    assert attention == pytest.approx(sum(e.report.latency_s for e in kernels[:cut + 1]))
    assert ffn == pytest.approx(sum(e.report.latency_s for e in kernels[cut + 1:]))
    assert ffn > 0
    reduce = [c.time_s for c in ladder.collectives]
    ends = sum(e.report.latency_s for e in ladder.device.einsums if e.part != "layer")
    assert ladder.standard_latency_s == pytest.approx(
        12 * (attention + ffn + sum(reduce)) + ends)
    assert ladder.model_latency_s == pytest.approx(
        chain_s([attention, ffn] * 12, reduce * 12, "ladder") + ends)
    assert ladder.model_latency_s < ladder.standard_latency_s


def test_plot_timeline_writes_a_chart(run_cli, tmp_path):
    out_file = tmp_path / "timeline.svg"
    code, out, err = run_cli("plot", "timeline", str(ROOT / "hw_configs" / "systems" /
                                                     "dgx-h100.yaml"),
                             str(ROOT / "workloads" / "gpt2.yaml"), "--tp", "2", "--seq", "16",
                             "--overlap", "ladder", "--budget", "10", "-o", str(out_file))
    assert code == 0, err
    assert out_file.read_text().count("<path") > 8    # bars of 2 layers on two streams
