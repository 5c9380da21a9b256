"""accelsim against measured PyTorch operator latencies on GPUs, beside a plain roofline.

The input is the CSV format of NeuSight's collected datasets (Lee, Phanishayee, Mahajan,
ASPLOS 2025; gzipped or not): one row per operator call with ``OPName`` (bmm, linear, ln,
softmax, gelu, add), ``Latency`` (milliseconds per call, CUDA events around one eager call),
``Device`` (the GPU's name) and the shape columns of the operator (``B, M, N, K`` for the
GEMMs, whose output is ``B x M x K``; ``B, H`` for the others); the launched kernel's name,
grid and block come with it.

Each row's device maps to a shipped preset (:data:`DEVICE_PRESETS`) and it is predicted
three ways:

* **library kernel** (``predicted``): the kernel the row launched, timed by the closed-form
  launch model (:mod:`accelsim.validate.library`), plus the eager per-call host time
  (PyTorch's dispatch and the launch) per operator family; the host time and the launch
  model's three figures are fitted on the *other* GPUs of the files (:func:`fit_for`), so
  that no GPU is judged with a figure fitted on itself;
* **best kernel** (``extra["best_s"]``): the mapper's best mapping of the operator's Einsum
  (a fused cascade for layernorm and softmax) under the latency objective, plus the same
  host time;
* **roofline**: max(operations / the chip's fp32 peak, compulsory bytes / DRAM bandwidth),
  no overhead at all (and, in the summary, the roofline plus the same host time).

:func:`summarize` gives, per operator family and GPU: rows, MAPE and the median signed
error of each.  Rows are sampled per (family, GPU) with a fixed seed: the full files hold
about 150,000 rows, and each distinct shape costs a mapping search.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import os
import random
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from accelsim.errors import SpecError
from accelsim.model.gpu_launch import Calibration, GpuFigures
from accelsim.validate.library import Launch, fit_calibration, library_s, work
from accelsim.validate.output import Row

ROOT = Path(__file__).resolve().parents[2]

DEVICE_PRESETS = {
    "Tesla P100-PCIE-16GB": "p100-pcie-16gb",
    "Tesla P4": "p4",
    "Tesla T4": "t4",
    "Tesla V100-PCIE-32GB": "v100-pcie-32gb",
    "NVIDIA A100-PCIE-40GB": "a100-pcie-40gb",
    "NVIDIA A100-SXM4-40GB": "a100-sxm4-40gb",
    "NVIDIA A100-SXM4-80GB": "a100-sxm4-80gb",
    "NVIDIA H100 80GB HBM3": "h100-sxm5-80gb",
}
"""The ``Device`` column (``torch.cuda.get_device_name``) -> the preset in hw_configs/."""

SHAPES = {"bmm": ("B", "M", "N", "K"), "linear": ("B", "M", "N", "K"), "ln": ("B", "H"),
          "softmax": ("B", "H"), "gelu": ("B", "H"), "add": ("B", "H")}
"""Operator family (``OPName``) -> its shape columns."""

EINSUMS = {
    "bmm": ("Z[b,m,n] = A[b,m,k] * W[b,k,n]", {"B": "B", "M": "M", "N": "K", "K": "N"}),
    "linear": ("Z[m,n] = A[m,k] * W[n,k]", {"M": "M", "N": "K", "K": "N"}),
    "gelu": ("Z[b,h] = gelu(A[b,h])", {"B": "B", "H": "H"}),
    "add": ("Z[b,h] = A[b,h] + W[b,h]", {"B": "B", "H": "H"}),
}
"""Single-Einsum families: the Einsum, and its rank -> the shape column giving its size.
A GEMM row's output is ``B x M x K`` and its reduction runs over ``N`` (the launched
kernels' grids show it: :mod:`accelsim.validate.library`)."""

CASCADES = {"ln": ("layernorm", {"T": "B", "D": "H"}), "softmax": ("softmax", {"R": "B", "N": "H"})}
"""Cascade families: the shipped cascade in einsum_cascades/, rank -> shape column."""

_REQUIRED = ("OPName", "Latency", "Device")


@dataclass(frozen=True)
class Measurement:
    """One measured operator call."""

    family: str
    device: str
    shape: tuple[tuple[str, int], ...]
    latency_s: float
    kernel: str = ""
    grid: tuple[int, int, int] = (0, 0, 0)
    """The launched kernel's grid (0s where the file does not give it)."""
    block: tuple[int, int, int] = (0, 0, 0)

    @property
    def launch(self) -> Launch:
        return Launch(self.kernel, self.grid, self.block)

    @property
    def sizes(self) -> dict[str, int]:
        return dict(self.shape)

    @property
    def label(self) -> str:
        return f"{self.family} " + "x".join(str(v) for _, v in self.shape)


