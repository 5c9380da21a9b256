"""Element types per tensor role: weights, activations, KV cache and accumulators.

A lowering stores each tensor in the element type of its *class*:

* ``weights`` -- parameters (projection matrices, biases, norm gains, embedding rows);
* ``activations`` -- the hidden states flowing through the layer and every intermediate that
  is not a reduction result (the cascade's default type);
* ``kv`` -- the KV cache read by a decode step and the new keys and values written to it;
* ``accum`` -- intermediates written by a ``sum`` reduction (GEMM results, scores, softmax
  denominators, norm statistics): the partial sums a mapping keeps while accumulating.

``precision("bf16")`` stores weights, activations and the KV cache in bf16 and accumulates in
fp32; a dict names each class, e.g. LLM.int8-style int8 weights with fp16 activations:
``{"weights": "int8", "activations": "fp16", "kv": "fp16", "accum": "fp32"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from accelsim.dtypes import BYTES_PER_ELEMENT, DTYPES
from accelsim.errors import SpecError

CLASSES = ("weights", "activations", "kv", "accum")
"""Tensor classes that carry an element type."""

_NARROW = {"bf16", "fp16", "fp8", "int8", "int4", "int16"}
"""Types whose products are accumulated in a wider type by default."""


@dataclass(frozen=True)
class Precision:
    """The element type of each tensor class (see the module docstring)."""

    weights: str = "bf16"
    """Parameters."""
    activations: str = "bf16"
    """Hidden states and non-reduction intermediates."""
    kv: str = "bf16"
    """KV cache entries."""
    accum: str = "fp32"
    """Results of sum reductions."""

    def of(self, kind: str) -> str:
        """Element type of tensor class ``kind``."""
        return getattr(self, kind)

    def bytes(self, kind: str) -> float:
        """Bytes per element of tensor class ``kind``."""
        return BYTES_PER_ELEMENT[self.of(kind)]


def precision(dtype: "str | Mapping[str, str] | Precision") -> Precision:
    """Element types from one name (``"bf16"``), a dict per class, or a :class:`Precision`.

    A string ``weights=int8,activations=fp16,kv=fp8`` (the command line's form) is read as
    that dict.  With one name, weights, activations and KV cache use it and accumulators use
    fp32 when it is narrower than 32 bits (int32 for int8/int4/int16), else the name itself.
    In a dict, ``kv`` defaults to ``activations``, ``activations`` to ``weights`` and
    ``accum`` as above.
    """
    if isinstance(dtype, Precision):
        return dtype
    if isinstance(dtype, str) and "=" in dtype:     # the command line's CLASS=TYPE,...
        dtype = _pairs(dtype)
    if isinstance(dtype, str):
        _known(dtype, "dtype")
        return Precision(dtype, dtype, dtype, _default_accum(dtype))
    if isinstance(dtype, Mapping):
        unknown = [k for k in dtype if k not in CLASSES]
        if unknown:
            raise SpecError(f"unknown tensor class {unknown[0]!r}; expected some of "
                            f"{', '.join(CLASSES)}", path="dtype")
        for key, value in dtype.items():
            _known(value, f"dtype.{key}")
        if "weights" not in dtype and "activations" not in dtype:
            raise SpecError("a dict must give at least 'weights' or 'activations'", path="dtype")
        activations = dtype.get("activations", dtype.get("weights"))
        weights = dtype.get("weights", activations)
        kv = dtype.get("kv", activations)
        accum = dtype.get("accum", _default_accum(activations))
        return Precision(weights, activations, kv, accum)
    raise SpecError(f"dtype must be an element type name such as 'bf16' or a dict of "
                    f"{', '.join(CLASSES)}, got {type(dtype).__name__}")


def _pairs(text: str) -> dict[str, str]:
    """``weights=int8,activations=fp16`` as a dict; a piece without ``=`` is an error."""
    pairs = {}
    for piece in text.split(","):
        key, sep, value = (p.strip() for p in piece.partition("="))
        if not sep or not key or not value:
            raise SpecError(f"{piece.strip()!r} in {text!r} is not CLASS=TYPE (e.g. "
                            "weights=int8,activations=fp16,kv=fp8)", path="dtype")
        pairs[key] = value
    return pairs


def _known(name, where: str) -> None:
    if not isinstance(name, str) or name not in BYTES_PER_ELEMENT:
        raise SpecError(f"unknown element type {name!r}; expected one of {', '.join(DTYPES)}",
                        path=where)


def _default_accum(dtype: str) -> str:
    if dtype in _NARROW:
        return "int32" if dtype.startswith("int") else "fp32"
    return dtype
