"""Predicted-vs-measured rows and their three renderings: a rich table, JSON and a scatter plot.

Every comparison (CPU operators, GPU kernels, published measurements) returns a list of
:class:`Row` and the mean absolute percentage error over them (:func:`mape`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Row:
    """One case: what accelsim predicted, what was measured, and by how much they differ."""

    case: str
    """What ran, e.g. ``matmul 512x512x512 fp32``."""
    op: str
    """Operator family: matmul, softmax, layernorm, sdpa, ..."""
    predicted: float
    measured: float
    unit: str = "s"
    """Unit of ``predicted`` and ``measured`` (seconds, or bytes for traffic rows)."""
    bottleneck: str = ""
    """accelsim's bottleneck for the case (compute or a level's name)."""
    source: str = ""
    """Where the measurement comes from (this machine, or a paper with its table/figure)."""
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def error_pct(self) -> float:
        """(predicted - measured) / measured, in percent."""
        return 100.0 * (self.predicted - self.measured) / self.measured

    def to_dict(self) -> dict:
        out = asdict(self)
        out["error_pct"] = self.error_pct
        return out


def mape(rows: list[Row]) -> float:
    """Mean absolute percentage error over ``rows`` (nan when there are none)."""
    if not rows:
        return float("nan")
    return sum(abs(r.error_pct) for r in rows) / len(rows)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value * 1e9:.3g} ns"
    if unit == "B":
        for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.0f} B"
    return f"{value:.4g} {unit}"


def table(rows: list[Row], title: str = "accelsim: predicted vs measured"):
    """A :class:`rich.table.Table` of the rows, with the MAPE in its caption."""
    from rich.table import Table

    out = Table(title=title, caption=f"MAPE {mape(rows):.1f} % over {len(rows)} cases")
    for name, justify in (("case", "left"), ("predicted", "right"), ("measured", "right"),
                          ("error %", "right"), ("bottleneck", "left")):
        out.add_column(name, justify=justify)
    for r in rows:
        err = r.error_pct
        color = "green" if abs(err) <= 25 else "yellow" if abs(err) <= 50 else "red"
        out.add_row(r.case, _fmt(r.predicted, r.unit), _fmt(r.measured, r.unit),
                    f"[{color}]{err:+.1f}[/{color}]", r.bottleneck)
    return out


def print_table(rows: list[Row], title: str = "accelsim: predicted vs measured") -> None:
    """Print :func:`table` to the terminal."""
    from rich.console import Console

    Console(width=max(120, Console().width)).print(table(rows, title))


def write_json(rows: list[Row], path: str | os.PathLike, **meta) -> str:
    """Write ``{"mape_pct": ..., "rows": [...], **meta}`` to ``path``; returns the path."""
    data = {"mape_pct": mape(rows), "cases": len(rows), **meta,
            "rows": [r.to_dict() for r in rows]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
    return os.fspath(path)


def scatter(rows: list[Row], path: str | os.PathLike, title: str = "accelsim",
            by: Callable[[Row], str] | None = None) -> str:
    """A log-log scatter of predicted against measured with the identity line, coloured by
    ``by`` (default: operator family), MAPE in the title; written as PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    key = by or (lambda r: r.op)
    for name in sorted({key(r) for r in rows}):
        mine = [r for r in rows if key(r) == name]
        ax.scatter([r.measured for r in mine], [r.predicted for r in mine], label=name, s=18)
    values = [v for r in rows for v in (r.measured, r.predicted) if v > 0]
    lo, hi = (min(values) / 2, max(values) * 2) if values else (1e-6, 1.0)
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="predicted = measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    unit = rows[0].unit if rows else "s"
    ax.set_xlabel(f"measured ({unit})")
    ax.set_ylabel(f"predicted by accelsim ({unit})")
    ax.set_title(f"{title}: MAPE {mape(rows):.1f} % ({len(rows)} cases)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def median_time(fn, *, warmup: int = 2, min_reps: int = 5, max_reps: int = 200,
                budget_s: float = 0.25) -> float:
    """Median wall time of ``fn()`` in seconds: ``warmup`` calls first, then at least
    ``min_reps`` and at most ``max_reps`` timed calls, stopping once ``budget_s`` is spent."""
    import time

    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps
                                     or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])
