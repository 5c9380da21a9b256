"""Field types shared by the spec models: quantities with units, bounded counts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from accelsim.units import Quantity, parse_quantity

MAX_COUNT = 2**40
"""Largest integer accepted for counts and sizes (instances, ranks, layers)."""


class SpecModel(BaseModel):
    """Base of every spec model: frozen, unknown keys rejected, docstring per field."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False,
                              validate_default=True, use_attribute_docstrings=True)


def _quantity(kind: str, positive: bool = False):
    """A quantity of ``kind``; ``positive``: zero and negative values are refused (a rate
    the model divides by)."""
    def parse(value: object) -> Quantity:
        quantity = value if isinstance(value, Quantity) else parse_quantity(value, kind)
        if positive and not quantity.value > 0:
            raise ValueError(f"a {kind} must be positive, got {quantity.text or quantity.value!r}")
        return quantity

    return Annotated[Quantity, BeforeValidator(parse),
                     PlainSerializer(lambda q: q.text or q.value, return_type=object)]


Capacity = _quantity("capacity")
Bandwidth = _quantity("bandwidth", positive=True)
Frequency = _quantity("frequency", positive=True)
Energy = _quantity("energy")
AccessEnergy = _quantity("energy per access or bit")
Power = _quantity("power")
Time = _quantity("time")
Throughput = _quantity("throughput")


def _strict_int(value: object) -> object:
    """Reject booleans and floats with a fraction where a whole number is expected."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return value


Count = Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=MAX_COUNT)]
"""A positive whole number (instances, sizes, factors)."""

NonNegCount = Annotated[int, BeforeValidator(_strict_int), Field(ge=0, le=MAX_COUNT)]
"""A whole number that may be zero."""

Name = Annotated[str, Field(min_length=1, max_length=200)]
"""A non-empty identifier-like name."""
