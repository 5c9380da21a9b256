"""Attention offloading (Lamina): attention on one device group, everything else on another.

In a decode step the attention core (scores against the KV cache, softmax, the weighted sum
of values: every Einsum that follows the new query, key and value and leads to ``AV``) runs
on the *attention* group, whose devices split the heads and hold the KV cache; the rest of
the layer (norms, projections, FFN, embeddings, LM head) runs on the *compute* group under
tensor parallelism, as :mod:`accelsim.system.parallel` lowers it.  Each layer sends the new
queries, keys and values to the attention group and the attention output back, over the
link that joins the groups, device pair by device pair (``min(compute, attention)`` pairs
share the bytes).

Per layer, one batch takes ``compute + to + attention + back`` (compute includes the compute
group's all-reduces).  Lamina keeps two batches in flight so that each group works on one
while the other group works on the other: a layer of both batches then takes
``max(compute + to + attention + back, 2 compute, 2 attention, 2 to, 2 back)`` (neither
group nor either direction of the link runs two things at once, and one batch's chain of
four stays in order).  Throughput is two batches' tokens per that period times the layers,
plus the embeddings and LM head.

Prefill is not offloaded (Lamina offloads decode); asking for it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import networkx as nx

from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.errors import SpecError
from accelsim.lower import Request, load_workload, lower
from accelsim.lower.phases import head_dim
from accelsim.system.collectives import Collective, collective
from accelsim.system.parallel import TP_REDUCED, check_fits, per_device_bytes, shard

SENT = ("Q", "KNEW", "VNEW")
"""What the compute group sends the attention group each layer (accelsim.lower.layer)."""

KERNEL_ENDS = SENT + ("AV",) + TP_REDUCED
"""Einsums whose output leaves a device when attention is offloaded."""


def attention_core(cascade) -> frozenset[str]:
    """Einsums of a decode layer that depend on the new query, key or value and lead to the
    attention output ``AV`` (inclusive)."""
    names = [e.name for e in cascade.einsums]
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in SENT + ("AV",) if n not in index]
    if missing:
        raise SpecError(f"attention offloading needs the layer's {', '.join(missing)}; "
                        "this workload's layer has none")
    graph = cascade.graph
    after = set().union(*(nx.descendants(graph, index[n]) for n in SENT))
    before = nx.ancestors(graph, index["AV"]) | {index["AV"]}
    return frozenset(names[i] for i in after & before)


def _part_s(device, core: frozenset, attention: bool) -> float:
    """Layer time of ``device``'s kernels that are (``attention``) or are not its core."""
    return sum(e.report.latency_s for e in device.einsums if e.part == "layer"
               and any(m in core for m in e.name.split("+")) == attention)


@dataclass(frozen=True)
class OffloadResult:
    """A decode step with attention offloaded (module docstring)."""

    system: str
    compute: Any
    """WorkloadResult of one compute device (its share under tensor parallelism)."""
    attention: Any
    """WorkloadResult of one attention device (its heads)."""
    devices: tuple[int, int]
    """(compute, attention) devices."""
    compute_s: float
    """One layer on the compute group, its all-reduces included."""
    attention_s: float
    to_attention: Collective
    from_attention: Collective
    layers: int
    ends_s: float
    tokens: int
    """Tokens of one batch (one per sequence)."""
    memory: tuple[tuple[float, float, float], tuple[float, float, float]]
    """(weights, KV cache, capacity) per device of the compute and the attention group."""

    @property
    def layer_s(self) -> float:
        """One batch's layer: compute, send, attention, send back."""
        return (self.compute_s + self.to_attention.time_s + self.attention_s
                + self.from_attention.time_s)

    @property
    def period_s(self) -> float:
        """One layer of two batches in flight (module docstring)."""
        return max(self.layer_s, 2 * self.compute_s, 2 * self.attention_s,
                   2 * self.to_attention.time_s, 2 * self.from_attention.time_s)

    @property
    def latency_s(self) -> float:
        """One batch's decode step alone."""
        return self.layers * self.layer_s + self.ends_s

    @property
    def tokens_per_s(self) -> float:
        """Two batches in flight."""
        return 2 * self.tokens / (self.layers * self.period_s + 2 * self.ends_s)

    @property
    def fits(self) -> bool:
        return all(w + kv <= cap for w, kv, cap in self.memory)

    def cost_per_token(self, prices: tuple[float, float]) -> float:
        """US dollars per token at ``prices`` (compute, attention) per device-hour."""
        hourly = sum(n * p for n, p in zip(self.devices, prices))
        return hourly / 3600 / self.tokens_per_s

    def to_dict(self, alone_tokens_per_s: float | None = None) -> dict:
        """Plain values for JSON, with the compute group alone's throughput if given."""
        return {"system": self.system, "devices": list(self.devices),
                "compute_s": self.compute_s, "attention_s": self.attention_s,
                "to_attention": self.to_attention.to_dict(),
                "from_attention": self.from_attention.to_dict(), "layers": self.layers,
                "layer_s": self.layer_s, "period_s": self.period_s,
                "latency_s": self.latency_s, "tokens": self.tokens,
                "tokens_per_s": self.tokens_per_s, "alone_tokens_per_s": alone_tokens_per_s,
                "memory": [list(m) for m in self.memory], "fits": self.fits,
                "compute": self.compute.to_dict(), "attention": self.attention.to_dict()}


