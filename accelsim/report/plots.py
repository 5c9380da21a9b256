"""Plots for people: a roofline, energy breakdowns, a sweep's Pareto front, the traffic
lower-bound curve.  matplotlib is imported inside each function (Agg backend, no screen);
each function writes PNG or SVG, chosen by the file name's suffix, and returns the path."""

from __future__ import annotations

import csv
import os

from accelsim.arch import Architecture
from accelsim.errors import SpecError
from accelsim.model import TIMED_ENERGY, unit_rate

SUFFIXES = (".png", ".svg")


def _figure(path: str | os.PathLike):
    if not str(path).lower().endswith(SUFFIXES):
        raise SpecError(f"plots are written as {' or '.join(SUFFIXES)}; got {os.fspath(path)!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    return plt, fig, ax


def _save(plt, fig, path) -> str:
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return os.fspath(path)


def roofline(result, arch: Architecture, path: str | os.PathLike, dtype: str = "bf16") -> str:
    """One point per Einsum of a workload result: operations per off-chip byte against
    achieved operations per second, under the machine's compute roof for ``dtype`` and its
    bandwidth roof.  A MAC counts as two operations (multiply and add); others as one."""
    plt, fig, ax = _figure(path)
    mac = arch.unit_for("mac")
    peak = 2 * mac.count * unit_rate(mac, dtype) * arch.clock_hz if mac else None
    bandwidth = arch.levels[0].read_bytes_per_cycle * arch.clock_hz
    xs, ys = [], []
    for e in result.einsums:
        r = e.report
        ops = 2 * r.ops.get("mac", 0) + sum(v for k, v in r.ops.items() if k != "mac")
        if not r.offchip_bytes or not r.latency_s or not ops:
            continue
        x, y = ops / r.offchip_bytes, ops / r.latency_s
        xs.append(x)
        ys.append(y)
        ax.annotate(e.name, (x, y), fontsize=6, alpha=0.7)
    ax.scatter(xs, ys, s=14, zorder=3)
    if xs and peak and bandwidth != float("inf"):
        lo, hi = min(xs + [peak / bandwidth]) / 4, max(xs + [peak / bandwidth]) * 4
        ax.plot([lo, peak / bandwidth, hi], [lo * bandwidth, peak, peak], color="k", lw=1,
                label=f"roof: {peak / 1e12:.0f} TOP/s ({dtype}), {bandwidth / 1e12:.2f} TB/s")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operations per off-chip byte")
    ax.set_ylabel("operations per second")
    ax.set_title(f"{result.workload} {result.phase} on {result.hardware}")
    return _save(plt, fig, path)


def energy_breakdown(report, path: str | os.PathLike) -> str:
    """Stacked bars of a report's energy: one bar per level (segments per tensor) plus
    compute and leakage."""
    plt, fig, ax = _figure(path)
    levels = [lv.name for lv in report.levels if lv.energy_pj]
    tensors = sorted({t.tensor for t in report.tensors if t.energy_pj})
    bottom = [0.0] * len(levels)
    for tensor in tensors:
        heights = [sum(t.energy_pj or 0.0 for t in report.tensors
                       if t.level == lv and t.tensor == tensor) * 1e-6 for lv in levels]
        ax.bar(levels, heights, bottom=bottom, label=tensor)
        bottom = [b + h for b, h in zip(bottom, heights)]
    extra = {k: v * 1e-6 for k, v in report.energy_breakdown.items()
             if k in ("compute",) + TIMED_ENERGY and v}
    if extra:
        ax.bar(list(extra), list(extra.values()), color="grey")
    ax.set_ylabel("energy (uJ)")
    title = f"{report.einsum} on {report.hardware}"
    if report.energy_missing:
        title += f"\n(no published energy for {', '.join(report.energy_missing)})"
    ax.set_title(title, fontsize=9)
    if tensors:
        ax.legend(fontsize=7)
    return _save(plt, fig, path)


COLUMN_LABELS = {"model_latency_s": "latency per model run (s)", "energy_j": "energy (J)",
                 "energy_per_token_j": "energy per token (J)", "tokens_per_s": "tokens/s",
                 "offchip_bytes": "off-chip traffic (B)"}
"""A sweep's result columns, as axis labels with their units."""

RESULT_COLUMNS = {"id", "workload", "phase", "status", "fits", *COLUMN_LABELS}
"""The columns a sweep writes besides its parameters."""


def pareto_front(rows_csv: str | os.PathLike, path: str | os.PathLike,
                 x: str = "model_latency_s", y: str = "energy_j") -> str:
    """A sweep's points (from its CSV) and their Pareto front of ``x`` against ``y`` (both
    minimized), each point of the front labelled with its parameter values."""
    with open(rows_csv, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("status", "ok") == "ok"]
    missing = {x, y} - set(rows[0] if rows else {x, y})
    if missing or not rows:
        raise SpecError(f"{os.fspath(rows_csv)}: needs rows with columns {x} and {y}")
    rows.sort(key=lambda r: (float(r[x]), float(r[y])))
    front, best = [], float("inf")
    for r in rows:
        if float(r[y]) < best:
            front.append(r)
            best = float(r[y])
    plt, fig, ax = _figure(path)
    ax.scatter([float(r[x]) for r in rows], [float(r[y]) for r in rows], s=12, alpha=0.5,
               label="design points")
    ax.plot([float(r[x]) for r in front], [float(r[y]) for r in front], color="C3", marker="o",
            ms=4, label="Pareto front")
    for r in front:
        params = [f"{k}={v}" for k, v in r.items() if k not in RESULT_COLUMNS]
        ax.annotate(", ".join(params), (float(r[x]), float(r[y])), fontsize=6,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(COLUMN_LABELS.get(x, x))
    ax.set_ylabel(COLUMN_LABELS.get(y, y))
    ax.set_title(f"{os.path.basename(os.fspath(rows_csv))}: {len(rows)} design points, "
                 f"{len(front)} on the Pareto front", fontsize=9)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def lower_bound_curve(bound, capacities, path: str | os.PathLike, found=None) -> str:
    """The least off-chip traffic of an Einsum against on-chip capacity (bytes), with an
    optional (capacity, traffic) point for a found mapping."""
    from accelsim.search.bound import ski_slope

    traffic = ski_slope(bound, capacities, "bytes")
    plt, fig, ax = _figure(path)
    ax.step(capacities, traffic, where="post", label="lower bound")
    if found is not None:
        ax.scatter([found[0]], [found[1]], color="C3", zorder=3, label="found mapping")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("on-chip capacity (bytes)")
    ax.set_ylabel("off-chip traffic (bytes)")
    ax.set_title(f"{bound.einsum.name}: {bound.einsum.text}", fontsize=9)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def timeline(result, path: str | os.PathLike, layers: int = 2) -> str:
    """A Gantt chart of ``layers`` layers of a workload on a system
    (accelsim.system.parallel.SystemResult): the compute stream's blocks (attention, FFN) and
    the communication stream's all-reduces, as the overlap in use places them."""
    from accelsim.system.parallel import block_comm_s, block_compute_s
    from accelsim.system.schedule import chain_timeline

    plt, fig, ax = _figure(path)
    compute = list(block_compute_s(result.device)) * layers
    reduce = block_comm_s(result.parallelism, result.collectives) * layers
    rows = {"compute": 1, "communication": 0}
    colours = ("tab:blue", "tab:orange")
    for stream, k, start, end in chain_timeline(compute, reduce, result.parallelism.overlap):
        if end > start:
            ax.broken_barh([(start * 1e6, (end - start) * 1e6)], (rows[stream] - 0.4, 0.8),
                           color=colours[k % 2], edgecolor="black")
            ax.text((start + end) / 2 * 1e6, rows[stream], f"{'AF'[k % 2]}{k // 2}",
                    ha="center", va="center", fontsize=8)
    ax.set_yticks([0, 1], ["communication", "compute"])
    ax.set_xlabel("time (us)")
    plan = result.parallelism
    ax.set_title(f"{result.device.workload} on {result.system}: TP {plan.tp}, overlap "
                 f"{plan.overlap}; A: attention, F: FFN (layer index)")
    return _save(plt, fig, path)