def _open_text(path: str):
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _parse(record: dict, path: str, line: int) -> Measurement | None:
    """One CSV record, or None for an operator family this module has no model for."""
    family = record["OPName"]
    if family not in SHAPES:
        return None
    try:
        shape = tuple((c, int(record[c])) for c in SHAPES[family])
        latency = float(record["Latency"]) * 1e-3
    except (KeyError, TypeError, ValueError):
        raise SpecError(f"line {line}: expected whole numbers in {', '.join(SHAPES[family])} and "
                        f"a latency in ms, got {record!r:.200}", file=path) from None
    if not latency > 0 or any(v < 1 for _, v in shape):
        raise SpecError(f"line {line}: latency and sizes must be positive", file=path)
    grid, block = (_dims(record, what, path, line) for what in ("Grid", "Block"))
    return Measurement(family, record["Device"], shape, latency,
                       record.get("Kernel Name") or "", grid, block)


def _dims(record: dict, what: str, path: str, line: int) -> tuple[int, int, int]:
    """A launch's ``Grid x/y/z`` or ``Block x/y/z`` columns; 0s where the file has none."""
    texts = [record.get(f"{what} {axis}") or "" for axis in "xyz"]
    if not all(texts):
        return (0, 0, 0)
    try:
        return tuple(int(float(t)) for t in texts)
    except ValueError:
        raise SpecError(f"line {line}: expected whole numbers in {what} x/y/z, got "
                        f"{texts!r}", file=path) from None


def read_measurements(path: str | os.PathLike) -> list[Measurement]:
    """The rows of a measurement CSV (gzipped or not) whose operator this module models."""
    path = str(path)
    try:
        handle = _open_text(path)
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=path) from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise SpecError(f"missing column(s) {', '.join(missing)}; expected a CSV with "
                            f"{', '.join(_REQUIRED)} and shape columns", file=path)
        parsed = (_parse(rec, path, i + 2) for i, rec in enumerate(reader))
        return [m for m in parsed if m is not None]


def sample(rows: Iterable[Measurement], per_group: int | None, seed: int = 0) -> list[Measurement]:
    """At most ``per_group`` rows of each (family, device), drawn with ``seed`` (all rows
    when ``per_group`` is None), in the order read."""
    groups: dict[tuple[str, str], list[int]] = {}
    rows = list(rows)
    for i, m in enumerate(rows):
        groups.setdefault((m.family, m.device), []).append(i)
    rng = random.Random(seed)
    keep: set[int] = set()
    for key in sorted(groups):
        idx = groups[key]
        keep.update(idx if per_group is None or len(idx) <= per_group
                    else rng.sample(idx, per_group))
    return [m for i, m in enumerate(rows) if i in keep]


def target(m: Measurement):
    """The Einsum (a BoundEinsum) or cascade (a BoundCascade) of a measurement, in fp32."""
    from accelsim.ir import Einsum, load_cascade
    from accelsim.mapping import BoundEinsum
    from accelsim.search import BoundCascade

    sizes = m.sizes
    if m.family in EINSUMS:
        text, ranks = EINSUMS[m.family]
        einsum = Einsum.parse(text)
        return BoundEinsum(einsum, {r: sizes[c] for r, c in ranks.items()},
                           {t: "fp32" for t in (*einsum.inputs, einsum.name)},
                           {"A": "input", "W": "weight", "Z": "output"})
    name, ranks = CASCADES[m.family]
    cascade = load_cascade(ROOT / "einsum_cascades" / f"{name}.yaml")
    return BoundCascade(cascade, {r: sizes[c] for r, c in ranks.items()},
                        {t: "fp32" for t in cascade.tensors})


def roofline_s(m: Measurement, arch) -> float:
    """max(operations / fp32 peak, compulsory bytes / DRAM bandwidth): a multiply-add counts
    two operations at the fp32 FMA rate, every other operation one; each input is read and
    each output written once, 4 bytes an element."""
    from accelsim.model import unit_for, unit_rate

    ops, elements = work(m.family, m.sizes)
    unit = unit_for(arch, "mac", "fp32")
    peak = 2 * unit_rate(unit, "fp32") * unit.count * arch.clock_hz       # FLOP/s
    dram = arch.levels[0].read_bytes_per_cycle * arch.clock_hz             # B/s
    return max(ops / peak, 4 * elements / dram)


class Prediction(NamedTuple):
    """accelsim's best mapping of a measured operator."""

    device_s: float
    """Time on the GPU: every kernel's latency less its launch overhead."""
    kernels: int
    bottleneck: str
    """The slowest kernel's bottleneck."""


