"""``lower(workload, request)``: a workload spec and a :class:`~accelsim.lower.request.Request`
(a phase of inference, its batch and lengths, ...) -> :class:`Lowered`.

Phases:

* ``prefill`` -- a batch of prompts of ``seq_len`` tokens each.  A list of lengths is a
  variable-length batch lowered without padding (as ByteTransformer does: each group of
  equal-length sequences is its own set of ranks, see :mod:`accelsim.lower.layer`), or with
  ``padded=True`` as one batch padded to the longest, reading an additive key mask ``MASK``;
* ``decode`` -- one new token per sequence against a KV cache of ``kv_len`` entries (a list
  gives each sequence its own cache length, grouped or padded in the same way).  With a
  sliding window W (Mistral) the cache holds at most W - 1 entries: the new token attends to
  itself and the W - 1 before it (Hugging Face's mask keeps key j for query i when i - j < W).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from typing import Any, Mapping

from accelsim.errors import AccelsimWarning, LoweringError, SpecError, SpecErrors
from accelsim.lower.ends import embedding_cascade, head_cascade
from accelsim.lower.layer import Group, LayerPlan, layer_cascade
from accelsim.lower.lowered import Lowered
from accelsim.lower.request import Request, count
from accelsim.spec.hf_config import workload_from_hf_config
from accelsim.spec.load import load_spec
from accelsim.spec.workload import ModelShape, WorkloadSpec

NORM_EPS = {"bert": 1e-12, "vit": 1e-12, "t5": 1e-6}
"""Norm epsilon by family where it is not 1e-05 (Hugging Face configs: BERT and ViT
``layer_norm_eps`` 1e-12, T5 ``layer_norm_epsilon`` 1e-06; GPT-2 ``layer_norm_epsilon``,
Llama-2/3 and Mistral ``rms_norm_eps`` 1e-05)."""

TANH_GELU = frozenset({"gpt2"})
"""Families whose GELU is the tanh approximation (GPT-2 ``activation_function: gelu_new``)."""


def lower(workload: Any, request: Request | str | None = None, *, padded: bool = False,
          block: int | None = None, norm_eps: float | None = None, gelu: str | None = None,
          **fields: Any) -> Lowered:
    """Lower ``workload`` (a WorkloadSpec, a ModelShape, a dict, or a path to a workload YAML
    or a Hugging Face config.json) for a :class:`~accelsim.lower.request.Request` (see the
    module docstring): ``request``, or one built from its phase and fields as keywords,
    ``lower(spec, "decode", batch=8, kv_len=4096)`` (the attention variant then defaults to
    3pass).  The request's ``fuse`` is the search's business and is not read here.

    ``padded`` lowers a batch of different lengths as one padded to the longest; ``block`` is
    the attention variant's key block size; ``norm_eps`` and ``gelu`` (``gelu`` or
    ``gelu_tanh``) override the family defaults.
    """
    if not isinstance(request, Request):
        request = Request(**({} if request is None else {"phase": request}), **fields)
    elif fields:
        raise TypeError(f"lower() takes a Request or its fields, not both ({', '.join(fields)})")
    spec = load_workload(workload)
    shape = spec.model
    check_shape(shape)
    if block is not None:
        count(block, "block")
    phase = request.phase
    groups, masked = batch_groups(shape, request, padded)
    plan = LayerPlan(shape=shape, head_dim=head_dim(shape), kv_heads=shape.kv_heads or shape.heads,
                     eps=_eps(shape, norm_eps), gelu=_gelu(shape, gelu),
                     attention=request.attention, block=block, decode=phase == "decode",
                     padded=masked, precision=request.precision, groups=groups,
                     expert_shards=request.expert_shards)
    base = spec.name.replace(" ", "-")
    built = [layer_cascade(plan, f"{base}-layer-{phase}")]
    pre = embedding_cascade(plan, f"{base}-embeddings") if request.embeddings else None
    post = head_cascade(plan, f"{base}-head") if request.lm_head else None
    built += [b for b in (pre, post) if b is not None]
    for b in built:
        check_countable(b.cascade, request)
    _warn_past_context(spec, request)
    carry = []
    for k in range(len(groups)):
        s = plan.suffix(k)
        carry += [(f"Y{s}", f"X{s}")] + ([(f"EMB{s}", f"X{s}")] if pre else []) + \
            ([(f"Y{s}", f"HID{s}")] if post else [])
    return Lowered(name=f"{spec.name} {phase}", phase=phase, layer=built[0].cascade,
                   layers=shape.layers, roles={n: r for b in built for n, r in b.roles.items()},
                   dtypes={n: d for b in built for n, d in b.dtypes.items()},
                   pre=pre.cascade if pre else None, post=post.cascade if post else None,
                   matmuls=frozenset().union(*(b.matmuls for b in built)), carry=tuple(carry),
                   appends=tuple(a for b in built for a in b.appends))


def _warn_past_context(spec, request: Request) -> None:
    """An AccelsimWarning when a prompt or KV cache is longer than the model's positions."""
    limit = spec.model.max_positions
    lengths = request.length if isinstance(request.length, tuple) else (request.length,)
    longest = max((n for n in lengths if n is not None), default=0)
    if limit and longest + (request.phase == "decode") > limit:
        warnings.warn(AccelsimWarning(
            f"{spec.name}: {request.phase} length {longest} is past the model's "
            f"{limit} positions (max_positions): evaluated as asked, though the model itself "
            "cannot run it"),
            stacklevel=3)


