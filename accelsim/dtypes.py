"""Element types and their sizes, and the roles a tensor plays, shared by every layer."""

from __future__ import annotations

from accelsim.errors import SpecError

BYTES_PER_ELEMENT: dict[str, float] = {
    "fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1,
    "int32": 4, "int16": 2, "int8": 1, "int4": 0.5,
}
"""Storage size of one element, in bytes (tf32 is stored in 32 bits)."""

DTYPES = tuple(BYTES_PER_ELEMENT)


def element_bytes(dtype: str, *, file: str | None = None, path: str | None = None) -> float:
    """Bytes per element of ``dtype``; unknown names are a :class:`SpecError` listing valid ones."""
    try:
        return BYTES_PER_ELEMENT[dtype]
    except (KeyError, TypeError):
        raise SpecError(f"unknown element type {dtype!r}; expected one of {', '.join(DTYPES)}",
                        file=file, path=path) from None


ROLES = ("input", "weight", "output", "intermediate")
"""Roles a tensor plays: a lowering records one per tensor, and a level's keep/bypass lists
and a mapping's role overrides may name roles instead of tensors."""
