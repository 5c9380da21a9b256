"""What to evaluate of a workload: a :class:`Request`, with its defaults applied in one place.

A request names the phase of inference, the batch, the lengths, the element types, the
attention variant, whether the search may fuse Einsums into one kernel, and whether the
embeddings and the LM head are lowered too.  Building one checks every value (a bad one is a
:class:`~accelsim.errors.SpecError` naming the field and what was expected) and applies the
defaults that need no workload:

* ``attention``: ``3pass`` when fusing (the fusion search then decides what runs as one
  kernel, FlashAttention-style rows included); unfused, the blocked ``splitkv`` for decode
  and ``flash2`` for prefill;
* ``batch``: one sequence per length when the lengths are a list, else 1.

:meth:`Request.for_workload` reads the lengths as the command line and the sweeps give them
and adds the defaults that depend on the workload:

* a prompt left out is :data:`DEFAULT_SEQ_LEN` tokens, or for a ViT None: its patches plus
  the class token, which the lowering counts (:func:`accelsim.lower.phases.prompt_length`);
* decode: the KV-cache length left out is the prompt length, and a step has no prompt;
* prefill: there is no KV cache, so a KV-cache length is dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from accelsim.errors import SpecError
from accelsim.lower.attention import attention_variant
from accelsim.lower.precision import Precision, precision

PHASES = ("prefill", "decode")
"""Phases a request may name."""

DEFAULT_SEQ_LEN = 512
"""Prompt length (and in decode the KV-cache length) when none is given."""


@dataclass(frozen=True)
class Request:
    """A workload request (see the module docstring); fields left out take the defaults."""

    phase: str = "prefill"
    """``prefill`` (a batch of prompts) or ``decode`` (one new token per sequence)."""
    batch: int | None = None
    """Sequences; None: one per length of a list, else 1."""
    seq_len: int | tuple[int, ...] | None = None
    """Prefill: tokens per prompt, or a list with one per sequence; None for a ViT (its
    patches plus the class token).  Decode: 1 or None."""
    kv_len: int | tuple[int, ...] | None = None
    """Decode: cached keys per sequence, or a list with one per sequence.  Prefill: None."""
    dtype: str | Mapping[str, str] | Precision = "bf16"
    """An element type, or one per tensor class (:func:`accelsim.lower.precision.precision`)."""
    attention: str | None = None
    """A variant of :data:`accelsim.lower.attention.ATTENTION_VARIANTS`; None: the default
    (module docstring)."""
    fuse: bool = True
    """Whether the search may fuse Einsums into one kernel, their intermediates on chip."""
    embeddings: bool = False
    """Lower the embedding cascade that runs before the layers."""
    lm_head: bool = False
    """Lower the final norm and LM head that run after the layers."""
    expert_shards: int = 1
    """Expert parallelism: the devices a mixture of experts' experts are spread over.  This
    device runs the request's sequences through attention and holds ``experts /
    expert_shards`` of the experts (the workload lists those), which receive their share of
    every device's tokens (accelsim.lower.blocks.mixture_of_experts)."""
    kernel_ends: tuple[str, ...] = ()
    """Einsums (by canonical name, e.g. ``AO``) after which a fused kernel must end: their
    output leaves the device, as before a tensor-parallel all-reduce.  In a variable-length
    batch the name covers every group's copy (``AO_1``, ``AO_2`` ...)."""

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise SpecError(f"unknown phase {self.phase!r}; expected one of {', '.join(PHASES)}")
        for name in ("fuse", "embeddings", "lm_head"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"{name} must be true or false, got {getattr(self, name)!r}")
        seq_len, kv_len = _lengths(self.seq_len, "seq_len"), _lengths(self.kv_len, "kv_len")
        if self.phase == "prefill" and kv_len is not None:
            raise SpecError("kv_len is for decode; a prefill has no KV cache")
        if self.phase == "decode" and seq_len not in (None, 1):
            raise SpecError(f"a decode step adds one token per sequence; seq_len must be 1 or "
                            f"left out, got {self.seq_len!r}")
        lengths = seq_len if self.phase == "prefill" else kv_len
        many = len(lengths) if isinstance(lengths, tuple) else None
        batch = (many or 1) if self.batch is None else count(self.batch, "batch")
        if many is not None and batch != many:
            raise SpecError(f"batch {batch} disagrees with {many} sequence lengths")
        precision(self.dtype)
        if isinstance(self.kernel_ends, str) or not all(
                isinstance(n, str) for n in self.kernel_ends):
            raise SpecError(f"kernel_ends must be a list of Einsum names, got "
                            f"{self.kernel_ends!r}")
        object.__setattr__(self, "kernel_ends", tuple(self.kernel_ends))
        count(self.expert_shards, "expert_shards")
        attention = self.attention
        if attention is None:
            attention = "3pass" if self.fuse else (
                "splitkv" if self.phase == "decode" else "flash2")
        attention_variant(attention)
        for name, value in (("seq_len", seq_len), ("kv_len", kv_len), ("batch", batch),
                            ("attention", attention)):
            object.__setattr__(self, name, value)

    @classmethod
    def for_workload(cls, workload: Any, *, seq_len: Any = None, kv_len: Any = None,
                     **fields: Any) -> "Request":
        """The request for ``workload`` (a workload path or spec; a cascade file takes the
        plain defaults and ignores them) with ``seq_len`` read as the prompt length and every
        default applied (module docstring)."""
        if seq_len is None and not _is_vision(workload):
            seq_len = DEFAULT_SEQ_LEN
        if fields.get("phase") == "decode":
            seq_len, kv_len = None, seq_len if kv_len is None else kv_len
        else:
            kv_len = None
        return cls(seq_len=seq_len, kv_len=kv_len, **fields)

    @property
    def length(self) -> int | tuple[int, ...] | None:
        """The length the phase is about: tokens per prompt (prefill) or cached keys per
        sequence (decode)."""
        return self.seq_len if self.phase == "prefill" else self.kv_len

    @property
    def precision(self) -> Precision:
        """The element type of each tensor class."""
        return precision(self.dtype)


def count(value: Any, what: str, least: int = 1) -> int:
    """``value`` if it is a whole number >= ``least``; else a SpecError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{what} must be a whole number, got {value!r}")
    if value < least:
        raise SpecError(f"{what} must be >= {least}, got {value}")
    return value


def _lengths(value: Any, what: str) -> int | tuple[int, ...] | None:
    """None, one length, or a list of them (as a tuple), each a whole number >= 1."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            raise SpecError(f"{what} is an empty list")
        return tuple(count(v, f"{what}[{k}]") for k, v in enumerate(value))
    return count(value, what)


def _is_vision(workload: Any) -> bool:
    """Whether ``workload`` is a ViT workload (its prompt is its patches); False for a
    cascade file."""
    from accelsim.lower.phases import is_workload, load_workload  # phases imports this module

    if isinstance(workload, (str, os.PathLike)) and not is_workload(workload):
        return False
    return load_workload(workload).model.image_size is not None
