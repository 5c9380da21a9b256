"""accelsim.search.search: registry, objectives, budgets, determinism, Ctrl-C, constraints."""

from __future__ import annotations

import math

import pytest
from search_cases import SHARED, TWO_LEVEL, gemm, machine

from accelsim.arch import load_architecture
from accelsim.errors import MappingError, SpecError, SpecErrors
from accelsim.model import evaluate
from accelsim.search import STRATEGIES, search
from accelsim.search.constraints import load_constraints

SAMPLERS = ["random", "anneal", "genetic"]


@pytest.fixture(scope="module")
def shared():
    return load_architecture(str(SHARED))


@pytest.fixture(scope="module")
def small():
    return gemm(64, 96, 128)


def test_unknown_names_list_the_valid_ones(small, shared):
    with pytest.raises(SpecError, match="exhaustive, random, anneal, genetic"):
        search(small, shared, strategy="tabu", progress=False)
    with pytest.raises(SpecError, match="energy, latency, edp, traffic"):
        search(small, shared, objective="power", progress=False)
    with pytest.raises(SpecError, match="non-negative weights"):
        search(small, shared, objective={"energy": 1, "area": 2}, progress=False)
    assert list(STRATEGIES) == ["exhaustive", "random", "anneal", "genetic"]


@pytest.mark.parametrize("strategy", SAMPLERS)
def test_same_seed_same_result(small, shared, strategy):
    runs = [search(small, shared, strategy=strategy, budget=3000, seed=5, progress=False)
            for _ in range(2)]
    assert runs[0].mapping == runs[1].mapping
    assert runs[0].evaluated == runs[1].evaluated == 3000
    assert [p.energy_pj for p in runs[0].pareto] == [p.energy_pj for p in runs[1].pareto]


def test_result_is_the_models_evaluation(small, shared):
    result = search(small, shared, strategy="anneal", budget=4000, progress=False)
    assert result.report == evaluate(small, shared, result.mapping)
    assert result.report.energy_pj == min(p.energy_pj for p in result.pareto)
    energies = [p.energy_pj for p in result.pareto]
    latencies = [p.latency_s for p in result.pareto]
    assert energies == sorted(energies) and latencies == sorted(latencies, reverse=True)
    assert result.elapsed_s > 0 and result.considered >= result.evaluated
    assert not result.interrupted and 1 <= result.found_over_bound < 10


@pytest.mark.parametrize("objective, key", [
    ("latency", lambda r: r.latency_s), ("traffic", lambda r: r.offchip_bytes),
    ("edp", lambda r: r.energy_pj * r.latency_s)])
def test_objectives_pick_their_metric(small, shared, objective, key):
    result = search(small, shared, objective=objective, strategy="random", budget=3000,
                    progress=False)
    baseline = search(small, shared, objective="energy", strategy="random", budget=3000,
                      progress=False)
    assert key(result.report) <= key(baseline.report)


def test_weighted_objective_is_a_product_of_powers(small, shared):
    edp = search(small, shared, objective="edp", strategy="random", budget=2000, progress=False)
    weighted = search(small, shared, objective={"energy": 1, "latency": 1}, strategy="random",
                      budget=2000, progress=False)
    assert weighted.mapping == edp.mapping


def test_ctrl_c_returns_the_best_so_far(small, shared):
    seen = []

    def interrupt(progress):
        seen.append(progress)
        if len(seen) == 3:
            raise KeyboardInterrupt

    result = search(small, shared, strategy="genetic", budget=10**6, progress=False,
                    callback=interrupt)
    assert result.interrupted and len(seen) == 3
    assert result.evaluated == seen[-1].evaluated < 10**6
    assert result.report.energy_pj == pytest.approx(math.exp(seen[-1].best_score))


def test_time_budget_stops_the_search(small, shared):
    result = search(small, shared, strategy="random", budget_seconds=0.3, progress=False)
    assert 0 < result.evaluated and result.elapsed_s < 5


def test_progress_bar_runs(small, shared, capsys):
    result = search(small, shared, strategy="random", budget=500, progress=True)
    assert result.evaluated == 500


