"""Peak SRAM of a schedule, from tensor lifetimes (microcontrollers).

A microcontroller runs a lowered workload one Einsum at a time, in an order (by default the
cascade's topological order, :attr:`accelsim.ir.Cascade.order`).  Weights (role ``weight``)
stay in flash and are read in place; every other tensor -- the cascade's inputs (the hidden
state ``X``, an image's patches, a KV cache), its intermediates and its outputs -- lives in
SRAM, whole, as the lowering materializes it (an int8 GEMM's int32 result ``QP`` included).

Lifetimes, over the positions 0 .. n-1 of the order:

* a tensor is live from the step that writes it to the last step that reads it, both
  included; a cascade input from step 0, a cascade output to step n-1 (it is handed on to
  the next cascade: ``EMB -> X``, ``Y -> X``, ``Y -> HID``); a tensor nobody reads is live at
  its own step only;
* the Einsums of an iteration group (:attr:`accelsim.ir.Step.iterate`) run interleaved, step
  by step of the iterated rank, so a tensor first or last touched inside a group is live
  over the whole group;
* the bytes a step needs are the sum of the bytes of the tensors live at it, less what a
  reuse saves (below): an allocator without fragmentation, the lower bound on the arena.

Two reuses, each switchable, each applied only at a step where an input of the Einsum (the
*donor*) dies (that step is its last) and the Einsum is not part of an iteration:

* **in place** (``in_place``): an element-wise Einsum -- no reduction, and every read of the
  donor indexed exactly as the output (``H1[b,t,d] = X[b,t,d] + AO[b,t,d]``) -- whose output
  has the donor's shape and element type writes each element over the one it has just read:
  the output costs no bytes at that step;
* **token overwriting** (``overwrite``), after MCUFormer (Liang et al., "MCUFormer: Deploying
  Vision Transformers on Microcontrollers with Limited Memory", NeurIPS 2023, whose operator
  library overwrites a layer's input tokens with its output tokens).  Rule implemented here:
  let the *row* be the output's longest index prefix of plain variables that every read of
  the donor shares, position for position (``b, t`` for ``QP[b,t,kh,g,e] = XN1[b,t,d] *
  WQ[d,kh,g,e]``: output row t depends on donor row t only; the whole index for an
  element-wise Einsum).  Computing one output row into a one-row buffer and then writing it
  over the donor's storage, row after row, needs ``max(donor, output) + one output row``
  bytes for the pair instead of ``donor + output``; the step saves ``min(donor, output) -
  one output row`` when that is positive.  (When the output rows are longer, the donor is
  placed at the top of a ``max`` sized buffer and row r of the output, written from the
  bottom, never reaches a donor row not yet read.)  An Einsum whose donor row is the whole
  tensor (no shared prefix, or a shifted index such as ``t-1``) saves nothing.

When both reuses apply at a step, the one saving more is taken (in place, when it applies).

Public API::

    profile = sram_profile(lowered, in_place=True, overwrite=True)   # whole model
    profile.peak_bytes, profile.peak_step.einsum, profile.peak_step.part
    profile.part_peaks          # {'layer': ...} (every layer has the same profile)
    profile.fits(320 * 1024)
    steps = cascade_profile(cascade, sizes={...}, roles={"W1": "weight"}, order=[...])
    fit = sram_fit("hw_configs/stm32f746.yaml", "workloads/deit-tiny.yaml")  # on a preset
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from accelsim.arch import Architecture, load_architecture
from accelsim.dtypes import element_bytes
from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, affine
from accelsim.ir.expr import ExprError
from accelsim.lower import Lowered, Request, load_workload, lower

PARTS = ("pre", "layer", "post")
"""Cascades of a lowered workload, in execution order."""


@dataclass(frozen=True)
class Lifetime:
    """The steps (positions in the order) between which a tensor occupies SRAM."""

    tensor: str
    first: int
    last: int
    bytes: float


@dataclass(frozen=True)
class Reuse:
    """Storage an Einsum's output shares with a donor input that dies at its step."""

    kind: str
    """``in-place`` or ``overwrite`` (token overwriting); see the module docstring."""
    donor: str
    """The input whose storage the output takes over."""
    saved_bytes: float
    """Bytes the step needs less than with donor and output apart."""
    row_bytes: float
    """Bytes of the one-row buffer token overwriting needs (0 in place)."""


