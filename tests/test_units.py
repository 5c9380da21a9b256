"""Quantities with units: each expected value converted by hand to base units."""

import pytest

from accelsim.units import parse_quantity

GIB, KIB = 2**30, 2**10


@pytest.mark.parametrize("text, kind, value, per_cycle, per_bit", [
    ("80 GiB", "capacity", 80 * GIB, False, False),
    ("228 KiB", "capacity", 228 * KIB, False, False),
    ("50 MB", "capacity", 50e6, False, False),
    ("3.35 TB/s", "bandwidth", 3.35e12, False, False),
    ("128 bit/cycle", "bandwidth", 16, True, False),           # 128 bits = 16 bytes
    ("1.83 GHz", "frequency", 1.83e9, False, False),
    ("0.42 pJ", "energy per access or bit", 0.42e-12, False, False),
    ("7 pJ/bit", "energy per access or bit", 56e-12, False, True),  # stored per byte: 7 x 8
    ("250 mW", "power", 0.25, False, False),
    ("4 us", "time", 4e-6, False, False),
    ("989 TFLOP/s", "throughput", 989e12, False, False),
    ("1024 MAC/cycle", "throughput", 1024, True, False),
    ("1e3 B", "capacity", 1000, False, False),
    ("  64KiB ", "capacity", 64 * KIB, False, False),
])
def test_parses(text, kind, value, per_cycle, per_bit):
    q = parse_quantity(text, kind)
    assert q.value == pytest.approx(value, rel=1e-12)
    assert q.per_cycle is per_cycle
    assert q.per_bit is per_bit


@pytest.mark.parametrize("text, kind, fragment", [
    ("3.35 TB", "bandwidth", "'3.35 TB' is not a bandwidth (e.g. '3.35 TB/s'"),
    ("80 GHz", "capacity", "is not a capacity"),
    ("-4 KiB", "capacity", "negative"),
    ("1e400 B", "capacity", "out of range"),
    ("1e29 TB", "capacity", "out of range"),
    ("12 furlongs", "capacity", "is not a capacity"),
    ("GiB", "capacity", "is not a capacity"),
    ("80", "capacity", "is not a capacity"),
    (80, "capacity", "give a number with a unit"),
    (True, "capacity", "give a number with a unit"),
    ([1, 2], "bandwidth", "list is not a bandwidth"),
    ("7 pJ/bit/s", "energy per access or bit", "is not an energy"),
    ("nan B", "capacity", "is not a capacity"),
])
def test_rejects(text, kind, fragment):
    with pytest.raises(ValueError) as info:
        parse_quantity(text, kind)
    assert fragment in str(info.value)
