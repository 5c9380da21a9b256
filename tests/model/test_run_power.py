"""A whole-chip run power (a microcontroller datasheet's run-mode current x supply voltage)
turns time into energy, in place of per-access figures.

Machine (written here): 100 MHz, run_power 0.25 W, flash over a buffer, one vector unit
that adds one fp32 pair per cycle.  Z[i] = A[i] + B[i] over I = 64 on that unit takes
64 cycles = 640 ns; 0.25 W x 640 ns = 160 nJ = 160,000 pJ (2,500 pJ per cycle).  The levels
have no energy figure of their own, yet nothing is "left out": run power counts them.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arch import Architecture, load_architecture
from accelsim.errors import AccelsimError
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.search.batch_model import count, metrics, model_constants
from accelsim.search.constraints import Constraints
from accelsim.search.moves import sample
from accelsim.search.space import build_space, to_mapping
from accelsim.spec import HardwareSpec, MappingSpec

SPEC = {"kind": "hardware", "version": 1, "name": "mcu-like", "family": "mcu",
        "clock": "100 MHz", "run_power": "0.25 W",
        "levels": [{"name": "FLASH", "word_bits": 32},
                   {"name": "BUF", "capacity": "4 KiB", "word_bits": 32}],
        "compute": [{"name": "core", "ops": ["add"], "instances": [1],
                     "throughput": {"fp32": 1}}]}
ADD = BoundEinsum(Einsum.parse("Z[i] = A[i] + B[i]"), {"I": 64}, {}, {})
SERIAL = MappingSpec.model_validate({
    "kind": "mapping", "version": 1, "name": "serial", "einsum": "Z",
    "levels": [{"level": "FLASH"},
               {"level": "BUF", "temporal": [{"rank": "I", "factor": 64}]}]})


def test_energy_is_run_power_times_time():
    report = evaluate(ADD, Architecture.from_spec(HardwareSpec.model_validate(SPEC)), SERIAL)
    assert report.cycles == 64
    assert report.latency_s == pytest.approx(640e-9)
    assert report.energy_pj == pytest.approx(160_000)
    assert report.energy_breakdown["run power"] == pytest.approx(160_000)
    assert report.energy_missing == ()


def test_the_chip_draws_its_run_power_through_a_launch_overhead():
    """With a 1 us launch overhead the latency is 640 ns + 1 us = 1.64 us, and the energy
    0.25 W x 1.64 us = 410 nJ."""
    arch = Architecture.from_spec(HardwareSpec.model_validate({**SPEC,
                                                               "launch_overhead": "1 us"}))
    report = evaluate(ADD, arch, SERIAL)
    assert report.latency_s == pytest.approx(1.64e-6)
    assert report.energy_pj == pytest.approx(410_000)


@pytest.mark.parametrize("launch", ["0 s", "1 us"])
def test_the_search_model_agrees(launch):
    arch = Architecture.from_spec(HardwareSpec.model_validate({**SPEC,
                                                               "launch_overhead": launch}))
    space = build_space(ADD, arch, Constraints())
    cands = sample(space, 100, np.random.default_rng(0))
    got = metrics(space, model_constants(ADD, arch), count(space, cands), cands.keeps)
    checked = 0
    for i in range(len(cands)):
        if got.valid[i]:
            report = evaluate(ADD, arch, to_mapping(space, cands, i, "sampled"))
            assert got.energy_pj[i] == report.energy_pj       # the same terms, in the same order
            assert report.energy_pj == pytest.approx(0.25 * report.latency_s * 1e12)
            checked += 1
    assert checked


@pytest.mark.parametrize("change, field", [
    ({"leakage_per_cycle": "3 pJ"}, "leakage_per_cycle"),
    ({"levels": [{"name": "FLASH", "word_bits": 32},
                 {"name": "BUF", "capacity": "4 KiB", "word_bits": 32,
                  "energy": {"read": "1 pJ"}}]}, "levels[1].energy"),
    ({"compute": [{"name": "core", "ops": ["add"], "instances": [1],
                   "throughput": {"fp32": 1}, "energy": {"add": "1 pJ"}}]}, "compute[0].energy"),
    ({"run_power": "0.25 J"}, "run_power"),
    ({"run_power": "0 W"}, "run_power"),
])
def test_a_run_power_that_would_double_count_is_refused(tmp_path, change, field):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **change}))
    with pytest.raises(AccelsimError) as err:
        load_architecture(str(path))
    assert field in str(err.value) and "bad.yaml" in str(err.value)