@dataclass(frozen=True)
class StepUse:
    """One Einsum of the schedule and the SRAM it needs while it runs."""

    part: str
    """``pre`` (embeddings), ``layer`` or ``post`` (final norm, head)."""
    position: int
    """Position in its cascade's order."""
    einsum: str
    live_bytes: float
    """Bytes of the live tensors, less the reuse's saving."""
    live: tuple[str, ...]
    """Tensors live at this step, in the order they became live."""
    reuse: Reuse | None


@dataclass(frozen=True)
class SramProfile:
    """The SRAM profile of a whole lowered workload (see the module docstring)."""

    name: str
    layers: int
    """How many times the layer part runs (each run has the same profile)."""
    steps: tuple[StepUse, ...]
    """Every step of the pre, layer and post cascades, in execution order (the layer once)."""
    in_place: bool
    overwrite: bool

    @property
    def peak_step(self) -> StepUse:
        """The first step that needs the most bytes."""
        return max(self.steps, key=lambda s: s.live_bytes)

    @property
    def peak_bytes(self) -> float:
        return self.peak_step.live_bytes

    @property
    def part_peaks(self) -> dict[str, float]:
        """Peak bytes of each part present (``layer``: the peak of every one of the layers)."""
        peaks: dict[str, float] = {}
        for step in self.steps:
            peaks[step.part] = max(peaks.get(step.part, 0.0), step.live_bytes)
        return peaks

    def fits(self, capacity_bytes: float) -> bool:
        """Whether the peak fits in ``capacity_bytes`` of SRAM."""
        return self.peak_bytes <= capacity_bytes


# ----------------------------------------------------------------------------- the order

def schedule_order(cascade: Cascade, order: Sequence[str] | None = None) -> tuple[int, ...]:
    """Einsum indices in execution order: the cascade's own order, or ``order`` (Einsum
    names) after checking that it runs every Einsum once, each after the Einsums it reads
    from, and keeps every iteration group together."""
    if order is None:
        return cascade.order
    names = [e.name for e in cascade.einsums]
    unknown = [n for n in order if n not in cascade.writers]
    if unknown or sorted(order) != sorted(names):
        raise SpecError(f"order of {cascade.name}: expected each of {', '.join(names)} once, "
                        f"got {', '.join(order)}", path="order")
    indices = tuple(cascade.writers[n] for n in order)
    position = {i: p for p, i in enumerate(indices)}
    step_of = {i: k for k, step in enumerate(cascade.schedule) for i in step.einsums}
    for i, j in cascade.graph.edges:
        if step_of[i] != step_of[j] and position[i] > position[j]:
            raise SpecError(f"order of {cascade.name}: {names[j]} reads "
                            f"{', '.join(cascade.graph.edges[i, j]['tensors'])} before "
                            f"{names[i]} writes it", path="order")
    for step in cascade.schedule:
        spots = sorted(position[i] for i in step.einsums)
        if spots[-1] - spots[0] != len(spots) - 1:
            raise SpecError(f"order of {cascade.name}: the iteration over {step.iterate} "
                            f"({', '.join(names[i] for i in step.einsums)}) must run "
                            "together", path="order")
    return indices


# ----------------------------------------------------------------------------- lifetimes

def tensor_lifetimes(cascade: Cascade, order: Sequence[int], sizes: Mapping[str, int],
                     roles: Mapping[str, str]) -> dict[str, Lifetime]:
    """Lifetime of every tensor held in SRAM (all but weights), by the module's rules."""
    spans: dict[str, tuple[int, int]] = {}
    for position, i in enumerate(order):
        e = cascade.einsums[i]
        for tensor in (e.name, *e.inputs):
            if roles.get(tensor) == "weight":
                continue
            first, last = spans.get(tensor, (position, position))
            spans[tensor] = (min(first, position), max(last, position))
    end = len(order) - 1
    for tensor in cascade.inputs:
        if tensor in spans:
            spans[tensor] = (0, spans[tensor][1])
    for tensor in cascade.outputs:
        if tensor in spans:
            spans[tensor] = (spans[tensor][0], end)
    position_of = {i: p for p, i in enumerate(order)}
    for group in _groups(cascade):
        lo, hi = min(position_of[i] for i in group), max(position_of[i] for i in group)
        for tensor, (first, last) in spans.items():
            spans[tensor] = (lo if lo <= first <= hi else first, hi if lo <= last <= hi else last)
    return {t: Lifetime(t, first, last, cascade.tensors[t].bytes(sizes))
            for t, (first, last) in spans.items()}


def _groups(cascade: Cascade) -> list[tuple[int, ...]]:
    """The Einsums of each iteration group (an iterative Einsum alone is a group of one)."""
    return [step.einsums for step in cascade.schedule if step.iterate is not None]


