"""A whole workload on a machine: lower it, map every Einsum, evaluate, and add up.

``evaluate_workload(hardware, workload, request)`` is what ``accelsim evaluate HW WORKLOAD``
runs; the :class:`~accelsim.lower.Request` says what to evaluate (phase, batch, lengths,
element types, attention variant, fusion, ends) and holds every default.  The lowered layer
(and the embedding and LM-head cascades, when asked for) is searched end to end: the
fusion search (accelsim.search.fusion) picks which Einsums run as one fused kernel and the
tiles and mappings of each, keeping their intermediates on chip; with ``fuse=False`` every
Einsum is mapped on its own, as one kernel.  Each kernel is then one row:

* time: kernels run one after another, so a layer's latency is the sum of its kernels'
  (each including the machine's launch overhead); the model's is the layer's times the
  number of layers, plus the ends;
* tokens: a prefill processes batch x seq_len tokens, a decode step batch tokens;
  tokens/s = tokens / model latency; energy per token = model energy / tokens;
* peak memory per level: the largest tile footprint any Einsum needs in one instance;
* fits: weights (parameters x bytes per weight) plus the KV cache (bytes per token x batch
  x context) against the outermost level's capacity.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

from accelsim.arch import Architecture, load_architecture
from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.lower import (Request, is_workload, kv_cache_bytes_per_token, load_workload, lower,
                            parameter_count, prompt_length)
from accelsim.mapping import BoundEinsum
from accelsim.model import Report
from accelsim.search import BoundCascade, search
from accelsim.search.driver import objective_weights
from accelsim.search.fusion import search_cascade
from accelsim.search.members import MEMBER_BUDGET

DEFAULT_BUDGET = 400
"""Mappings evaluated per Einsum when the caller gives no budget."""


@dataclass(frozen=True)
class EinsumResult:
    """One kernel of the workload (an Einsum, or a fused group of Einsums), its best
    mapping's report and how it was found."""

    part: str
    """'pre' (embeddings), 'layer' or 'post' (final norm and LM head)."""
    name: str
    """The Einsum's output, or the members' outputs joined by '+' for a fused group."""
    text: str
    count: int
    """How many times it runs per forward pass (the number of layers for layer Einsums)."""
    report: Report
    evaluated: int
    """Mappings evaluated for this kernel (0 for the kernels of a fusion search, whose
    count is the workload's ``evaluated``)."""
    search_s: float
    on_chip: tuple[str, ...] = ()
    """Intermediates of a fused group that never leave the chip."""


@dataclass(frozen=True)
class WorkloadResult:
    """A workload's totals and its per-Einsum results."""

    workload: str
    hardware: str
    phase: str
    batch: int
    seq_len: int | None
    kv_len: int | None
    attention: str
    einsums: tuple[EinsumResult, ...]
    layers: int
    layer_latency_s: float
    model_latency_s: float
    energy_j: float
    tokens: int
    tokens_per_s: float
    energy_per_token_j: float
    peak_bytes: dict[str, float]
    weights_bytes: float
    kv_cache_bytes: float
    fits: bool
    fits_note: str
    fused: bool = False
    """Whether the fusion search chose the kernels."""
    evaluated: int = 0
    """Mappings evaluated by the whole search."""
    search_s: float = 0.0
    """Seconds the whole search took."""
    launch_mode: str = "async"
    """How kernels were launched (Architecture.launch_mode): it sets the per-kernel
    overhead each kernel's latency includes."""
    launch_overhead_s: float = 0.0
    """That per-kernel overhead."""

    @property
    def energy_known(self) -> bool:
        """False where no kernel counted any energy for want of published figures (the
        total then reads 0 J but is unknown)."""
        return any(e.report.energy_known for e in self.einsums)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["einsums"] = [dict(asdict(e), report=e.report.to_dict()) for e in self.einsums]
        return out


