"""A compute unit never runs faster than its peak, whatever the mapping's fan-out.

Machine (written here): DRAM over a buffer that fans out to 4 compute instances, a MAC unit
on each of them and a single vector unit beside them (as TPUv4i's 4 MXUs share one vector
unit, Jouppi et al. ISCA 2021).  Einsum Z[i] = A[i] + B[i] over I = 64, mapped with I spread
4 ways: the mapping takes 16 steps, but the one vector unit adds 1 pair per cycle, so the
adds take 64 cycles (64 operations / (1 per cycle x 1 unit)) and it is 100% utilized.
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arch import Architecture
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.search.batch_model import count, metrics, model_constants
from accelsim.search.constraints import Constraints
from accelsim.search.moves import sample
from accelsim.search.space import build_space, to_mapping
from accelsim.spec import HardwareSpec, MappingSpec


def machine(units) -> Architecture:
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "four-pes-one-vector", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 32},
                   {"name": "BUF", "capacity": "4 KiB", "word_bits": 32}],
        "compute": units}))


MAC = {"name": "mac", "ops": ["mac"], "instances": [4], "throughput": {"fp32": 1}}
VECTOR = {"name": "vector", "ops": ["add", "max", "exp", "divide", "elementwise"],
          "instances": [1], "throughput": {"fp32": 1}}
ADD = BoundEinsum(Einsum.parse("Z[i] = A[i] + B[i]"), {"I": 64}, {}, {})
SPREAD = MappingSpec.model_validate({
    "kind": "mapping", "version": 1, "name": "spread", "einsum": "Z",
    "levels": [{"level": "DRAM"},
               {"level": "BUF", "temporal": [{"rank": "I", "factor": 16}],
                "spatial": [{"rank": "I", "factor": 4}]}]})


def test_one_vector_unit_takes_an_operation_per_cycle():
    report = evaluate(ADD, machine([MAC, VECTOR]), SPREAD)
    assert report.compute_cycles["vector"] == 64
    assert report.utilization == pytest.approx(1.0)


def test_a_machine_without_a_mac_unit_evaluates_adds():
    """Op classes an Einsum does not use need no unit (it does no MACs here)."""
    report = evaluate(ADD, machine([{**VECTOR, "instances": [4]}]), SPREAD)
    assert report.compute_cycles["vector"] == 16        # 4 units, 16 steps


def test_the_search_model_agrees():
    """The search's batch model applies the same floor: equal cycles and utilization."""
    arch = machine([MAC, VECTOR])
    space = build_space(ADD, arch, Constraints())
    cands = sample(space, 200, np.random.default_rng(0))
    out = count(space, cands)
    got = metrics(space, model_constants(ADD, arch), out, cands.keeps)
    for i in range(len(cands)):
        if not got.valid[i]:
            continue
        report = evaluate(ADD, arch, to_mapping(space, cands, i, "sampled"))
        assert got.cycles[i] == report.cycles and got.utilization[i] == report.utilization
        assert report.compute_cycles["vector"] >= 64 and report.utilization <= 1.0
