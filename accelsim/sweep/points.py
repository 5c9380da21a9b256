"""Expand a ``kind: sweep`` spec into points: one hardware variant x workload x phase each.

A parameter is a dotted path into the hardware YAML's data (``levels[1].capacity``,
``clock``, ``compute[0].instances``; a list index may also be an element's name,
``levels[W_SRAM].capacity``).  Each value is written into a copy of the data before
validation, so every point's hardware is validated like a hand-written file; a path that
does not exist or a value the hardware spec refuses is a :class:`SpecError` naming the sweep
file and the parameter.  Each workload and phase is one :class:`~accelsim.lower.Request`
(``Request.for_workload``: the sweep's ``seq_len`` is the prompt, and in decode the KV-cache
length).  Every point gets a stable id: a hash of its parameter values, workload, phase,
batch and sequence length, so a rerun can skip what is already done.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import random
import re
from dataclasses import dataclass
from typing import Any, Iterator

from accelsim.arch import Architecture
from accelsim.errors import AccelsimError, SpecError, SpecErrors
from accelsim.lower import Request
from accelsim.spec.load import read_document, validate_document
from accelsim.spec.sweep import SweepSpec
from accelsim.yamlio import Document

_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]+)\]")


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: everything a worker needs to evaluate it."""

    id: str
    """Stable hash of the parameter values, workload, phase, batch and sequence length."""
    parameters: dict[str, Any]
    """Parameter path -> value, in the sweep file's order."""
    workload: str
    """The workload as the sweep file names it."""
    workload_file: str
    """Its absolute path."""
    request: Request
    """Phase, batch and lengths (the prompt length None: a ViT's patches + 1)."""
    arch: Architecture
    seed: int


