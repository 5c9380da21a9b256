"""Library-kernel mode (accelsim.validate.library): launches read from measured rows, and
the leave-one-GPU-out fit of the launch model's figures."""

from __future__ import annotations

import pytest

from accelsim.model.gpu_launch import GpuFigures, TiledGemm
from accelsim.validate.library import Launch, fit_calibration, tiled_gemm, work
from accelsim.validate.measured import Measurement


def test_a_bmm_row_is_tiled_as_its_grid_shows():
    """tests/data/gpu_measurements/sample.csv, first row: bmm B=30 M=389 N=65 K=52 on A100,
    ampere_sgemm_128x128_nn, grid 1 x 4 x 30: ceil(K=52 / 128) = 1, ceil(M=389 / 128) = 4,
    z = the batch.  The output is 30 x 389 x 52, the reduction 65 deep."""
    launch = Launch("ampere_sgemm_128x128_nn", (1, 4, 30), (256, 1, 1))
    got = tiled_gemm("bmm", {"B": 30, "M": 389, "N": 65, "K": 52}, launch)
    assert got == TiledGemm(30, 389, 52, 65, 128, 128, 1, 120)


def test_a_split_k_linear_row():
    """linear.csv.gz (A100): M=121 N=415 K=116, ampere_sgemm_32x32_sliced1x4_tn, grid
    4 x 4 x 4 with a splitKreduce kernel after it: ceil(116 / 32) = 4, ceil(121 / 32) = 4,
    and z = 4 slices of the 415-deep reduction."""
    launch = Launch("ampere_sgemm_32x32_sliced1x4_tn", (4, 4, 4), (128, 1, 1))
    got = tiled_gemm("linear", {"B": 1, "M": 121, "N": 415, "K": 116}, launch)
    assert got == TiledGemm(1, 121, 116, 415, 32, 32, 4, 64)


def test_a_kernel_name_without_a_tile_takes_the_grids():
    """grid 2 x 3: tiles of ceil(50 / 2) = 25 columns and ceil(100 / 3) = 34 rows."""
    got = tiled_gemm("linear", {"B": 1, "M": 100, "N": 7, "K": 50},
                     Launch("gemv_kernel", (2, 3, 1), (128, 1, 1)))
    assert (got.tile_cols, got.tile_rows, got.blocks) == (25, 34, 6)


def test_work_of_a_gemm_counts_its_output_m_by_k():
    """B=2, M=3, N=5 (reduction), K=7: 2 x 2 x 3 x 5 x 7 = 420 FLOPs; elements
    2 x (3 x 5 + 5 x 7 + 3 x 7) = 142."""
    assert work("bmm", {"B": 2, "M": 3, "N": 5, "K": 7}) == (420.0, 142.0)


def _gpu(bandwidth: float) -> GpuFigures:
    return GpuFigures(sms=10, fma_per_sm=64, clock_hz=1e9, dram_bytes_per_s=bandwidth,
                      threads_per_sm=2048, launch_s=0.0, l2_bytes=4e6,
                      l2_bytes_per_s=1e12)


def test_the_fit_recovers_a_sustained_bandwidth_and_ignores_the_held_out_gpu():
    """Made-up adds of 1e6 to 8e6 elements (12 B each) on two GPUs of 100 and 400 GB/s,
    timed by hand as 10 us of host time plus bytes / (0.9 x bandwidth); a third GPU's rows
    are absurd (1 s each).  Blocks of 128 threads, one per 512 elements, fill the 10 SMs,
    so Little's law (20,480 threads x 16 B / latency) stays above 360 GB/s up to 900 ns
    of latency: the fit without the third GPU finds 0.9."""
    def rows(device, bandwidth):
        out = []
        for n in (1_000_000, 2_000_000, 4_000_000, 8_000_000):
            latency = 1.0 if bandwidth is None else 10e-6 + 12 * n / (0.9 * bandwidth)
            out.append(Measurement("add", device, (("B", n // 1000), ("H", 1000)), latency,
                                   "k", (n // 512, 1, 1), (128, 1, 1)))
        return out
    data = rows("a", 100e9) + rows("b", 400e9) + rows("c", None)
    figures = {"a": _gpu(100e9), "b": _gpu(400e9), "c": _gpu(100e9)}
    cal = fit_calibration(data, "c", figures, {"add": 10e-6})
    assert cal.dram_efficiency == pytest.approx(0.9)
    assert cal.memory_latency_s <= 900e-9


def test_softmax_and_layernorm_kernels_read_their_rows_again():
    """cunn_SoftMaxForward reads a row three times, vectorized_layer_norm_kernel twice,
    softmax_warp_forward once: on a made-up GPU with a 1-byte L2 every extra pass comes
    from DRAM.  Softmax of 1,000 rows of 1,000 fp32 at 100 GB/s (efficiency 1): 4 MB per
    pass, 3 reads + 1 write = 16 MB, 160 us; the warp kernel moves 8 MB, 80 us."""
    from accelsim.model.gpu_launch import Calibration
    from accelsim.validate.library import library_s

    gpu = _gpu(100e9)._replace(l2_bytes=1.0)
    cal = Calibration(dram_efficiency=1.0, memory_latency_s=1e-9, fma_efficiency=1.0)
    sizes = {"B": 1000, "H": 1000}
    block = Launch("cunn_SoftMaxForward<4, float>", (1000, 1, 1), (512, 1, 1))
    warp = Launch("softmax_warp_forward<float, 10>", (250, 1, 1), (128, 1, 1))
    assert library_s("softmax", sizes, block, gpu, cal) == (pytest.approx(160e-6), 1)
    assert library_s("softmax", sizes, warp, gpu, cal) == (pytest.approx(80e-6), 1)