MAX_POINTS = 2 ** 60
"""The most iteration points one Einsum may have: the counters are 64-bit integers, and a
level's counts are a small multiple of the points (2^63 / 8)."""


def check_countable(cascade, request: Request) -> None:
    """Refuse a request whose Einsums have more iteration points than the 64-bit counters
    hold (``--batch 100000000 --seq 100000000``): a SpecError naming the Einsum and the
    request's sizes, instead of an overflow or a negative count later."""
    sizes = cascade.sizes()
    for e in cascade.einsums:
        points = e.points(sizes)
        if points > MAX_POINTS:
            raise SpecError(f"{e.name} would iterate over {points:.3g} points, more than the "
                            f"64-bit counters hold ({MAX_POINTS:.3g}); batch {request.batch} and "
                            f"length {request.length} are too large to count", path="request")


# ----------------------------------------------------------------------------- the workload

def load_workload(workload: Any) -> WorkloadSpec:
    """A WorkloadSpec from a spec, a ModelShape, a dict or a path (YAML or config.json)."""
    if isinstance(workload, WorkloadSpec):
        return workload
    if isinstance(workload, ModelShape):
        return WorkloadSpec.model_construct(kind="workload", version=1, name=workload.family,
                                            source="given as a ModelShape", description="",
                                            model=workload)  # check_shape checks it
    if isinstance(workload, Mapping):
        try:
            return WorkloadSpec.model_validate(dict(workload))
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc), "loc": ()}
            where = ".".join(str(p) for p in first.get("loc", ())) or None
            raise SpecError(str(first.get("msg", exc)), path=where) from None
    if isinstance(workload, (str, os.PathLike)):
        path = os.fspath(workload)
        if path.endswith(".json"):
            return workload_from_hf_config(path)
        try:
            return load_spec(path, kind="workload")
        except SpecErrors as exc:
            raise exc.errors[0] if len(exc.errors) == 1 else SpecError(str(exc)) from None
    raise LoweringError(f"workload must be a WorkloadSpec, a ModelShape, a dict or a path, "
                        f"got {type(workload).__name__}")


def is_workload(target: Any) -> bool:
    """Whether the file ``target`` is a workload (a workload YAML or a Hugging Face
    config.json), not a cascade file."""
    from accelsim.spec.load import read_document

    return str(target).endswith(".json") or read_document(target)[1] == "workload"