# ----------------------------------------------------------------------------- reuse

def _variables(indices) -> list[str | None]:
    """Each index's plain variable (``t``), or None for anything else (``t-1``, ``m1*M0+m0``)."""
    found = []
    for index in indices:
        try:
            found.append(affine(index).plain_variable())
        except ExprError:
            found.append(None)
    return found


def _shared_prefix(e: Einsum, donor: str) -> int:
    """Length of the output's index prefix of plain variables that every read of ``donor``
    repeats position for position."""
    out = _variables(e.output.indices)
    shared = len(out)
    for access in e.reads:
        if access.tensor != donor:
            continue
        read = _variables(access.indices)
        k = 0
        while k < min(len(out), len(read)) and out[k] is not None and out[k] == read[k]:
            k += 1
        shared = min(shared, k)
    return shared


def _in_place(e: Einsum, donor: str, cascade: Cascade, sizes: Mapping[str, int]) -> bool:
    """Element-wise, every read of the donor indexed as the output, same shape and type."""
    out, source = cascade.tensors[e.name], cascade.tensors[donor]
    same_reads = all(_variables(a.indices) == _variables(e.output.indices)
                     for a in e.reads if a.tensor == donor)
    return (e.reduce is None and same_reads and None not in _variables(e.output.indices)
            and out.extents(sizes) == source.extents(sizes) and out.dtype == source.dtype)


def _overwrite(e: Einsum, donor: Lifetime, output: Lifetime, cascade: Cascade,
               sizes: Mapping[str, int]) -> Reuse | None:
    """Token overwriting of ``donor`` by the output, row by row (module docstring)."""
    k = _shared_prefix(e, donor.tensor)
    out = cascade.tensors[e.name]
    if k == 0 or out.state_dim is not None or cascade.tensors[donor.tensor].state_dim is not None:
        return None
    row = math.prod(out.extents(sizes)[k:]) * element_bytes(out.dtype)
    saved = min(donor.bytes, output.bytes) - row
    return Reuse("overwrite", donor.tensor, float(saved), float(row)) if saved > 0 else None


def step_reuse(cascade: Cascade, index: int, position: int, lifetimes: Mapping[str, Lifetime],
               sizes: Mapping[str, int], *, in_place: bool = True,
               overwrite: bool = True) -> Reuse | None:
    """The reuse that saves most at Einsum ``index`` (at ``position``), or None."""
    e = cascade.einsums[index]
    if e.iterate or any(index in group for group in _groups(cascade)):
        return None
    best: Reuse | None = None
    for donor in e.inputs:
        life = lifetimes.get(donor)
        if donor == e.name or life is None or life.last != position or donor in cascade.outputs:
            continue
        found = None
        if in_place and _in_place(e, donor, cascade, sizes):
            found = Reuse("in-place", donor, float(lifetimes[e.name].bytes), 0.0)
        elif overwrite:
            found = _overwrite(e, life, lifetimes[e.name], cascade, sizes)
        if found is not None and (best is None or found.saved_bytes > best.saved_bytes):
            best = found
    return best


# ----------------------------------------------------------------------------- profiles

def cascade_profile(cascade: Cascade, *, sizes: Mapping[str, int] | None = None,
                    roles: Mapping[str, str] | None = None,
                    order: Sequence[str] | None = None, in_place: bool = True,
                    overwrite: bool = True, part: str = "layer") -> tuple[StepUse, ...]:
    """The SRAM each Einsum of one cascade needs while it runs, in execution order.

    ``sizes`` override the cascade's rank sizes; ``roles`` name the weights (role
    ``weight``: in flash, not counted); ``order`` is a list of Einsum names (default: the
    cascade's topological order).
    """
    resolved = cascade.sizes(**dict(sizes or {}))
    roles = dict(roles or {})
    indices = schedule_order(cascade, order)
    lifetimes = tensor_lifetimes(cascade, indices, resolved, roles)
    steps = []
    for position, index in enumerate(indices):
        live = sorted((life for life in lifetimes.values()
                       if life.first <= position <= life.last),
                      key=lambda life: (life.first, life.tensor))
        reuse = step_reuse(cascade, index, position, lifetimes, resolved,
                           in_place=in_place, overwrite=overwrite)
        total = sum(life.bytes for life in live) - (reuse.saved_bytes if reuse else 0.0)
        steps.append(StepUse(part, position, cascade.einsums[index].name, float(total),
                             tuple(life.tensor for life in live), reuse))
    return tuple(steps)


