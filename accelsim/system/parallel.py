"""A workload on a system: tensor parallelism (Megatron splits) and pipeline parallelism.

**Tensor parallelism** of degree ``tp`` splits every layer as Megatron-LM does: the Q, K, V
and FFN up (and gate) projections by their output columns, the attention output and FFN
down projections by their input rows, so each device holds ``heads / tp`` query heads,
``kv_heads / tp`` key/value heads (or one, replicated, when there are fewer KV heads than
devices) and ``ffn / tp`` of the FFN, while norms and residual adds run whole on every
device.  A device's share is itself a workload (:func:`shard`), lowered and searched like
any other; each layer then adds two all-reduces of its activations (after attention and
after the FFN: tokens x hidden elements).  The embeddings and the LM head are split by
vocabulary (ceil(vocab / tp) rows each; the logits are not gathered).

**Expert parallelism** of degree ``ep`` (a mixture of experts): each device runs
``batch / ep`` of the sequences through attention and holds ``experts / ep`` of the experts;
each layer sends every token's ``experts_per_token`` copies to their experts and the
results back, two all-to-alls of the activations (accelsim.lower.blocks.mixture_of_experts
sizes a device's experts' work).

**Pipeline parallelism** of degree ``pp`` gives each stage (a group of ``tp`` devices)
consecutive layers, as evenly as they go (the first stages take one more when ``pp`` does
not divide the layers); the first stage also runs the embeddings, the last the LM head.
``microbatches`` split the batch; they flow through the stages one after another, so with
``m`` of them the whole takes the sum of the stage times of one microbatch, plus the
transfers between stages, plus ``m - 1`` times the slowest stage.  With equal stages this is
``(m + pp - 1)`` stage times, and a device idles for the bubble: ``(pp - 1) / (m + pp - 1)``.

A layer's blocks (attention up to its output projection, then the FFN) and their
all-reduces run on two streams per device (:mod:`accelsim.system.schedule`): one after the
other in standard tensor parallelism, or overlapped as Ladder Residual reroutes the residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.errors import SpecError
from accelsim.lower import Request, load_workload
from accelsim.lower.params import kv_cache_bytes_per_token, parameter_count
from accelsim.lower.phases import head_dim, prompt_length
from accelsim.system.collectives import Collective, collective
from accelsim.system.schedule import OVERLAPS, chain_s


TP_REDUCED = ("AO", "FO")
"""Einsums whose outputs tensor parallelism all-reduces: the attention output projection
and the FFN down projection (row-parallel; accelsim.lower.layer names them)."""


class Parallelism(NamedTuple):
    """How a workload is spread over a system's devices."""

    tp: int = 1
    pp: int = 1
    microbatches: int = 1
    overlap: str = "none"
    """How each block's all-reduce meets the compute (accelsim.system.schedule.OVERLAPS):
    not at all, or Ladder Residual's overlap with the next block."""
    ep: int = 1
    """Expert parallelism: devices a mixture of experts' experts are spread over (each runs
    its share of the sequences through attention)."""

    @property
    def devices(self) -> int:
        """Devices the plan occupies."""
        return self.tp * self.ep * self.pp