def head_dim(shape: ModelShape) -> int:
    """Per-head dimension: given, or hidden / heads."""
    return shape.head_dim or shape.hidden // shape.heads


def check_shape(shape: ModelShape) -> None:
    """Consistency the lowering relies on (a ModelShape built without validation included)."""
    if shape.head_dim is None and shape.hidden % shape.heads:
        raise LoweringError(f"hidden size {shape.hidden} is not divisible by heads "
                            f"{shape.heads}; give head_dim or fix the numbers")
    kv = shape.kv_heads or shape.heads
    if kv > shape.heads or shape.heads % kv:
        raise LoweringError(f"kv_heads {kv} must divide heads {shape.heads}")
    if shape.position == "rope" and head_dim(shape) % 2:
        raise LoweringError(f"rotary embedding needs an even head dimension, got "
                            f"{head_dim(shape)}")
    if shape.sliding_window is not None and shape.sliding_window < 2:
        raise LoweringError(f"sliding_window must be >= 2, got {shape.sliding_window}")


def _eps(shape: ModelShape, given: float | None) -> float:
    if given is None:
        return NORM_EPS.get(shape.family, 1e-05)
    if isinstance(given, bool) or not isinstance(given, (int, float)) or not given >= 0:
        raise LoweringError(f"norm_eps must be a number >= 0, got {given!r}")
    return float(given)


def _gelu(shape: ModelShape, given: str | None) -> str:
    if given is None:
        return "gelu_tanh" if shape.family in TANH_GELU else "gelu"
    if given not in ("gelu", "gelu_tanh"):
        raise LoweringError(f"gelu must be 'gelu' or 'gelu_tanh', got {given!r}")
    return given


# ----------------------------------------------------------------------------- the batch

def batch_groups(shape: ModelShape, request: Request,
                 padded: bool) -> tuple[tuple[Group, ...], bool]:
    """The groups of equal-length sequences, and whether a key mask is read."""
    if request.phase == "prefill":
        lengths = prompt_length(shape, request.seq_len)
        return _grouped(lengths, request.batch, padded, lambda n, length: Group(n, length))
    if not shape.causal:
        raise LoweringError(f"decode needs a causal (decoder) model; {shape.family} is an "
                            "encoder")
    lengths = request.kv_len
    if lengths is None:
        raise LoweringError("decode needs kv_len, the number of cached keys per sequence")
    window = shape.sliding_window
    if window is not None:  # the cache keeps the last W - 1 keys (module docstring)
        lengths = tuple(min(n, window - 1) for n in lengths) if isinstance(lengths, tuple) \
            else min(lengths, window - 1)
    return _grouped(lengths, request.batch, padded, lambda n, length: Group(n, 1, length))


def prompt_length(shape: ModelShape, seq_len: Any) -> Any:
    """Tokens per prompt: ``seq_len``, or for a ViT its patches plus the class token (a
    ``seq_len`` given for a ViT must agree)."""
    if shape.image_size is None:
        if seq_len is None:
            raise LoweringError("prefill needs seq_len, the tokens per prompt (or a list)")
        return seq_len
    tokens = (shape.image_size // shape.patch_size) ** 2 + 1
    if seq_len is not None and seq_len != tokens:
        raise LoweringError(f"a {shape.image_size}px image in {shape.patch_size}px patches is "
                            f"{tokens} tokens (class token included); seq_len {seq_len!r} "
                            "disagrees")
    return tokens


def _grouped(lengths, batch: int, padded: bool, make) -> tuple[tuple[Group, ...], bool]:
    """One group of ``batch`` sequences, or for a list of lengths (the request's batch is
    their number) one per distinct length, or one padded to the longest."""
    if not isinstance(lengths, tuple):
        return (make(batch, lengths),), bool(padded)
    if padded:
        return (make(len(lengths), max(lengths)),), True
    return tuple(make(n, length) for length, n in Counter(lengths).items()), False