def predict(m: Measurement, arch, budget: int) -> Prediction:
    """accelsim's best mapping of a measurement under the latency objective (a cascade:
    its best partition into fused kernels)."""
    from accelsim.search import CascadeResult, search

    found = search(target(m), arch, objective="latency", budget=budget, seed=0, progress=False)
    reports = ([g.report for g in found.groups] if isinstance(found, CascadeResult)
               else [found.report])
    slowest = max(reports, key=lambda r: r.latency_s)
    device = sum(r.latency_s for r in reports) - len(reports) * arch.launch_overhead_s
    return Prediction(device, len(reports), slowest.bottleneck)


CACHE_VERSION = "out=BxMxK;units-turns;shared-inputs"
"""Part of every cache key, changed with the model's meaning: predictions made before GEMM
rows were read with their output ``B x M x K`` (reduction over ``N``), before GPU units
took turns, or before fused groups read a shared input once, are not reused.  The key
also carries a digest of the preset file, so that an edited preset is predicted again."""


@functools.lru_cache(maxsize=None)
def _digest(path: str | None) -> str:
    """A short digest of a preset file's bytes ('-' without a file), read once per run."""
    if path is None:
        return "-"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


class PredictionCache:
    """Predictions by (preset, shape, budget), optionally kept in a JSON-lines file that
    each new prediction is appended to at once: an interrupted run loses nothing, and a
    rerun with the same file and budget predicts only what is missing."""

    def __init__(self, path: str | os.PathLike | None = None, budget: int = 300):
        self.path, self.budget = path, budget
        self.known: dict[str, Prediction] = {}
        if path is not None and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        item = json.loads(line)
                        key = item.pop("key")
                        self.known[key] = Prediction(**item)

    def get(self, preset: str, m: Measurement, arch) -> Prediction:
        key = f"{preset}@{_digest(arch.file)}|{m.label}|budget={self.budget}|{CACHE_VERSION}"
        if key not in self.known:
            self.known[key] = predict(m, arch, self.budget)
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, **self.known[key]._asdict()}) + "\n")
        return self.known[key]


DISPATCH_QUANTILE = 0.05
"""The quantile of a GPU's latencies of one operator taken as its per-call floor."""


def fit_dispatch(rows: Iterable[Measurement], held_out: str) -> dict[str, float]:
    """Per operator family, the eager per-call time on the host (PyTorch's dispatch, the
    launch, the events), fitted on every device but ``held_out``.

    The events around one eager call time the host's work to launch it plus the kernel
    (the stream is idle when the first event is recorded, so the GPU waits for the
    launch).  The fastest calls of an operator are almost all host time: the fit is, per
    family, the median over the other devices of each one's 5th-percentile latency.
    Families no other device measured get none."""
    per: dict[tuple[str, str], list[float]] = {}
    for m in rows:
        if m.device != held_out:
            per.setdefault((m.family, m.device), []).append(m.latency_s)
    floors: dict[str, list[float]] = {}
    for (family, _), values in per.items():
        values.sort()
        floors.setdefault(family, []).append(values[int(DISPATCH_QUANTILE * (len(values) - 1))])
    return {family: statistics.median(v) for family, v in floors.items()}


def _read_all(paths) -> list[Measurement]:
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    return [m for path in paths for m in read_measurements(path)]


def _select(every: list[Measurement], gpu: str | None, where: str) -> list[Measurement]:
    rows = every if gpu is None else [m for m in every
                                      if gpu in (m.device, DEVICE_PRESETS.get(m.device))]
    if not rows:
        raise SpecError(f"no rows for GPU {gpu!r}", file=where)
    unknown = sorted({m.device for m in rows} - set(DEVICE_PRESETS))
    if unknown:
        raise SpecError(f"no preset for device(s) {', '.join(unknown)}; known: "
                        f"{', '.join(DEVICE_PRESETS)}", file=where)
    return rows


class Fitted(NamedTuple):
    """What is fitted for one judged GPU, on the file's other GPUs only."""

    host: dict[str, float]
    """Per-call host time per family (:func:`fit_dispatch`)."""
    calibration: Calibration
    """The launch model's figures (:func:`accelsim.validate.library.fit_calibration`)."""


def fit_for(every: list[Measurement], device: str, figures: dict) -> Fitted:
    """The fitted figures that judge ``device``: all fitted on the other devices' rows."""
    host = fit_dispatch(every, device)
    return Fitted(host, fit_calibration(every, device, figures, host))