def evaluate_workload(hardware: Any, workload: Any, request: Request | None = None, *,
                      strategy: str = "anneal", objective: str = "latency",
                      budget: int | None = None, seed: int = 0,
                      on_einsum: Callable[[str, int, int], None] | None = None) -> WorkloadResult:
    """Lower ``workload`` for ``request``, search its kernels and add up (module docstring).

    ``request`` defaults to ``Request.for_workload(workload)``: a prefill of the default
    prompt.  ``budget`` is the evaluations per Einsum search.  ``on_einsum(name, done,
    total)`` is called as Einsums are done (for progress bars).
    """
    arch = hardware if isinstance(hardware, Architecture) else load_architecture(str(hardware))
    spec = load_workload(workload)
    if request is None:
        request = Request.for_workload(spec)
    lowered = lower(spec, request).in_place()   # a decode step appends to its cache in place
    if request.kernel_ends:
        lowered = replace(lowered, kernel_ends=frozenset(_named(lowered, request.kernel_ends)))
    parts = [(part, cascade, count) for part, cascade, count in
             (("pre", lowered.pre, 1), ("layer", lowered.layer, lowered.layers),
              ("post", lowered.post, 1)) if cascade]
    start = time.perf_counter()
    kernels = _fused if request.fuse else _unfused
    results, evaluated = kernels(arch, lowered, parts, objective, strategy, budget, seed,
                                 on_einsum)
    return _totals(arch, spec, lowered, tuple(results), request, evaluated,
                   time.perf_counter() - start)


def _fused(arch, lowered, parts, objective, strategy, budget, seed, on_einsum):
    """One fusion search per cascade; a row per kernel (fused group or lone Einsum)."""
    total = sum(len(cascade.einsums) for _, cascade, _ in parts)
    results, evaluated, offset = [], 0, 0
    for part, cascade, count in parts:
        texts = {e.name: e.text for e in cascade.einsums}

        def progress(done, _n, offset=offset, cascade=cascade):
            if on_einsum:
                on_einsum(cascade.einsums[done - 1].name, offset + done, total)

        start = time.perf_counter()
        found = search_cascade(BoundCascade(cascade, lowered.sizes, lowered.dtypes,
                                            lowered.roles, lowered.kernel_ends), arch,
                               objective_weights(objective),
                               budget or MEMBER_BUDGET, seed, strategy,
                               callback=progress)
        share = (time.perf_counter() - start) / len(found.groups)
        for group in found.groups:
            results.append(EinsumResult(part, "+".join(group.members),
                                        "; ".join(texts[m] for m in group.members), count,
                                        group.report, 0, share, group.on_chip))
        evaluated += found.evaluated
        offset += len(cascade.einsums)
    return results, evaluated


def _named(lowered, names) -> set[str]:
    """The Einsums of ``lowered`` called ``names``, or a group's copy of one (``AO_1``)."""
    every = {e.name for c in lowered.cascades for e in c.einsums}
    return {e for e in every
            if e in names or (e.rsplit("_", 1)[0] in names and e.rsplit("_", 1)[1].isdigit())}


def _unfused(arch, lowered, parts, objective, strategy, budget, seed, on_einsum):
    jobs = [(part, cascade, count, einsum) for part, cascade, count in parts
            for einsum in cascade.einsums]
    results = []
    for done, (part, cascade, count, einsum) in enumerate(jobs, start=1):
        bound = BoundEinsum(einsum, lowered.sizes, lowered.dtypes, lowered.roles)
        start = time.perf_counter()
        found = search(bound, arch, objective=objective, strategy=strategy,
                       budget=budget or DEFAULT_BUDGET, seed=seed, progress=False, bound=False)
        results.append(EinsumResult(part, einsum.name, einsum.text, count, found.report,
                                    found.evaluated, time.perf_counter() - start))
        if on_einsum:
            on_einsum(einsum.name, done, len(jobs))
    return results, sum(r.evaluated for r in results)