def test_constraints_are_respected(small, shared, tmp_path):
    path = tmp_path / "ws.yaml"
    path.write_text("""
kind: constraints
version: 1
levels:
  - level: O_SRAM
    spatial: [{rank: n, factor: 32, axis: x}]
    order: [m, k]
    keep: [Z]
  - level: O_acc
    spatial: [{rank: k, factor: 32, axis: y}]
  - level: DRAM
    factors: {m: 2}
min_utilization: 1.0
""")
    result = search(small, shared, constraints=str(path), strategy="anneal", budget=3000,
                    progress=False)
    levels = {lv.level: lv for lv in result.mapping.levels}
    assert [(s.rank, s.factor, s.axis) for s in levels["O_SRAM"].spatial] == [("N", 32, "x")]
    assert [(s.rank, s.factor, s.axis) for s in levels["O_acc"].spatial] == [("K", 32, "y")]
    assert ("M", 2) in [(t.rank, t.factor) for t in levels["DRAM"].temporal]
    order = [t.rank for t in levels["O_SRAM"].temporal]
    if "M" in order and "K" in order:
        assert order.index("M") < order.index("K")
    assert levels["O_SRAM"].keep == ["Z"]
    # min_utilization 1.0: all 32 x 32 PEs busy, the MACs at the array's peak (1,024 per
    # cycle); the report's utilization is over the kernel's whole time, which DRAM sets
    report = result.report
    assert report.compute_cycles["mac_array"] == report.ops["mac"] / 1024
    assert report.utilization == pytest.approx(report.ops["mac"] / 1024 / report.cycles)


@pytest.mark.parametrize("data, fragment", [
    ({"levels": [{"level": "GLB"}]}, "unknown level 'GLB'"),
    ({"levels": [{"level": "DRAM", "factors": {"q": 2}}]}, "unknown rank 'q'"),
    ({"levels": [{"level": "W_reg", "keep": ["Z"]}]}, "cannot keep 'Z'"),
    ({"levels": [{"level": "DRAM", "spatial": [{"rank": "m", "factor": 2}]}]}, "no fan-out"),
    ({"levels": [{"level": "DRAM", "factor": {"m": 2}}]}, "levels[0].factor"),
    ({"min_utilization": 2}, "min_utilization"),
])
def test_bad_constraints_are_named(small, shared, data, fragment):
    with pytest.raises((SpecError, SpecErrors), match=fragment.replace("[", r"\[")):
        search(small, shared, constraints=data, progress=False, budget=10)


def test_impossible_constraints_find_nothing(tmp_path):
    arch = machine(tmp_path, "tiny", TWO_LEVEL.format(capacity=4))
    with pytest.raises(MappingError, match="no valid mapping"):
        buf = {"level": "BUF", "factors": {"m": 8}, "keep": ["A"]}
        search(gemm(8, 8, 8), arch, constraints={"levels": [buf]},
               strategy="exhaustive", progress=False)


def test_constraints_load_from_dict_and_defaults():
    c = load_constraints({"min_utilization": 0.5})
    assert c.kind == "constraints" and c.min_utilization == 0.5 and not c.imperfect
    assert load_constraints(None).levels == []


def test_imperfect_factorizations_pad_awkward_sizes(shared):
    """N = 30 across the 32 columns needs a partial tile: only the imperfect space has it."""
    wide = {"levels": [{"level": "O_SRAM", "spatial": [{"rank": "n", "factor": 32, "axis": "x"}]}]}
    with pytest.raises(SpecError, match="does not divide its size 30"):
        search(gemm(16, 30, 8), shared, constraints=wide, progress=False)
    padded = search(gemm(16, 30, 8), shared, constraints={**wide, "imperfect": True},
                    strategy="anneal", budget=1500, progress=False)
    levels = {lv.level: lv for lv in padded.mapping.levels}
    assert [(s.rank, s.factor) for s in levels["O_SRAM"].spatial] == [("N", 32)]
    assert padded.report == evaluate(gemm(16, 30, 8), shared, padded.mapping)