def compare(paths, gpu: str | None = None, per_group: int | None = 20,
            budget: int = 300, progress: Callable[[int, int], None] | None = None,
            cache: PredictionCache | None = None) -> list[Row]:
    """Predicted-vs-measured rows for a sample of one or more measurement files; ``gpu``:
    only rows of that device (its ``Device`` name or preset).

    ``predicted`` is the library-kernel mode: the launched kernel's time
    (:mod:`accelsim.validate.library`) plus the per-call host time, both fitted on the
    files' other devices.  ``extra`` holds the best-kernel mode (``best_s``: the mapper's
    best mapping plus the same host time), the roofline, and what was fitted.  Where no
    other device measured a family, the host time is the kernels' launch overheads."""
    from accelsim.arch import load_architecture

    every = _read_all(paths)
    chosen = sample(_select(every, gpu, str(paths)), per_group)
    archs = {p: load_architecture(str(ROOT / "hw_configs" / f"{p}.yaml"))
             for p in {DEVICE_PRESETS[m.device] for m in every if m.device in DEVICE_PRESETS}}
    figures = {d: GpuFigures.from_arch(archs[p]) for d, p in DEVICE_PRESETS.items() if p in archs}
    fitted = {d: fit_for(every, d, figures) for d in sorted({m.device for m in chosen})}
    cache = cache or PredictionCache(budget=budget)
    out = []
    for i, m in enumerate(chosen):
        preset, fit = DEVICE_PRESETS[m.device], fitted[m.device]
        arch = archs[preset]
        p = cache.get(preset, m, arch)
        lib_s, lib_kernels = library_s(m.family, m.sizes, m.launch, figures[m.device],
                                       fit.calibration)
        host = fit.host.get(m.family)
        out.append(Row(case=m.label, op=m.family,
                       predicted=lib_s + (lib_kernels * arch.launch_overhead_s
                                          if host is None else host),
                       measured=m.latency_s, bottleneck=p.bottleneck, source=m.device,
                       notes=m.kernel[:60],
                       extra={"gpu": preset, "device_s": lib_s, "kernels": lib_kernels,
                              "dispatch_s": host, "best_device_s": p.device_s,
                              "best_s": p.device_s + (p.kernels * arch.launch_overhead_s
                                                      if host is None else host),
                              "roofline_s": roofline_s(m, arch),
                              "calibration": fit.calibration._asdict()}))
        if progress:
            progress(i + 1, len(chosen))
    return out


@dataclass(frozen=True)
class FamilyError:
    """One (family, GPU) cell of the accuracy table; errors in percent."""

    family: str
    gpu: str
    rows: int
    mape: float
    """Library-kernel mode (the launched kernel's time plus the host time)."""
    median_signed: float
    best_mape: float
    """Best-kernel mode (the mapper's best mapping plus the same host time)."""
    best_median_signed: float
    roofline_mape: float
    roofline_median_signed: float
    host_roofline_mape: float
    """The roofline plus the same per-call host time as accelsim's prediction."""


def _errors(predicted: list[float], measured: list[float]) -> tuple[float, float]:
    signed = [100.0 * (p - m) / m for p, m in zip(predicted, measured)]
    return statistics.fmean(abs(e) for e in signed), statistics.median(signed)


def _host_roofline(r: Row) -> float:
    """The roofline plus the host time the prediction added (launch overheads without one)."""
    return r.extra["roofline_s"] + r.predicted - r.extra["device_s"]


def summarize(rows: list[Row]) -> list[FamilyError]:
    """Per operator family and GPU (and per family over all GPUs, gpu ``all``): MAPE and
    median signed error of both of accelsim's modes and of the roofline, and the MAPE of
    the roofline plus accelsim's per-call host time."""
    cells: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        cells.setdefault((r.op, r.extra["gpu"]), []).append(r)
        cells.setdefault((r.op, "all"), []).append(r)
    out = []
    for (family, gpu), group in sorted(cells.items()):
        measured = [r.measured for r in group]
        ours = _errors([r.predicted for r in group], measured)
        best = _errors([r.extra["best_s"] for r in group], measured)
        roof = _errors([r.extra["roofline_s"] for r in group], measured)
        host = _errors([_host_roofline(r) for r in group], measured)[0]
        out.append(FamilyError(family, gpu, len(group), *ours, *best, *roof, host))
    return out


def format_summary(cells: list[FamilyError]) -> str:
    """The accuracy table as plain text, one line per (family, GPU)."""
    lines = [f"{'family':<8} {'gpu':<16} {'rows':>5} {'lib MAPE':>9} {'lib med':>8} "
             f"{'best MAPE':>10} {'best med':>9} {'roof MAPE':>10} {'roof med':>9} "
             f"{'roof+host':>10}"]
    for c in cells:
        lines.append(f"{c.family:<8} {c.gpu:<16} {c.rows:>5} {c.mape:>8.1f}% "
                     f"{c.median_signed:>+7.1f}% {c.best_mape:>9.1f}% "
                     f"{c.best_median_signed:>+8.1f}% {c.roofline_mape:>9.1f}% "
                     f"{c.roofline_median_signed:>+8.1f}% {c.host_roofline_mape:>9.1f}%")
    return "\n".join(lines)
