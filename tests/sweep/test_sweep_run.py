"""run_sweep on local Dask clusters: rows per point, resume, a killed worker, Ctrl-C.

Most tests share one 2-process LocalCluster (module fixture) and swap the point function
for a fast one that logs each evaluation to a file, so counts survive worker processes;
one test runs real evaluations on the default cluster run_sweep starts itself.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import cloudpickle  # noqa: E402  (comes with distributed)

from accelsim.errors import CapacityError  # noqa: E402
from accelsim.sweep import evaluate_point, read_rows, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HW = ROOT / "hw_configs" / "shared-ws-32x32.yaml"
WORKLOAD = ROOT / "workloads" / "fusemax-bert.yaml"

# Workers cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """A sweep's relative output lands in the working directory: run each test in its own."""
    monkeypatch.chdir(tmp_path)


def write_sweep(folder: Path, output: str = "out.csv", caps=("32 KiB", "64 KiB"),
                bandwidths=("64 bit/cycle", "128 bit/cycle"), extra: str = "") -> Path:
    path = folder / "sweep.yaml"
    path.write_text(
        "kind: sweep\nversion: 1\nname: tiny\n"
        f"hardware: {HW}\nworkloads: [{WORKLOAD}]\nphases: [prefill]\nbatch: 1\nseq_len: 64\n"
        "parameters:\n"
        f"  levels[1].capacity: [{', '.join(caps)}]\n"
        f"  levels[0].read_bandwidth: [{', '.join(bandwidths)}]\n"
        f"output: {output}\n{extra}")
    return path


def logged_point(log_dir: str, delay: float, point, budget):
    """A fast stand-in for evaluate_point that leaves one file per evaluation."""
    Path(log_dir, f"{point.id}.{uuid.uuid4().hex}").touch()
    time.sleep(delay)
    return {"id": point.id, "workload": point.workload, "phase": point.request.phase,
            **point.parameters, "model_latency_s": 1.0, "tokens_per_s": 64.0,
            "energy_j": 2.0, "energy_per_token_j": 2.0 / 64, "offchip_bytes": 10.0,
            "fits": True, "status": "ok"}