def evaluate_offload(system, workload: Any, request: Request, compute: str, attention: str,
                     check_fit: bool = True, **search: Any) -> OffloadResult:
    """A decode step of ``workload`` with its attention on group ``attention`` and the rest
    on group ``compute`` of ``system`` (module docstring); ``search`` goes to
    :func:`accelsim.pipeline.evaluate_workload`.  A compute device that cannot hold its
    weights, or an attention device its KV cache, is refused unless ``check_fit`` is
    False."""
    from accelsim.pipeline import evaluate_workload

    if request.phase != "decode":
        raise SpecError("attention offloading is modelled for decode; use --phase decode",
                        path="phase")
    if isinstance(request.length, tuple):
        raise SpecError("attention offloading takes one cache length for every sequence",
                        path="kv_len")
    spec = load_workload(workload)
    file = workload if isinstance(workload, str) else None
    groups = system.group(compute), system.group(attention)
    if groups[0].name == groups[1].name:
        raise SpecError(f"attention is offloaded to another group than the compute group "
                        f"({compute!r})", file=system.file, path="devices")
    request = replace(request, kernel_ends=tuple(request.kernel_ends) + KERNEL_ENDS)
    parts = [shard(spec, groups[0].count, file),
             shard(spec, groups[1].count, file, heads_only=True)]
    weights = per_device_bytes(parts[0], request, (spec.model.layers,))[0]
    kv = per_device_bytes(parts[1], request, (spec.model.layers,))[1]
    if check_fit:
        for g, needed, what in ((groups[0], weights, "the weights"), (groups[1], kv,
                                                                      "the KV cache")):
            check_fits(needed, g.arch, what, (system.file, f"devices[{system.index(g.name)}]"
                                                           ".count"))
    results = [evaluate_workload(g.arch, part, request, **search)
               for g, part in zip(groups, parts)]
    core = attention_core(lower(parts[1], request).in_place().layer)
    moved = _activation_bytes(spec, request)
    tp = groups[0].count
    reduce = 2 * system.collective("all_reduce", moved, tp, groups[0].name).time_s
    to, back = _transfers(system, spec, request, groups)
    ends = sum(e.report.latency_s for e in results[0].einsums if e.part != "layer")
    memory = ((weights, 0.0, groups[0].arch.levels[0].capacity_bytes),
              (0.0, kv, groups[1].arch.levels[0].capacity_bytes))
    return OffloadResult(system.name, results[0], results[1], (tp, groups[1].count),
                         _part_s(results[0], core, False) + (reduce if tp > 1 else 0.0),
                         _part_s(results[1], core, True), to, back, spec.model.layers, ends,
                         request.batch, memory)


def _activation_bytes(spec, request: Request) -> float:
    """Bytes of one layer's activations (tokens x hidden), as an all-reduce moves them."""
    return request.batch * spec.model.hidden * BYTES_PER_ELEMENT[
        request.precision.activations]


def _transfers(system, spec, request: Request, groups) -> tuple[Collective, Collective]:
    """(queries, keys and values to the attention group; attention output back): each over
    ``min(compute, attention)`` device pairs of the link joining the groups at once."""
    m, size = spec.model, BYTES_PER_ELEMENT[request.precision.activations]
    kv = m.kv_heads or m.heads
    features = head_dim(m) * request.batch * size
    pairs = min(g.count for g in groups)
    link = system.link_of(*(g.name for g in groups)).link
    return (collective("send_recv", (m.heads + 2 * kv) * features / pairs, 2, link),
            collective("send_recv", m.heads * features / pairs, 2, link))