def _totals(arch, spec, lowered, results, request, evaluated, elapsed) -> WorkloadResult:
    layer = sum(r.report.latency_s for r in results if r.part == "layer")
    model = sum(r.report.latency_s * r.count for r in results)
    energy = sum(r.report.energy_pj * r.count for r in results) * 1e-12
    batch, seq_len = request.batch, request.seq_len
    if request.phase == "prefill":  # a ViT's prompt is its patches (seq_len may be left out)
        seq_len = prompt_length(spec.model, seq_len)
        tokens = context = _summed(seq_len, batch)      # all in the cache afterwards
    else:                   # one new token per sequence, after its cached ones
        tokens = batch
        context = _summed(request.kv_len, batch) + tokens
    peak: dict[str, float] = {}
    for r in results:
        for level in r.report.levels:
            peak[level.name] = max(peak.get(level.name, 0.0), level.tile_bytes)
    types = request.precision
    weights = parameter_count(spec) * BYTES_PER_ELEMENT[types.weights]
    causal = spec.model.causal   # encoders (BERT, ViT) keep no KV cache between steps
    kv = kv_cache_bytes_per_token(spec, types.kv) * context if causal else 0.0
    capacity = arch.levels[0].capacity_bytes
    fits = weights + kv <= capacity
    scale, unit = next(((f, u) for f, u in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))
                        if capacity >= f), (1, "B"))   # the backing store's size sets the unit
    cache = f" + KV cache {kv / scale:.2f} {unit}" if causal else ""
    note = (f"weights {weights / scale:.2f} {unit}{cache} "
            f"{'<=' if fits else '>'} {arch.levels[0].name} {capacity / scale:.2f} {unit}")
    return WorkloadResult(
        workload=spec.name, hardware=arch.name, phase=request.phase, batch=batch,
        seq_len=seq_len, kv_len=request.kv_len, attention=request.attention, einsums=results,
        layers=lowered.layers,
        layer_latency_s=layer, model_latency_s=model, energy_j=energy, tokens=tokens,
        tokens_per_s=tokens / model if model else 0.0,
        energy_per_token_j=energy / tokens if tokens else 0.0, peak_bytes=peak,
        weights_bytes=weights, kv_cache_bytes=kv, fits=fits, fits_note=note,
        fused=request.fuse,
        evaluated=evaluated, search_s=elapsed, launch_mode=arch.launch_mode,
        launch_overhead_s=arch.launch_overhead_s)


def _summed(length, batch: int) -> int:
    """A length over the batch: a list (one per sequence) summed, or one for all."""
    return sum(length) if isinstance(length, (list, tuple)) else batch * length


# ------------------------------------------------------------- targets (CLI, sweeps)

def cascades_of(target, sizes, request: Request):
    """The cascades of a cascade file (with ``sizes`` bound; ``request`` is not read) or of
    a workload lowered for ``request`` (pre, layer, post), with their sizes, element types
    and roles."""
    if is_workload(target):
        lowered = lower(target, request).in_place()
        cascades = [c for c in (lowered.pre, lowered.layer, lowered.post) if c is not None]
        return cascades, lowered.sizes, lowered.dtypes, lowered.roles
    from accelsim.ir import load_cascade
    from accelsim.model import default_roles

    cascade = load_cascade(target)
    return ([cascade], cascade.sizes(**sizes), {t: x.dtype for t, x in cascade.tensors.items()},
            default_roles(cascade))


def bound_einsum_of(target, name, sizes, request: Request):
    """The named Einsum of a cascade file or of a lowered workload, with sizes bound."""
    from accelsim.errors import SpecError

    cascades, bound_sizes, dtypes, roles = cascades_of(target, sizes, request)
    for cascade in cascades:
        if name in {e.name for e in cascade.einsums}:
            return BoundEinsum(cascade.einsum(name), bound_sizes, dtypes, roles)
    names = [e.name for c in cascades for e in c.einsums]
    raise SpecError(f"no Einsum named {name!r}; there are {', '.join(names)}", file=str(target))