def sram_profile(lowered: Lowered, *, orders: Mapping[str, Sequence[str]] | None = None,
                 in_place: bool = True, overwrite: bool = True) -> SramProfile:
    """The SRAM profile of a lowered workload: its pre, layer and post cascades in turn.

    ``orders`` maps a part (``pre``, ``layer``, ``post``) to the Einsum names in the order
    they run; parts left out run in their cascade's topological order.
    """
    orders = dict(orders or {})
    unknown = [p for p in orders if p not in PARTS]
    if unknown:
        raise SpecError(f"orders: unknown part {unknown[0]!r}; expected one of "
                        f"{', '.join(PARTS)}", path="orders")
    steps: list[StepUse] = []
    for part, cascade in zip(PARTS, (lowered.pre, lowered.layer, lowered.post)):
        if cascade is None:
            if part in orders:
                raise SpecError(f"orders: {lowered.name} has no {part} cascade",
                                path=f"orders.{part}")
            continue
        steps += cascade_profile(cascade, roles=lowered.roles,
                                 order=orders.get(part), in_place=in_place,
                                 overwrite=overwrite, part=part)
    return SramProfile(lowered.name, lowered.layers, tuple(steps), in_place, overwrite)


# ----------------------------------------------------------------------------- on an MCU

@dataclass(frozen=True)
class SramFit:
    """A workload's peak SRAM on a preset, against the preset's SRAM capacity."""

    workload: str
    hardware: str
    level: str
    """The level(s) whose capacity the peak is held against (``SRAM``, or ``SRAM+DTCM``)."""
    capacity_bytes: float
    peak_bytes: float
    einsum: str
    """The Einsum whose step sets the peak."""
    part: str
    """Its part: ``pre``, ``layer`` or ``post``."""
    fits: bool
    note: str
    profile: SramProfile

    def to_dict(self) -> dict:
        """A JSON-serializable dict (the profile's steps included)."""
        return asdict(self)


def sram_level(arch: Architecture, names: str | Sequence[str] | None = None
               ) -> tuple[str, float]:
    """The level(s) that hold activations and their capacity, added up: the levels named in
    ``names``; by default the level called ``SRAM`` (any case), else the outermost level
    below the backing store that may keep intermediates."""
    if names is not None:
        chosen = [arch.levels[arch.level_index(n)] for n in
                  ([names] if isinstance(names, str) else list(names))]
    else:
        chosen = [lv for lv in arch.levels if lv.name.lower() == "sram"][:1] or \
            [lv for lv in arch.levels[1:] if lv.may_keep("", "intermediate")][:1]
    if not chosen:
        raise SpecError(f"{arch.name} has no level called SRAM and no on-chip level that keeps "
                        f"intermediates; name one (levels: "
                        f"{', '.join(lv.name for lv in arch.levels)})", file=arch.file)
    return "+".join(lv.name for lv in chosen), sum(lv.capacity_bytes for lv in chosen)


def sram_fit(hardware: Any, workload: Any, request: Request | None = None, *,
             level: str | Sequence[str] | None = None, in_place: bool = True,
             overwrite: bool = True) -> SramFit:
    """Lower ``workload`` for ``request`` and hold its peak SRAM against ``hardware``'s SRAM
    level (:func:`sram_level`; ``level`` names other levels, whose capacities add up).

    ``request`` defaults to an int8 prefill of the workload's default prompt with the
    attention of unfused kernels (``Request.for_workload(workload, dtype="int8",
    fuse=False)``: flash2), as the schedule runs one Einsum after another.
    """
    arch = hardware if isinstance(hardware, Architecture) else load_architecture(str(hardware))
    spec = load_workload(workload)
    if request is None:
        request = Request.for_workload(spec, dtype="int8", fuse=False)
    lowered = lower(spec, request)
    profile = sram_profile(lowered, in_place=in_place, overwrite=overwrite)
    name, capacity = sram_level(arch, level)
    peak = profile.peak_step
    fits = profile.fits(capacity)
    reuses = ", ".join(r for r, on in (("in place", in_place), ("token overwriting", overwrite))
                       if on) or "no reuse"
    note = (f"peak SRAM {peak.live_bytes:,.0f} B at {peak.einsum} ({peak.part}; {reuses}) "
            f"{'<=' if fits else '>'} {name} {capacity:,.0f} B")
    return SramFit(workload=spec.name, hardware=arch.name, level=name, capacity_bytes=capacity,
                   peak_bytes=peak.live_bytes, einsum=peak.einsum, part=peak.part, fits=fits,
                   note=note, profile=profile)
