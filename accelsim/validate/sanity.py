"""Checks on figures measured on this machine: physically possible, and repeatable.

``calibrate`` measures each figure several times (:func:`repeated`: the median, and the
spread of the repetitions) and refuses a set of figures no CPU could produce
(:func:`impossible`): a rate per core and cycle outside what any core's units allow, or a
cache slower than the memory behind it.  Such figures come from a machine busy with other
work (a thread descheduled inside a timed region) or from a timer's resolution; the
calibration measures again, and gives up with the reasons after a few tries rather than
write a spec that would make every prediction wrong.  ``validate`` warns when the machine
is busy (:func:`load_note`) or its timings do not repeat (:func:`noise_note`).
"""

from __future__ import annotations

import os
import statistics
from typing import Callable, NamedTuple

REPEATS = 3
"""Repetitions of each calibration figure (its median is written, its spread reported)."""
TRIES = 3
"""Calibrations attempted before impossible figures are an error."""
NOISY = 0.15
"""Spread ((largest - smallest) / median of repetitions) above which a figure is noisy."""

PER_CORE_CYCLE = {
    "macs": (1 / 64, 64.0),
    "elementwise": (1 / 64, 64.0),
    "exp": (1 / 512, 64.0),
    "copy": (1 / 16, 256.0),
}
"""(lowest, highest) plausible rate per core and clock cycle: fp32 multiply-adds, adds and
exponentials (elements), copy bandwidth (bytes, read + write).  The widest cores retire two
16-lane fp32 FMAs a cycle (32) and move two 64-byte loads and one 64-byte store (192 B); the
bounds leave a factor of two above those, and below, a rate 64 (exp: 512, copy: 16) times
slower than one scalar operation (byte) a cycle, which no working core falls under."""


class Repeated(NamedTuple):
    """One figure measured several times."""

    value: float
    """The median."""
    values: tuple[float, ...]
    spread: float
    """(largest - smallest) / median."""


def repeated(measure: Callable[[], float], times: int = REPEATS) -> Repeated:
    """``measure()`` ``times`` times: the median and the spread."""
    values = tuple(measure() for _ in range(max(1, times)))
    mid = statistics.median(values)
    spread = (max(values) - min(values)) / mid if mid > 0 else float("inf")
    return Repeated(mid, values, spread)


def out_of_range(name: str, rate: float, kind: str, clock_hz: float, cores: int) -> str | None:
    """Why ``rate`` (per second, all ``cores``) is impossible for a figure of ``kind``
    (a key of :data:`PER_CORE_CYCLE`), or None."""
    low, high = PER_CORE_CYCLE[kind]
    per = rate / (clock_hz * cores)
    if low <= per <= high:
        return None
    return (f"{name}: {rate:.4g}/s is {per:.4g} per core and cycle at {clock_hz / 1e9:.3g} GHz "
            f"on {cores} core(s), outside {low:.3g} ... {high:.3g}")


def impossible(cal) -> list[str]:
    """Every figure of a calibration (:class:`accelsim.validate.cpu.Calibration`) that no
    CPU could produce, with the reason."""
    found = []
    for name, rate, kind in (("MAC rate", cal.macs_per_s, "macs"),
                             ("elementwise rate", cal.elementwise_per_s, "elementwise"),
                             ("exp rate", cal.exp_per_s, "exp")):
        found.append(out_of_range(name, rate, kind, cal.clock_hz, cal.cores))
    for level, rate in cal.bandwidth.items():
        cores = 1 if level == "L2" else cal.cores       # L2 is written per core
        found.append(out_of_range(f"{level} copy bandwidth", rate, "copy", cal.clock_hz, cores))
    dram, l3 = cal.bandwidth.get("DRAM"), cal.bandwidth.get("L3")
    if dram and l3 and l3 < dram:
        found.append(f"L3 copy bandwidth {l3:.4g} B/s is below DRAM's {dram:.4g} B/s: a cache "
                     "cannot be slower than the memory behind it")
    return [f for f in found if f]


def noisy(spreads: dict[str, float]) -> list[str]:
    """The figures whose repetitions spread more than :data:`NOISY`."""
    return [f"{name} varied by {100 * s:.0f}% between repetitions"
            for name, s in spreads.items() if s > NOISY]


def load_note(cpus: int | None = None) -> str | None:
    """A warning when the 1-minute load average exceeds half the CPUs, else None."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    cpus = cpus or os.cpu_count() or 1
    if load <= 0.5 * cpus:
        return None
    return (f"the machine is busy (load average {load:.2f} on {cpus} CPUs): timings taken now "
            "are noisy; rerun on an idle machine")


def noise_note(times: list[float]) -> str | None:
    """A warning when repeated timings of one reference call spread more than
    :data:`NOISY`, else None."""
    if len(times) < 2:
        return None
    mid = statistics.median(times)
    spread = (max(times) - min(times)) / mid if mid > 0 else float("inf")
    if spread <= NOISY:
        return None
    return (f"timings do not repeat: a reference call varied by {100 * spread:.0f}% over "
            f"{len(times)} runs; predicted-vs-measured errors include that noise")
