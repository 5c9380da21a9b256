"""Physical quantities in spec files: ``'80 GiB'``, ``'3.35 TB/s'``, ``'7 pJ/bit'``.

A small table-driven parser rather than pint: importing pint and building its
registry costs about 0.3 s per CLI start on the development machine, against
well under a millisecond here, and specs need only a handful of units.

A quantity is a value in base units (byte, second, joule, cycle, operation)
with a dimension vector.  Each spec field names the *kind* of quantity it
accepts; anything else is rejected with a message that gives an example.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Dimension exponents, in this order: bytes, seconds, joules, cycles, operations.
Dim = tuple[int, int, int, int, int]

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_SMALL = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}

# base symbol -> (scale to base unit, dimension, allowed prefixes)
_BASES: dict[str, tuple[float, Dim, dict[str, float]]] = {
    "B": (1.0, (1, 0, 0, 0, 0), {**_DECIMAL, **_BINARY}),
    "byte": (1.0, (1, 0, 0, 0, 0), {}),
    "bytes": (1.0, (1, 0, 0, 0, 0), {}),
    "b": (0.125, (1, 0, 0, 0, 0), {**_DECIMAL, **_BINARY}),
    "bit": (0.125, (1, 0, 0, 0, 0), {**_DECIMAL, **_BINARY}),
    "bits": (0.125, (1, 0, 0, 0, 0), {}),
    "s": (1.0, (0, 1, 0, 0, 0), _SMALL),
    "Hz": (1.0, (0, -1, 0, 0, 0), _DECIMAL),
    "J": (1.0, (0, 0, 1, 0, 0), _SMALL),
    "W": (1.0, (0, -1, 1, 0, 0), {**_SMALL, **_DECIMAL}),
    "cycle": (1.0, (0, 0, 0, 1, 0), {}),
    "cycles": (1.0, (0, 0, 0, 1, 0), {}),
    "FLOP": (1.0, (0, 0, 0, 0, 1), _DECIMAL),
    "OP": (1.0, (0, 0, 0, 0, 1), _DECIMAL),
    "MAC": (1.0, (0, 0, 0, 0, 1), _DECIMAL),
    "access": (1.0, (0, 0, 0, 0, 0), {}),
}

_NUMBER = r"[+-]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([^\s\d].*?)?\s*$")


@dataclass(frozen=True)
class Kind:
    """A kind of quantity a field accepts: its dimensions and an example for messages."""

    name: str
    dims: tuple[Dim, ...]
    example: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("capacity", ((1, 0, 0, 0, 0),), "228 KiB"),
        Kind("bandwidth", ((1, -1, 0, 0, 0), (1, 0, 0, -1, 0)), "3.35 TB/s' or '128 bit/cycle"),
        Kind("frequency", ((0, -1, 0, 0, 0),), "1.83 GHz"),
        Kind("energy", ((0, 0, 1, 0, 0), (0, 0, 1, 0, -1)), "0.42 pJ"),
        Kind("energy per access or bit", ((0, 0, 1, 0, 0), (-1, 0, 1, 0, 0)), "0.42 pJ' or '7 pJ/bit"),
        Kind("power", ((0, -1, 1, 0, 0),), "250 mW"),
        Kind("time", ((0, 1, 0, 0, 0),), "4 us"),
        Kind("throughput", ((0, -1, 0, 0, 1), (0, 0, 0, -1, 1)), "989 TFLOP/s' or '1024 MAC/cycle"),
    )
}

MAX_MAGNITUDE = 1e30
"""Largest value (in base units) accepted for any quantity: beyond it a typo is likelier."""


@dataclass(frozen=True)
class Quantity:
    """A value in base units (bytes, seconds, joules, cycles, operations) and its dimension."""

    value: float
    dim: Dim
    text: str = ""

    @property
    def per_cycle(self) -> bool:
        """True for rates given per clock cycle rather than per second."""
        return self.dim[3] == -1

    @property
    def per_bit(self) -> bool:
        """True for energies given per bit (stored per byte) rather than per access."""
        return self.dim[0] == -1

    def __str__(self) -> str:
        return self.text or f"{self.value:g}"


def _parse_unit(unit: str) -> tuple[float, Dim] | None:
    """Scale and dimension of a unit such as ``TB/s`` or ``pJ/bit``; None when unknown."""
    scale, dim = 1.0, [0, 0, 0, 0, 0]
    parts = unit.replace(" ", "").split("/")
    if len(parts) > 2 or not all(parts):
        return None
    for sign, part in zip((1, -1), parts):
        found = _parse_base(part)
        if found is None:
            return None
        s, d = found
        scale = scale * s if sign > 0 else scale / s
        dim = [a + sign * b for a, b in zip(dim, d)]
    return scale, tuple(dim)  # type: ignore[return-value]


def _parse_base(symbol: str) -> tuple[float, Dim] | None:
    if symbol == "TOPS":  # conventional shorthand for tera-operations per second
        return 1e12, (0, -1, 0, 0, 1)
    if symbol in _BASES:
        scale, dim, _ = _BASES[symbol]
        return scale, dim
    for base, (scale, dim, prefixes) in _BASES.items():
        if symbol.endswith(base):
            prefix = symbol[: -len(base)]
            if prefix in prefixes and prefix:
                return prefixes[prefix] * scale, dim
    return None


def parse_quantity(text: object, kind: str) -> Quantity:
    """Parse ``text`` as a quantity of ``kind`` (a key of :data:`KINDS`).

    Raises ValueError with a one-line message naming the expected kind and an example.
    """
    spec = KINDS[kind]
    article = "an" if spec.name[0] in "aeiou" else "a"
    expected = f"(e.g. '{spec.example}')"
    if isinstance(text, bool) or not isinstance(text, str):
        shown = repr(text) if not isinstance(text, (dict, list)) else type(text).__name__
        raise ValueError(f"{shown} is not {article} {spec.name}: give a number with a unit {expected}")
    match = _QUANTITY.match(text)
    if not match or not match.group(2):
        raise ValueError(f"{text!r} is not {article} {spec.name} {expected}")
    number = float(match.group(1).replace("_", ""))
    unit = _parse_unit(match.group(2))
    if unit is None or unit[1] not in spec.dims:
        raise ValueError(f"{text!r} is not {article} {spec.name} {expected}")
    value = number * unit[0]
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"{text!r} is out of range for {article} {spec.name}")
    if value < 0:
        raise ValueError(f"{text!r} is negative; {article} {spec.name} must be zero or more")
    return Quantity(value=value, dim=unit[1], text=text.strip())
