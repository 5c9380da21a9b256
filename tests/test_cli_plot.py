"""accelsim plot: each plot is written as a real PNG or SVG; bad output names fail cleanly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WS = str(ROOT / "hw_configs" / "shared-ws-32x32.yaml")
GEMM = str(ROOT / "einsum_cascades" / "gemm.yaml")
MAPPING = str(ROOT / "mappings" / "gemm-ws-32x32.yaml")
PNG = b"\x89PNG\r\n\x1a\n"


def test_energy_png(run_cli, tmp_path):
    out = tmp_path / "energy.png"
    code, _, err = run_cli("plot", "energy", WS, GEMM, "-m", MAPPING, "-o", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(PNG)


def test_bound_svg(run_cli, tmp_path):
    out = tmp_path / "bound.svg"
    code, _, err = run_cli("plot", "bound", WS, GEMM, "--einsum", "Z", "--role", "B=weight",
                           "-o", str(out))
    assert code == 0, err
    assert "<svg" in out.read_text()


def test_roofline_png(run_cli, tmp_path):
    out = tmp_path / "roof.png"
    code, _, err = run_cli("plot", "roofline", str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"),
                           str(ROOT / "workloads" / "gpt2.yaml"), "--seq", "64", "--budget", "30",
                           "-o", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(PNG)


def test_pareto_png(run_cli, tmp_path):
    rows = tmp_path / "sweep.csv"
    with rows.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "model_latency_s", "energy_j", "status"])
        for i, (lat, energy) in enumerate([(1, 5), (2, 3), (3, 4), (4, 1)]):
            writer.writerow([i, lat, energy, "ok"])
    out = tmp_path / "pareto.png"
    code, _, err = run_cli("plot", "pareto", str(rows), "-o", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(PNG)


@pytest.mark.parametrize("name", ["energy.pdf", "energy"])
def test_unsupported_output_is_a_clear_error(run_cli, tmp_path, name):
    code, out, err = run_cli("plot", "energy", WS, GEMM, "-m", MAPPING, "-o", str(tmp_path / name))
    assert code == 2
    assert "plots are written as .png or .svg" in err


def test_pareto_plot_has_units_a_title_and_labelled_points(run_cli, tmp_path, monkeypatch):
    """Points (1 s, 5 J), (2, 3), (3, 4), (4, 1): the front is the first, second and fourth
    (the third is beaten by the second on both); each front point names its parameters."""
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")   # text stays text
    rows = tmp_path / "sweep.csv"
    with rows.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "levels[1].capacity", "model_latency_s", "energy_j", "status"])
        for i, (lat, energy) in enumerate([(1, 5), (2, 3), (3, 4), (4, 1)]):
            writer.writerow([i, f"{16 * (i + 1)} KiB", lat, energy, "ok"])
    out = tmp_path / "pareto.svg"
    code, _, err = run_cli("plot", "pareto", str(rows), "-o", str(out))
    assert code == 0, err
    svg = out.read_text()
    assert "latency per model run (s)" in svg and "energy (J)" in svg
    assert "sweep.csv: 4 design points, 3 on the Pareto front" in svg
    labels = {f"levels[1].capacity={c} KiB" for c in (16, 32, 64)}
    assert all(label in svg for label in labels) and "capacity=48 KiB" not in svg
