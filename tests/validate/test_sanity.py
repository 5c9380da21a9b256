"""Calibration figures that no CPU could produce are refused; repeated measurements report
their spread; validate warns on a busy or noisy machine (accelsim.validate.sanity).

The impossible figures are the ones a calibration on a loaded machine once wrote: a per-core
copy bandwidth of 7.9e5 TB/s, an L3 slower than DRAM, and op_cycles of 8,140 for an add.
"""

from __future__ import annotations

import pytest

from accelsim.errors import ValidationRunError
from accelsim.validate import sanity
from accelsim.validate.cpu import Calibration


def calibration(**changes) -> Calibration:
    """8 cores at 3 GHz: 16 MACs, 8 adds and 1 exp per core and cycle; DRAM 40 GB/s (1.7 B
    per core-cycle), L3 200 GB/s, L2 100 GB/s per core (33 B per cycle)."""
    cal = Calibration("host", "2026-01-01", 8, 3e9, 1 << 34, {}, macs_per_s=8 * 3e9 * 16,
                      exp_per_s=8 * 3e9, elementwise_per_s=8 * 3e9 * 8,
                      bandwidth={"DRAM": 40e9, "L3": 200e9, "L2": 100e9})
    for key, value in changes.items():
        setattr(cal, key, value)
    return cal


def test_plausible_figures_pass():
    assert sanity.impossible(calibration()) == []


def test_impossible_figures_are_named():
    """7.9e5 TB/s over 8 cores at 3 GHz is 3.3e7 B per core-cycle (> 256); an add at 8,140
    MAC slots is 16 / 8140 = 0.002 per core-cycle (< 1/64); L3 below DRAM."""
    cal = calibration(elementwise_per_s=8 * 3e9 * 16 / 8140,
                      bandwidth={"DRAM": 7.9e17, "L3": 200e9, "L2": 100e9})
    found = sanity.impossible(cal)
    assert any(f.startswith("elementwise rate") and "0.001966" in f for f in found)
    assert any(f.startswith("DRAM copy bandwidth") and "3.292e+07" in f for f in found)
    assert any("L3 copy bandwidth" in f and "below DRAM" in f for f in found)


def test_repeated_reports_median_and_spread():
    values = iter([1.0, 3.0, 2.0])
    got = sanity.repeated(lambda: next(values), 3)
    assert got == sanity.Repeated(2.0, (1.0, 3.0, 2.0), 1.0)     # (3 - 1) / 2
    assert sanity.noisy({"DRAM": 0.2, "macs": 0.05}) == ["DRAM varied by 20% between repetitions"]


def test_calibration_measures_again_then_refuses(monkeypatch):
    pytest.importorskip("torch")
    from accelsim.validate import cpu

    bad = calibration(bandwidth={"DRAM": 7.9e17, "L3": 200e9, "L2": 100e9})
    results = iter([bad, calibration()])
    steps = []
    monkeypatch.setattr(cpu, "_measure", lambda torch, quick, say: next(results))
    assert sanity.impossible(cpu.measure(progress=steps.append)) == []
    assert len(steps) == 1 and "attempt 1 gave impossible figures" in steps[0]
    monkeypatch.setattr(cpu, "_measure", lambda torch, quick, say: bad)
    with pytest.raises(ValidationRunError, match="impossible figures 3 times.*DRAM copy"):
        cpu.measure()


def test_busy_and_noisy_machines_are_named(monkeypatch):
    monkeypatch.setattr(sanity.os, "getloadavg", lambda: (8.0, 0.0, 0.0))
    assert "load average 8.00 on 4 CPUs" in sanity.load_note(4)
    monkeypatch.setattr(sanity.os, "getloadavg", lambda: (1.0, 0.0, 0.0))
    assert sanity.load_note(4) is None
    assert "varied by 100% over 4 runs" in sanity.noise_note([1.0, 1.0, 1.0, 2.0])
    assert sanity.noise_note([1.0, 1.05]) is None