@dataclass(frozen=True)
class Sweep:
    """A validated sweep spec with its file and its expanded points."""

    spec: SweepSpec
    file: str
    points: tuple[SweepPoint, ...]

    @property
    def output(self) -> str:
        """The output file named by the spec, relative to the working directory (not to the
        sweep file: results do not land among the shipped specs, and `plot pareto NAME`
        finds them where the command ran)."""
        return os.path.abspath(self.spec.output)


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file and expand its points (hardware validated per point)."""
    file = os.fspath(path)
    doc, _ = read_document(file, expected="sweep")
    spec = validate_document(doc, "sweep")
    assert isinstance(spec, SweepSpec)
    base_dir = os.path.dirname(os.path.abspath(file))
    hw_file = os.path.join(base_dir, spec.hardware)
    try:
        hw_doc, _ = read_document(hw_file, expected="hardware")
    except SpecError as exc:
        raise SpecError(f"hardware {spec.hardware!r}: {exc}", file=file, path="hardware") from None
    workloads, requests = {}, {}
    for i, name in enumerate(spec.workloads):
        workloads[name] = os.path.join(base_dir, name)
        if not os.path.isfile(workloads[name]):
            raise SpecError(f"no such workload file {name!r}", file=file, path=f"workloads[{i}]")
        for phase in spec.phases:
            requests[name, phase] = Request.for_workload(workloads[name], phase=phase,
                                                         batch=spec.batch, seq_len=spec.seq_len)
    points = []
    archs: dict[tuple, Architecture] = {}
    for values, workload, phase in _combinations(spec):
        key = tuple(_freeze(v) for v in values)
        if key not in archs:
            archs[key] = _variant(hw_doc, spec, values, file)
        params = dict(zip(spec.parameters, values))
        request = requests[workload, phase]
        points.append(SweepPoint(
            id=point_id(params, workload, request), parameters=params, workload=workload,
            workload_file=workloads[workload], request=request, arch=archs[key],
            seed=spec.seed))
    return Sweep(spec=spec, file=file, points=tuple(points))


def point_id(parameters: dict[str, Any], workload: str, request: Request) -> str:
    """A 16-hex-digit hash that names a point across runs (its ``seq_len`` is the request's
    prompt length in prefill, its KV-cache length in decode)."""
    text = json.dumps({"parameters": parameters, "workload": workload,
                       "phase": request.phase, "batch": request.batch,
                       "seq_len": request.length}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _combinations(spec: SweepSpec) -> Iterator[tuple[tuple, str, str]]:
    """(parameter values, workload, phase) for every grid point or ``samples`` random ones."""
    axes = [list(v) for v in spec.parameters.values()] + [spec.workloads, spec.phases]
    if spec.mode == "grid":
        for combo in itertools.product(*axes):
            yield tuple(combo[:-2]), combo[-2], combo[-1]
        return
    total = math.prod(len(a) for a in axes)
    picks = random.Random(spec.seed).sample(range(total), min(spec.samples or 0, total))
    for index in sorted(picks):
        combo = []
        for axis in reversed(axes):
            index, pos = divmod(index, len(axis))
            combo.append(axis[pos])
        combo.reverse()
        yield tuple(combo[:-2]), combo[-2], combo[-1]


def _variant(hw_doc: Document, spec: SweepSpec, values: tuple, sweep_file: str) -> Architecture:
    """The hardware with ``values`` written at the parameter paths, validated and converted."""
    data = copy.deepcopy(hw_doc.data)
    for (path, value) in zip(spec.parameters, values):
        try:
            _assign(data, path, value)
        except SpecError as exc:
            raise SpecError(exc.message, file=sweep_file, path=f"parameters.{path}") from None
    what = ", ".join(f"{p} = {v!r}" for p, v in zip(spec.parameters, values))
    try:
        hw = validate_document(Document(data, hw_doc.file, hw_doc.node), "hardware")
        return Architecture.from_spec(hw, file=hw_doc.file)
    except SpecErrors as exc:
        problems = "; ".join(f"{e.location.path or ''}: {e.message}" for e in exc.errors)
        raise SpecError(f"hardware {spec.hardware!r} with {what} is invalid: {problems}",
                        file=sweep_file, path="parameters") from None
    except AccelsimError as exc:
        raise SpecError(f"hardware {spec.hardware!r} with {what} is invalid: {exc}",
                        file=sweep_file, path="parameters") from None


def _assign(data: Any, path: str, value: Any) -> None:
    """Write ``value`` at the dotted ``path`` of ``data``; every step but the last must exist."""
    steps = _parse_path(path)
    node = data
    for depth, step in enumerate(steps):
        last = depth == len(steps) - 1
        if isinstance(node, dict) and isinstance(step, str):
            if last:
                node[step] = value
                return
            if step not in node:
                raise SpecError(f"no field {step!r} in the hardware spec (path {path!r})")
            node = node[step]
        elif isinstance(node, list):
            index = _index(node, step, path)
            if last:
                node[index] = value
                return
            node = node[index]
        else:
            raise SpecError(f"cannot follow {path!r}: {_show(step)} does not apply to a "
                            f"{'mapping' if isinstance(node, dict) else 'value'}")


def _show(step: Any) -> str:
    if isinstance(step, str):
        return repr(step)
    return f"[{step[1] if isinstance(step, tuple) else step}]"


def _parse_path(path: str) -> list[Any]:
    steps: list[Any] = []
    pos = 0
    while pos < len(path):
        match = _STEP.match(path, pos)
        if not match or (match.group(1) and pos and path[pos] != "."):
            raise SpecError(f"bad parameter path {path!r} (expected e.g. 'levels[1].capacity')")
        if match.group(1):
            steps.append(match.group(1))
        else:
            text = match.group(2).strip()
            steps.append(int(text) if text.lstrip("-").isdigit() else ("name", text))
        pos = match.end()
    if not steps or not isinstance(steps[0], str):
        raise SpecError(f"bad parameter path {path!r} (expected e.g. 'levels[1].capacity')")
    return steps


def _index(items: list, step: Any, path: str) -> int:
    if isinstance(step, int):
        if not 0 <= step < len(items):
            raise SpecError(f"index {step} in {path!r} is out of range (the list has "
                            f"{len(items)} entries)")
        return step
    if isinstance(step, tuple):
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("name") == step[1]:
                return i
        names = [str(item.get("name")) for item in items if isinstance(item, dict)]
        raise SpecError(f"no entry named {step[1]!r} in {path!r}; names: {', '.join(names)}")
    raise SpecError(f"{path!r}: {step!r} names a field of a list; use an index like [1]")


def _freeze(value: Any) -> Any:
    return json.dumps(value, sort_keys=True)
