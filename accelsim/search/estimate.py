"""Scores of reports under an objective, and the estimate that ranks a group's tilings.

An objective weighs log(energy), log(latency) and log(off-chip traffic)
(accelsim.search.driver.objective_weights): :func:`score` is that weighted sum for one
report.  :func:`estimate` scores a tiling of a fused group before its exact evaluation,
from its members' reports on one tile each (accelsim.search.group); the group search
assembles and evaluates exactly only the best few tilings by it.
"""

from __future__ import annotations

import math
from typing import Mapping

from accelsim.arch import Architecture
from accelsim.model import TIMED_ENERGY, Report
from accelsim.search.types import FusedGroup


def metrics_of(report: Report) -> dict[str, float]:
    """The metrics an objective weighs: energy (pJ), latency (s), off-chip traffic (B)."""
    return {"energy": report.energy_pj, "latency": report.latency_s,
            "traffic": report.offchip_bytes}


def score(report: Report, weights: Mapping[str, float]) -> float:
    """log of energy^a x latency^b x traffic^c (lower is better)."""
    return log_score(metrics_of(report), weights)


def log_score(metrics: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """The weighted sum of log(metric), each metric floored at 1e-30."""
    return sum(w * math.log(max(metrics[k], 1e-30)) for k, w in weights.items() if w)


def estimate(group: FusedGroup, found, tiles, full, arch: Architecture, weights,
             reuse: bool = True) -> float:
    """Weighted log-cost of a tiling from its members' tile reports, for ranking tilings.
    ``found``: each member's search on its tile, {name: (result, tensor -> its ranks,
    held)}; ``tiles``: row rank -> tile; ``full``: every rank's size.

    Without ``reuse``, each member's tile cost times the shared iterations (it overrates
    small tiles' off-chip traffic).  With it, the same except off-chip traffic: a tensor
    that stays on chip in the group (an intermediate, or one another member writes) costs
    none, and one a held member keeps across the shared loops that do not index it is
    fetched once per iteration of those that do; a member bound by the backing store has its
    time scaled by the same ratio, and its backing-store energy with it (it underrates a
    member whose compute the smaller tile slows)."""
    factors = {r: math.ceil(full[r] / t) for r, t in tiles.items()}
    order = list(tiles)
    launch, top = arch.launch_overhead_s, arch.levels[0].name
    internal = set(group.internal())
    on_chip = internal | set(group.members)
    energy = latency = traffic = 0.0
    for name, (result, dims, held) in found.items():
        report = result.report
        # a member sits inside the shared loops down to the innermost over a rank it has
        own = set().union(*dims.values())
        depth = max((i for i, r in enumerate(order) if r in own), default=-1)
        inside = {r: factors[r] for r in order[:depth + 1]}
        repeats = math.prod(inside.values())
        raw = moved = 0.0
        for row in (r for r in report.tensors if r.level == top):
            raw += row.bytes * repeats
            if not reuse:
                continue
            written_out = row.tensor == name and name not in internal
            if row.tensor in on_chip and not written_out:
                continue
            times = (math.prod(f for r, f in inside.items() if r in dims.get(row.tensor, ()))
                     if held else repeats)
            moved += row.bytes * times
        if not reuse:
            moved = raw
        ratio = moved / raw if raw else 1.0
        scale = ratio if report.bottleneck == top else 1.0
        latency += (report.latency_s - launch) * repeats * scale
        offchip_pj = report.energy_breakdown.get(top, 0.0) * repeats
        # energy drawn per cycle (leakage, a chip's run power) shrinks with the time
        timed_pj = sum(report.energy_breakdown.get(k, 0.0) for k in TIMED_ENERGY)
        energy += (report.energy_pj * repeats - offchip_pj * (1.0 - ratio)
                   - timed_pj * repeats * (1.0 - scale))
        traffic += moved
    return log_score({"energy": energy, "latency": latency + launch, "traffic": traffic},
                     weights)