def shard(workload: Any, tp: int, file: str | None = None, heads_only: bool = False):
    """One device's share of ``workload`` under tensor parallelism ``tp`` (module
    docstring), as a workload spec; a degree that does not divide the heads, the KV heads
    or the FFN is refused naming the field.  ``heads_only``: split the heads alone (a
    device that runs only attention), leaving the FFN and vocabulary whole."""
    spec = load_workload(workload)
    m = spec.model
    if not isinstance(tp, int) or tp < 1:
        raise SpecError(f"tensor parallelism must be a whole number >= 1, got {tp!r}",
                        path="tp")
    if tp == 1:
        return spec
    kv = m.kv_heads or m.heads
    for field, value in (("heads", m.heads),) + ((("ffn", m.ffn),) if not heads_only else ()):
        if value % tp:
            raise SpecError(f"tensor parallelism {tp} does not divide the model's {field} "
                            f"({value})", file=file, path=f"model.{field}")
    if kv % tp and tp % kv:
        raise SpecError(f"tensor parallelism {tp} neither divides the {kv} KV heads nor is a "
                        "multiple of them (to replicate them)", file=file, path="model.kv_heads")
    split = 1 if heads_only else tp
    model = m.model_copy(update=dict(
        heads=m.heads // tp, kv_heads=max(1, kv // tp), head_dim=head_dim(m),
        ffn=m.ffn // split, vocab=math.ceil(m.vocab / split) if m.vocab else None))
    return spec.model_copy(update=dict(name=f"{spec.name} (TP {tp} shard)", model=model))


def stage_layers(layers: int, pp: int) -> tuple[int, ...]:
    """Layers per pipeline stage, as evenly as they go (the first stages take the extra)."""
    base, extra = divmod(layers, pp)
    return tuple(base + (1 if i < extra else 0) for i in range(pp))


def _tokens(spec, request: Request) -> int:
    """Tokens whose activations a layer moves: every prompt token (prefill), or one per
    sequence (decode)."""
    if request.phase == "decode":
        return request.batch
    length = prompt_length(spec.model, request.seq_len)
    return sum(length) if isinstance(length, tuple) else request.batch * length


@dataclass(frozen=True)
class SystemResult:
    """A workload on a system (module docstring): one device's kernels and the totals."""

    system: str
    group: str
    parallelism: Parallelism
    device: Any
    """The WorkloadResult of one device of a stage, for one microbatch."""
    collectives: tuple[Collective, ...]
    """The collectives of one layer (tensor parallelism: two all-reduces)."""
    stage_s: tuple[float, ...]
    """Time of each pipeline stage for one microbatch, its collectives included."""
    transfer: Collective | None
    """The activations sent from one stage to the next (one microbatch)."""
    model_latency_s: float
    tokens: int
    weights_bytes: float
    """Weights on the busiest device."""
    kv_cache_bytes: float
    """KV cache on the busiest device."""
    capacity_bytes: float
    standard_latency_s: float
    """The same without any overlap (standard tensor parallelism)."""

    @property
    def layer_compute_s(self) -> float:
        return self.device.layer_latency_s

    @property
    def layer_comm_s(self) -> float:
        return sum(c.time_s for c in self.collectives)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.model_latency_s if self.model_latency_s else 0.0

    @property
    def bubble(self) -> float:
        """Share of the time a device of an average stage idles."""
        busy = self.parallelism.microbatches * sum(self.stage_s) / len(self.stage_s)
        return 1.0 - busy / self.model_latency_s if self.model_latency_s else 0.0

    @property
    def fits(self) -> bool:
        return self.weights_bytes + self.kv_cache_bytes <= self.capacity_bytes

    def to_dict(self) -> dict:
        """Plain values for JSON: the totals, the collectives and the device's result."""
        return {"system": self.system, "group": self.group,
                "parallelism": self.parallelism._asdict(),
                "collectives": [c.to_dict() for c in self.collectives],
                "transfer": self.transfer and self.transfer.to_dict(),
                "stage_s": list(self.stage_s),
                "layer_compute_s": self.layer_compute_s, "layer_comm_s": self.layer_comm_s,
                "model_latency_s": self.model_latency_s, "tokens": self.tokens,
                "tokens_per_s": self.tokens_per_s, "bubble": self.bubble,
                "weights_bytes": self.weights_bytes, "kv_cache_bytes": self.kv_cache_bytes,
                "capacity_bytes": self.capacity_bytes, "fits": self.fits,
                "standard_latency_s": self.standard_latency_s,
                "device": self.device.to_dict()}


def pipeline_s(stages: tuple[float, ...], microbatches: int, transfer_s: float) -> float:
    """Time of ``microbatches`` through ``stages`` (module docstring): the stages of one
    microbatch, the transfers between them, and ``microbatches - 1`` slowest stages."""
    return sum(stages) + (len(stages) - 1) * transfer_s + (microbatches - 1) * max(stages)


def _microbatch(request: Request, microbatches: int) -> Request:
    if request.batch % microbatches:
        raise SpecError(f"{microbatches} microbatches do not divide the batch of "
                        f"{request.batch}", path="microbatches")
    if microbatches > 1 and isinstance(request.length, tuple):
        raise SpecError("microbatches need one length for every sequence", path="microbatches")
    return replace(request, batch=request.batch // microbatches)


def evaluate_system(system, workload: Any, request: Request, plan: Parallelism = Parallelism(),
                    group: str | None = None, check_fit: bool = True,
                    **search: Any) -> SystemResult:
    """Evaluate ``workload`` on ``plan.devices`` devices of ``group`` (module docstring);
    ``search`` goes to :func:`accelsim.pipeline.evaluate_workload`.  A plan whose weights
    and KV cache overflow a device is refused unless ``check_fit`` is False."""
    from accelsim.pipeline import evaluate_workload

    found = system.group(group)
    spec = load_workload(workload)
    file = workload if isinstance(workload, str) else None
    _check_plan(system, found, spec, request, plan, file)
    part, local = _device_share(spec, request, plan, file)
    layers = stage_layers(spec.model.layers, plan.pp)
    weights, kv = per_device_bytes(part, local, layers)
    if check_fit:
        check_fits(weights + kv, found.arch, f"weights {weights / 1e9:.2f} GB + KV cache "
                   f"{kv / 1e9:.2f} GB", (system.file, f"devices[{system.index(found.name)}]"
                                                       ".count"))
    micro = _microbatch(local, plan.microbatches)
    if plan.tp > 1:    # the all-reduces follow the attention and FFN output projections
        micro = replace(micro, kernel_ends=tuple(micro.kernel_ends) + TP_REDUCED)
    device = evaluate_workload(found.arch, part, micro, **search)
    moved = _tokens(spec, micro) * spec.model.hidden * BYTES_PER_ELEMENT[
        micro.precision.activations]
    collectives = _layer_collectives(system, found.name, plan, moved,
                                     spec.model.experts_per_token or 1)
    transfer = (collective("send_recv", moved, 2, system.link_of(found.name).link)
                if plan.pp > 1 else None)

    def total(overlap: str) -> tuple[tuple[float, ...], float]:
        stages = _stages(device, block_comm_s(plan, collectives), layers, overlap)
        return stages, pipeline_s(stages, plan.microbatches, transfer.time_s if transfer else 0)

    stages, latency = total(plan.overlap)
    return SystemResult(system.name, found.name, plan, device, collectives, stages, transfer,
                        latency, _tokens(spec, request), weights, kv,
                        found.arch.levels[0].capacity_bytes, total("none")[1])


def _check_plan(system, found, spec, request: Request, plan: Parallelism, file) -> None:
    """Refuse plans that cannot run, naming what is wrong."""
    for name, value in zip(("tp", "pp", "microbatches", "ep"), plan[:3] + (plan.ep,)):
        if not isinstance(value, int) or value < 1:
            raise SpecError(f"{name} must be a whole number >= 1, got {value!r}", path=name)
    if plan.overlap not in OVERLAPS:
        raise SpecError(f"unknown overlap {plan.overlap!r}; expected one of "
                        f"{', '.join(OVERLAPS)}", path="overlap")
    if isinstance(request.length, tuple) and (plan.tp * plan.ep > 1 or plan.overlap != "none"):
        raise SpecError("a batch of several lengths is evaluated on a system without tensor "
                        "or expert parallelism or overlap (its layer repeats per length); "
                        "give one length", path="tp")
    if plan.devices > found.count:
        raise SpecError(f"TP {plan.tp} x EP {plan.ep} x PP {plan.pp} needs {plan.devices} "
                        f"devices; group {found.name!r} of {system.name} has {found.count}",
                        file=system.file, path="devices")
    if plan.pp > spec.model.layers:
        raise SpecError(f"{plan.pp} pipeline stages for {spec.model.layers} layers",
                        file=file, path="model.layers")
    if plan.ep > 1:
        _check_experts(spec.model, request, plan, file)


def _check_experts(model, request: Request, plan: Parallelism, file) -> None:
    """Expert parallelism needs experts it can divide, a batch it can divide, and runs
    without tensor parallelism or overlap here."""
    if not model.experts:
        raise SpecError("expert parallelism needs a mixture of experts (model.experts)",
                        file=file, path="model.experts")
    if model.experts % plan.ep:
        raise SpecError(f"expert parallelism {plan.ep} does not divide the model's "
                        f"{model.experts} experts", file=file, path="model.experts")
    if request.batch % plan.ep:
        raise SpecError(f"expert parallelism {plan.ep} does not divide the batch of "
                        f"{request.batch} (each device runs its share of the sequences)",
                        path="batch")
    if plan.tp > 1 or plan.overlap != "none":
        raise SpecError("expert parallelism is modelled without tensor parallelism or "
                        "overlap", path="ep")


def _device_share(spec, request: Request, plan: Parallelism, file):
    """(the workload one device holds, the request it runs): its tensor-parallel shard, or
    under expert parallelism its sequences and its experts."""
    if plan.ep == 1:
        return shard(spec, plan.tp, file), request
    m = spec.model
    model = m.model_copy(update={"experts": m.experts // plan.ep})
    part = spec.model_copy(update={"name": f"{spec.name} (EP {plan.ep} share)",
                                   "model": model})
    return part, replace(request, batch=request.batch // plan.ep, expert_shards=plan.ep)


def _layer_collectives(system, group: str, plan: Parallelism, moved: float,
                       per_token: int) -> tuple[Collective, ...]:
    """One layer's collectives: tensor parallelism's two all-reduces of the activations, or
    expert parallelism's all-to-all dispatch and combine of every token's ``per_token``
    copies (``moved`` bytes of activations per device, once per copy)."""
    if plan.tp > 1:
        return tuple(system.collective("all_reduce", moved, plan.tp, group) for _ in "ab")
    if plan.ep > 1:
        return tuple(system.collective("all_to_all", moved * per_token, plan.ep, group)
                     for _ in "ab")
    return ()


def block_comm_s(plan: Parallelism, collectives) -> list[float]:
    """Communication after each block of a layer (attention, FFN): an all-reduce after each
    under tensor parallelism; under expert parallelism both all-to-alls fall in the FFN
    block (dispatch before the experts, combine after), none after attention."""
    if plan.ep > 1:
        return [0.0, sum(c.time_s for c in collectives)]
    return [c.time_s for c in collectives] or [0.0, 0.0]


def block_compute_s(device) -> tuple[float, float]:
    """(attention, FFN) compute of one layer of ``device`` (a WorkloadResult): its layer
    kernels up to the one that writes the attention output projection ``AO``, then the
    rest.  A kernel fused across that boundary counts with attention."""
    layer = [e for e in device.einsums if e.part == "layer"]
    cut = next((i for i, e in enumerate(layer) if "AO" in e.name.split("+")), len(layer) - 1)
    return (sum(e.report.latency_s for e in layer[:cut + 1]),
            sum(e.report.latency_s for e in layer[cut + 1:]))


def _stages(device, reduce: list[float], layers: tuple[int, ...],
            overlap: str) -> tuple[float, ...]:
    """Each stage's time for one microbatch: its layers' blocks and all-reduces on the two
    streams (accelsim.system.schedule), the embeddings on the first, the LM head on the
    last."""
    ends = {p: sum(e.report.latency_s for e in device.einsums if e.part == p)
            for p in ("pre", "post")}
    compute = list(block_compute_s(device))
    return tuple(chain_s(compute * n, reduce * n, overlap) + (ends["pre"] if i == 0 else 0.0)
                 + (ends["post"] if i == len(layers) - 1 else 0.0)
                 for i, n in enumerate(layers))


def _context(spec, request: Request) -> int:
    """Tokens in the KV cache after the step: every prompt token (prefill), or each
    sequence's cache plus its new token (decode)."""
    if request.phase == "prefill":
        return _tokens(spec, request)
    kv = request.kv_len
    return sum(k + 1 for k in kv) if isinstance(kv, tuple) else request.batch * (kv + 1)


def per_device_bytes(part, request: Request, layers: tuple[int, ...]) -> tuple[float, float]:
    """(weights, KV cache) on the busiest device: its stage's layers of the shard ``part``,
    the embeddings on the first stage and the LM head on the last; the cache of the whole
    batch (every microbatch) for its stage's layers."""
    size = BYTES_PER_ELEMENT[request.precision.weights]
    total = part.model.layers
    per_layer = parameter_count(part, embeddings=False, lm_head=False) / total
    pre = parameter_count(part, embeddings=True, lm_head=False) - per_layer * total
    post = parameter_count(part, embeddings=False, lm_head=True) - per_layer * total
    if len(layers) == 1:       # one stage holds everything (a tied table once)
        weights = parameter_count(part) * size
    else:
        weights = max(n * per_layer + (pre if i == 0 else 0)
                      + (post if i == len(layers) - 1 else 0)
                      for i, n in enumerate(layers)) * size
    if not part.model.causal:      # encoders keep no cache between steps
        return weights, 0.0
    kv = kv_cache_bytes_per_token(part, request.precision.kv) * _context(part, request)
    return weights, kv * max(layers) / total


def check_fits(needed: float, arch, what: str, where: tuple[str | None, str]) -> None:
    """Refuse a plan whose busiest device needs more than its backing store holds."""
    capacity = arch.levels[0].capacity_bytes
    if needed > capacity:
        raise SpecError(f"does not fit: {what} need {needed / 1e9:.2f} GB per device, more than "
                        f"the {capacity / 1e9:.2f} GB of {arch.name}'s {arch.levels[0].name}; "
                        "use more devices (--tp, --pp) or a smaller batch, or --ignore-fit to "
                        "evaluate anyway", file=where[0], path=where[1])
