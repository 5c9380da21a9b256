"""Expanding a sweep spec: grid and random points, stable ids, bad parameter paths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hw_configs" / "shared-ws-32x32.yaml"
WORKLOAD = ROOT / "workloads" / "fusemax-bert.yaml"


def write_sweep(folder: Path, parameters: str, extra: str = "") -> Path:
    path = folder / "sweep.yaml"
    path.write_text("kind: sweep\nversion: 1\nname: t\n"
                    f"hardware: {HW}\nworkloads: [{WORKLOAD}]\nphases: [prefill, decode]\n"
                    f"seq_len: 64\nparameters:\n{parameters}{extra}")
    return path


def test_grid_is_every_combination_with_the_values_applied(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "  levels[1].capacity: [32 KiB, 128 KiB]\n"
                                             "  clock: [1 GHz, 2 GHz, 500 MHz]\n"
                                             "  compute[0].instances: [16, 32]\n"))
    assert len(sweep.points) == 2 * 3 * 2 * 2  # x workloads (1) x phases (2)
    assert len({p.id for p in sweep.points}) == len(sweep.points)
    point = next(p for p in sweep.points if p.parameters == {
        "levels[1].capacity": "128 KiB", "clock": "2 GHz", "compute[0].instances": 16})
    assert point.arch.levels[1].capacity_bytes == 128 * 1024
    assert point.arch.clock_hz == 2e9
    assert point.arch.compute[0].count == 16


def test_ids_are_stable_across_loads_and_level_names_work(tmp_path):
    params = "  levels[W_SRAM].capacity: [32 KiB, 64 KiB]\n"
    first = load_sweep(write_sweep(tmp_path, params))
    again = load_sweep(write_sweep(tmp_path, params))
    assert [p.id for p in first.points] == [p.id for p in again.points]
    assert first.points[0].arch.levels[1].capacity_bytes == 32 * 1024


def test_each_phase_is_one_request_and_its_length_names_the_point(tmp_path):
    """The sweep's seq_len (64) is a prefill's prompt and a decode step's KV cache; the id
    hashes the parameters, workload, phase, batch and that length (sorted-key JSON, first 16
    hex digits of its SHA-256), as ids written by earlier runs did."""
    sweep = load_sweep(write_sweep(tmp_path, "  clock: [1 GHz]\n"))
    by_phase = {p.request.phase: p for p in sweep.points}
    assert (by_phase["prefill"].request.seq_len, by_phase["prefill"].request.kv_len) == (64, None)
    assert (by_phase["decode"].request.seq_len, by_phase["decode"].request.kv_len) == (None, 64)
    for phase, point in by_phase.items():
        assert point.request.batch == 1 and point.request.attention == "3pass"
        text = json.dumps({"parameters": {"clock": "1 GHz"}, "workload": str(WORKLOAD),
                           "phase": phase, "batch": 1, "seq_len": 64}, sort_keys=True)
        assert point.id == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_random_mode_draws_seeded_samples(tmp_path):
    params = "  levels[1].capacity: [8 KiB, 16 KiB, 32 KiB, 64 KiB, 128 KiB]\n"
    one = load_sweep(write_sweep(tmp_path, params, "mode: random\nsamples: 4\nseed: 3\n"))
    two = load_sweep(write_sweep(tmp_path, params, "mode: random\nsamples: 4\nseed: 3\n"))
    grid = load_sweep(write_sweep(tmp_path, params))
    assert len(one.points) == 4
    assert [p.id for p in one.points] == [p.id for p in two.points]
    assert {p.id for p in one.points} <= {p.id for p in grid.points}


@pytest.mark.parametrize("parameter, value, expected", [
    ("levels[9].capacity", "32 KiB", "out of range"),
    ("levels[SRAM].capacity", "32 KiB", "no entry named 'SRAM'"),
    ("level[1].capacity", "32 KiB", "no field 'level'"),
    ("levels[1].capacityy", "32 KiB", "unknown key 'capacityy'"),
    ("levels[1].capacity", "32 KiBB", "levels[1].capacity"),
    ("levels[1]capacity", "32 KiB", "bad parameter path"),
])
def test_bad_parameter_is_a_spec_error_naming_file_and_parameter(tmp_path, parameter, value,
                                                                   expected):
    path = write_sweep(tmp_path, f"  {parameter}: [{value}]\n")
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    text = str(info.value)
    assert str(path) in text and parameter in text and expected in text


def test_a_vit_point_defaults_to_its_patches_and_reports_unknown_energy(tmp_path):
    """Without seq_len a ViT point's prompt is its patches + 1 ((144 / 16)^2 + 1 = 82, counted
    by the lowering) and any other workload's is 512; on the STM32F746 preset, which has no
    energy figure, the row's energy is empty rather than 0."""
    from accelsim.sweep.run import evaluate_point

    vit = ROOT / "workloads" / "deit-tiny-144.yaml"
    path = tmp_path / "sweep.yaml"
    path.write_text("kind: sweep\nversion: 1\nname: t\n"
                    f"hardware: {ROOT / 'hw_configs' / 'stm32f746.yaml'}\n"
                    f"workloads: [{vit}, {WORKLOAD}]\nparameters:\n  clock: [216 MHz]\n")
    points = {Path(p.workload).name: p for p in load_sweep(path).points}
    assert points["fusemax-bert.yaml"].request.seq_len == 512
    assert points["deit-tiny-144.yaml"].request.seq_len is None
    row = evaluate_point(points["deit-tiny-144.yaml"], budget=40)
    assert row["status"] == "ok" and row["energy_j"] is None
    assert row["tokens_per_s"] == pytest.approx(82 / row["model_latency_s"])