def dying_point(log_dir: str, marker: str, point, budget):
    """Kills its own worker process the first time any point runs, then behaves."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return logged_point(log_dir, 0.0, point, budget)
    os.close(fd)
    os._exit(1)


def evaluations(log_dir: Path) -> list[str]:
    return sorted(name.split(".")[0] for name in os.listdir(log_dir))


@pytest.fixture(scope="module")
def scheduler():
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "evals"
    folder.mkdir()
    return folder


@pytest.mark.slow          # starts its own cluster, whose workers import and compile accelsim
def test_grid_writes_one_real_row_per_point(tmp_path):
    """2 x 2 grid of real evaluations on the LocalCluster that run_sweep starts."""
    summary = run_sweep(write_sweep(tmp_path), workers=2, progress=False, budget=60)
    rows = read_rows(str(tmp_path / "out.csv"))
    assert (summary.points, summary.completed, summary.skipped) == (4, 4, 0)
    assert len({r["id"] for r in rows}) == len(rows) == 4
    assert {(r["levels[1].capacity"], r["levels[0].read_bandwidth"]) for r in rows} == {
        (c, b) for c in ("32 KiB", "64 KiB") for b in ("64 bit/cycle", "128 bit/cycle")}
    for row in rows:
        assert row["status"] == "ok" and row["fits"] == "True"
        assert float(row["model_latency_s"]) > 0 and float(row["offchip_bytes"]) > 0
        # tokens/s and energy per token against the 64 prefill tokens
        assert float(row["tokens_per_s"]) == pytest.approx(64 / float(row["model_latency_s"]))
        assert float(row["energy_per_token_j"]) == pytest.approx(float(row["energy_j"]) / 64)


def test_rerun_after_deleting_a_row_reruns_exactly_that_point(tmp_path, log_dir, scheduler):
    sweep = write_sweep(tmp_path)
    point = functools.partial(logged_point, str(log_dir), 0.0)
    run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    out = tmp_path / "out.csv"
    lines = out.read_text().splitlines(keepends=True)
    assert len(lines) == 5
    dropped = lines.pop(2).split(",")[0]
    out.write_text("".join(lines))
    first = evaluations(log_dir)
    summary = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    assert (summary.skipped, summary.completed) == (3, 1)
    assert evaluations(log_dir) == sorted(first + [dropped])
    rows = read_rows(str(out))
    assert sorted(r["id"] for r in rows) == sorted(set(first))


def test_rerun_after_a_cut_off_last_line(tmp_path, log_dir, scheduler):
    """A kill in the middle of a write leaves half a row: it is trimmed and that point rerun."""
    sweep = write_sweep(tmp_path)
    point = functools.partial(logged_point, str(log_dir), 0.0)
    run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    out = tmp_path / "out.csv"
    text = out.read_text()
    out.write_text(text[: len(text) - 20])
    summary = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    assert (summary.skipped, summary.completed) == (3, 1)
    assert len({r["id"] for r in read_rows(str(out))}) == len(read_rows(str(out))) == 4


def test_killed_worker_still_yields_every_row_once(tmp_path, log_dir, scheduler):
    sweep = write_sweep(tmp_path)
    marker = tmp_path / "killed"
    point = functools.partial(dying_point, str(log_dir), str(marker))
    summary = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    assert marker.exists()
    assert summary.failed == {} and summary.completed == 4
    rows = read_rows(str(tmp_path / "out.csv"))
    assert len(rows) == len({r["id"] for r in rows}) == 4


def test_interrupt_keeps_written_rows_and_a_rerun_finishes(tmp_path, log_dir, scheduler):
    sweep = write_sweep(tmp_path, caps=("16 KiB", "32 KiB", "64 KiB"))
    point = functools.partial(logged_point, str(log_dir), 0.5)

    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point, on_point=stop)
    out = str(tmp_path / "out.csv")
    assert len(read_rows(out)) == 1
    summary = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    assert (summary.skipped, summary.completed) == (1, 5)
    rows = read_rows(out)
    assert len(rows) == len({r["id"] for r in rows}) == 6


def test_parquet_output_streams_parts_and_resumes(tmp_path, log_dir, scheduler):
    sweep = write_sweep(tmp_path, output="out.parquet")
    point = functools.partial(logged_point, str(log_dir), 0.0)

    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point, on_point=stop)
    assert len(read_rows(str(tmp_path / "out.parquet"))) >= 1
    summary = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point)
    rows = read_rows(str(tmp_path / "out.parquet"))
    assert summary.skipped + summary.completed == 4
    assert len(rows) == len({r["id"] for r in rows}) == 4
    assert not (tmp_path / "out.parquet.parts").exists()
    assert rows[0]["fits"] is True and rows[0]["offchip_bytes"] == 10.0


def test_an_evaluation_error_is_a_recorded_row(tmp_path, monkeypatch):
    """A point whose evaluation raises an AccelsimError becomes a row with that status."""
    from accelsim.sweep import load_sweep
    import accelsim.sweep.run as run_module

    def no_fit(*args, **kwargs):
        raise CapacityError("W_SRAM: the tile needs 70000 bytes but one instance holds 32768")

    monkeypatch.setattr(run_module, "evaluate_workload", no_fit)
    point = load_sweep(write_sweep(tmp_path)).points[0]
    row = evaluate_point(point, budget=10)
    assert row["status"].startswith("W_SRAM: the tile needs")
    assert row["id"] == point.id and "model_latency_s" not in row


def test_a_rerun_at_another_budget_runs_every_point_again(tmp_path, log_dir, scheduler):
    """The resume key holds everything that changes a row: the same budget skips all four
    points, another budget runs all four again (their rows beside the first four)."""
    sweep = write_sweep(tmp_path)
    point = functools.partial(logged_point, str(log_dir), 0.0)
    first = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point, budget=10)
    same = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point, budget=10)
    other = run_sweep(sweep, scheduler=scheduler, progress=False, evaluate=point, budget=20)
    assert (first.completed, same.skipped, same.completed) == (4, 4, 0)
    assert (other.skipped, other.completed) == (0, 4)
    assert len({r["id"] for r in read_rows(str(tmp_path / "out.csv"))}) == 8
