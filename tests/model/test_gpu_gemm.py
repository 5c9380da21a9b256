"""GPU GEMMs on the shipped A100 and H100 presets.

Wave quantization (the issue's example): a 1792 x 1792 output in 256 x 128 thread-block
tiles is 7 x 14 = 98 tiles on 108 A100 SMs, one partial wave.  With K = 1024 each busy SM
does 256 * 128 * 1024 MACs at 1024 bf16 MACs per clock (A100 whitepaper), 32,768 cycles,
while 10 SMs idle: utilization 98 / 108.  HBM moves A and B once (2 x 1792 x 1024 x 2 B)
and Z once (1792^2 x 2 B), 13.8 MB at 1,555 GB/s / 1.41 GHz = 1,102.8 B per cycle, about
12,500 cycles: the kernel is compute-bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.search import search
from accelsim.spec import MappingSpec

ROOT = Path(__file__).resolve().parents[2]
GEMM = Einsum.parse("Z[m,n] = A[m,k] * B[k,n]")
DTYPES = {"A": "bf16", "B": "bf16", "Z": "bf16"}
ROLES = {"A": "input", "B": "weight", "Z": "output"}


def _tb_256x128(bound_dtypes):
    """The 98-tile mapping of the module docstring, for element types ``bound_dtypes``."""
    arch = load_architecture(str(ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"))
    bound = BoundEinsum(GEMM, {"M": 1792, "N": 1792, "K": 1024}, bound_dtypes, ROLES)
    mapping = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "tb-256x128", "einsum": "Z",
        "levels": [
            {"level": "L2", "temporal": [{"rank": "k", "factor": 32}],
             "spatial": [{"rank": "m", "factor": 7}, {"rank": "n", "factor": 14}]},
            {"level": "SMEM", "keep": ["A", "B"]},       # accumulators stay in registers
            {"level": "RF", "temporal": [{"rank": "m", "factor": 256}, {"rank": "n", "factor": 128},
                                         {"rank": "k", "factor": 32}]}]})
    return evaluate(bound, arch, mapping)


def test_98_tiles_on_108_sms_is_one_partial_wave():
    report = _tb_256x128(DTYPES)
    assert report.compute_cycles["tensor_core"] == 32_768
    assert report.utilization == pytest.approx(98 / 108)
    assert report.bottleneck == "compute"
    assert report.cycles == 32_768


@pytest.mark.parametrize("preset, peak_tflops", [("a100-sxm4-40gb", 312), ("h100-sxm5-80gb", 989)])
def test_square_bf16_gemms_rise_towards_the_datasheet_peak(preset, peak_tflops):
    """Datasheet dense bf16 peaks: A100 312 TFLOP/s, H100 SXM 989 TFLOP/s."""
    arch = load_architecture(str(ROOT / "hw_configs" / f"{preset}.yaml"))
    achieved = []
    for n in (256, 1024, 4096):
        bound = BoundEinsum(GEMM, {"M": n, "N": n, "K": n}, DTYPES, ROLES)
        found = search(bound, arch, objective="latency", budget=1500, progress=False, bound=False)
        achieved.append(2 * n ** 3 / found.report.latency_s / 1e12)
    assert all(t <= peak_tflops * (1 + 1e-9) for t in achieved), achieved
    assert achieved[0] < achieved[-1], achieved
    assert achieved[-1] > 0.5 * peak_tflops, achieved


def test_an_fp32_gemm_runs_on_the_cuda_cores():
    """The A100's tensor cores list no fp32 rate (TF32 is another type): an fp32 GEMM runs
    on the CUDA cores at 64 fp32 FMA per clock per SM (whitepaper, Table 1: 19.5 TFLOP/s /
    (108 SMs x 1.41 GHz x 2)).  Each busy SM does 256 x 128 x 1024 MACs: 524,288 cycles,
    16x the bf16 tensor-core time of the test above."""
    report = _tb_256x128({"A": "fp32", "B": "fp32", "Z": "fp32"})
    assert set(report.compute_cycles) == {"cuda_core"}
    assert report.compute_cycles["cuda_core"] == 256 * 128 * 1024 / 64 == 524_288


def test_a_mixed_precision_gemm_computes_in_its_narrower_input_type():
    """fp32 A times bf16 B: the kernel casts A to bf16 before the multiply (as FlashAttention
    casts P before P.V), so the tensor cores run it at the bf16 rate: 32,768 cycles."""
    report = _tb_256x128({"A": "fp32", "B": "bf16", "Z": "fp32"})
    assert report.compute_cycles == {"tensor_core": 32_768}


def test_a_grid_of_more_blocks_than_sms_runs_in_rounds():
    """Waves without divisors: an 8192 x 8192 output (K = 512) in 128 x 128 tiles is
    64 x 64 = 4,096 blocks, spread as a grid over the 108 A100 SMs (SMEM is a grid level):
    the busiest SM runs ceil(4096 / 108) = 38 of them, each 128 x 128 x 512 MACs at 1024
    bf16 MACs per clock = 8,192 cycles: 38 x 8,192 = 311,296 cycles.  L2 keeps A and B
    (8 MiB each, twice over within 40 MiB, so it double-buffers); the SMs pull 4,096 x 256 x
    512 x 2 B = 1.07 GB through 5,120 B/cycle of ports (209,715 cycles) and HBM moves 151 MB
    (137,000 cycles): compute-bound, utilization 4096 / (38 x 108) = 0.998.  Restricted to
    divisors of 64 x 64, at most 64 of the 108 SMs work: 64 x 8,192 = 524,288 cycles."""
    arch = load_architecture(str(ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"))
    bound = BoundEinsum(GEMM, {"M": 8192, "N": 8192, "K": 512}, DTYPES, ROLES)

    def tiles(spatial_m, spatial_n, temporal_m, temporal_n):
        return MappingSpec.model_validate({
            "kind": "mapping", "version": 1, "name": "tb-128", "einsum": "Z",
            "levels": [
                {"level": "L2", "temporal": [{"rank": "m", "factor": temporal_m},
                                             {"rank": "n", "factor": temporal_n},
                                             {"rank": "k", "factor": 16}],
                 "spatial": [{"rank": "m", "factor": spatial_m},
                             {"rank": "n", "factor": spatial_n}], "keep": ["A", "B"]},
                {"level": "SMEM", "keep": ["A", "B"]},
                {"level": "RF", "temporal": [{"rank": "m", "factor": 128},
                                             {"rank": "n", "factor": 128},
                                             {"rank": "k", "factor": 32}]}]})

    grid = evaluate(bound, arch, tiles(64, 64, 1, 1))
    assert grid.compute_cycles["tensor_core"] == 38 * 8_192 == 311_296
    assert grid.bottleneck == "compute" and grid.cycles == 311_296
    assert grid.utilization == pytest.approx(4096 / (38 * 108))
    divisors = evaluate(bound, arch, tiles(8, 8, 8, 8))
    assert divisors.compute_cycles["tensor_core"] == 64 * 8_192
