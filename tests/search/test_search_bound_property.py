"""The cascade search's lower bound holds for what it finds: over shipped cascades, random
sizes and random on-chip capacities, found >= bound >= the cascade's compulsory traffic
(each cascade input read once, each output written once; an independent count from the
tensors' shapes).  A bound above a found mapping is a wrong bound (a Mamba decode layer
once reported found / bound = 0.916)."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accelsim.errors import CapacityError
from accelsim.ir import load_cascade
from accelsim.search import BoundCascade, search

from test_search_fusion import two_level

ROOT = Path(__file__).resolve().parents[2]
CASCADES = {
    "softmax": {"R": (1, 16), "N": (2, 64)},
    "layernorm": {"T": (1, 16), "D": (2, 64)},
    "mamba_selective_scan": {"D": (1, 8), "N": (1, 8), "L": (1, 16)},
}


def compulsory(cascade, sizes) -> float:
    total = 0.0
    for name in (*cascade.inputs, *cascade.outputs):
        tensor = cascade.tensors[name]
        total += math.prod(cascade.shape(name, **sizes)) * {"fp32": 4, "bf16": 2, "fp16": 2,
                                                            "int8": 1}[tensor.dtype]
    return total


@st.composite
def cases(draw):
    name = draw(st.sampled_from(sorted(CASCADES)))
    ranges = CASCADES[name]
    sizes = {r: draw(st.integers(lo, hi)) for r, (lo, hi) in ranges.items()}
    capacity = draw(st.sampled_from(["128 B", "512 B", "2 KiB", "16 KiB"]))
    return name, sizes, capacity


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@example(("softmax", {"R": 4, "N": 32}, "16 KiB"))               # fits: found = bound
@example(("layernorm", {"T": 3, "D": 17}, "128 B"))              # a row does not fit
@example(("mamba_selective_scan", {"D": 4, "N": 4, "L": 8}, "2 KiB"))
def test_found_is_at_least_the_bound_and_the_bound_at_least_compulsory(case):
    name, sizes, capacity = case
    cascade = load_cascade(ROOT / "einsum_cascades" / f"{name}.yaml")
    bound_sizes = cascade.sizes(**sizes)
    try:
        found = search(BoundCascade(cascade, bound_sizes), two_level(capacity),
                       objective="traffic", budget=60, progress=False)
    except CapacityError:
        return                      # nothing fits that chip: no mapping to compare
    floor = compulsory(cascade, sizes)
    assert found.offchip_bound_bytes >= floor - 1e-6
    assert found.offchip_bytes >= found.offchip_bound_bytes - 1e-6
