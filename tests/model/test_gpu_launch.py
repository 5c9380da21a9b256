"""The closed-form launch model (accelsim.model.gpu_launch): each mechanism by hand.

Figures: the A100 PCIe preset (108 SMs, 64 fp32 FMA per clock per SM, 1.41 GHz, HBM
1,555 GB/s, 2,048 threads per SM) and the T4 preset (40 SMs, 1,024 threads per SM,
GDDR6 320 GB/s), each cited in hw_configs/.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from accelsim.arch import load_architecture
from accelsim.errors import SpecError
from accelsim.model.gpu_launch import (BYTES_IN_FLIGHT_PER_THREAD, Calibration, GpuFigures,
                                       TiledGemm, blocks_per_sm, ceil_tiles, gemm_s,
                                       resident_threads, split_of, stream_bandwidth, stream_s)

ROOT = Path(__file__).resolve().parents[2]
CAL = Calibration(dram_efficiency=0.8, memory_latency_s=600e-9, fma_efficiency=0.8)


def figures(preset: str) -> GpuFigures:
    return GpuFigures.from_arch(load_architecture(str(ROOT / "hw_configs" / f"{preset}.yaml")))


def test_figures_come_from_the_preset():
    a100, t4 = figures("a100-pcie-40gb"), figures("t4")
    assert (a100.sms, a100.fma_per_sm, a100.clock_hz) == (108, 64, pytest.approx(1.41e9))
    assert a100.dram_bytes_per_s == pytest.approx(1555e9)
    assert (a100.threads_per_sm, t4.threads_per_sm, t4.sms) == (2048, 1024, 40)


def test_a_gpu_without_thread_slots_is_refused():
    arch = load_architecture(str(ROOT / "hw_configs" / "a100-pcie-40gb.yaml"))
    with pytest.raises(SpecError, match="threads_per_sm"):
        GpuFigures.from_arch(dataclasses.replace(arch, threads_per_sm=None))


def test_waves_without_divisors_use_every_sm():
    """8192^3 on A100 with 128 x 128 tiles: 64 x 64 = 4,096 blocks over 108 SMs; 108 does
    not divide 4,096, yet every SM works: the busiest runs ceil(4096 / 108) = 38 blocks
    (37.9 on average), so the time is 38 / 37.93 = 1.2 % over a perfect spread, where a
    mapping restricted to divisors of 64 could use at most 64 SMs."""
    assert ceil_tiles(8192, 128) == 64 and blocks_per_sm(4096, 108) == 38
    assert blocks_per_sm(108, 108) == 1 and blocks_per_sm(109, 108) == 2
    assert ceil_tiles(389, 128) == 4 and ceil_tiles(384, 128) == 3


def test_gemm_main_loop_by_hand():
    """The same GEMM: 38 blocks x 128 x 128 x 8192 FMAs = 5.100e9 on the busiest SM, at
    64 x 1.41e9 x 0.8 = 72.19e9 FMA/s: 70.65 ms.  Its DRAM bytes, 8192^2 x 4 x 3 = 805 MB
    at 0.8 x 1555 GB/s, take 0.65 ms: compute bound, one kernel."""
    a100 = figures("a100-pcie-40gb")
    g = TiledGemm(1, 8192, 8192, 8192, 128, 128, 1, 4096)
    t, kernels = gemm_s(g, a100, CAL)
    assert kernels == 1
    assert t == pytest.approx(38 * 128 * 128 * 8192 / (64 * 1.41e9 * 0.8))
    assert t == pytest.approx(70.65e-3, rel=1e-3)


def test_a_skinny_gemm_is_bound_by_its_operands():
    """out 64 x 64, reduction 1,000,000 on A100, one 64 x 64 tile (1 block): compute
    64 x 64 x 1e6 / (64 x 1.41e9 x 0.8) = 56.7 ms; operands 1e6 x (64 + 64) x 4 B = 512 MB
    at 1244 GB/s = 0.41 ms: compute, since one SM does all the work."""
    a100 = figures("a100-pcie-40gb")
    t, _ = gemm_s(TiledGemm(1, 64, 64, 10**6, 64, 64, 1, 1), a100, CAL)
    assert t == pytest.approx(64 * 64 * 1e6 / (64 * 1.41e9 * 0.8))


def test_split_k_adds_a_reduction_kernel():
    """out 128 x 128, reduction 4,096 split 4 ways on T4 (grid 1 x 1 x 4): each block sums
    1,024: 128 x 128 x 1024 / (64 x 1.59e9 x 0.8) = 206.1 us; DRAM: operands 4096 x 256 x 4
    + 4 partial outputs 4 x 65,536 B = 4.46 MB at 256 GB/s = 17.4 us; compute wins.  Then
    a launch (2.7 us) and a reduction streaming 5 x 65,536 B with 64 blocks x 256 threads
    resident (T4 holds 4 such blocks per SM): Little's law 16,384 x 16 B / 600 ns = 437 GB/s
    above 256 GB/s, so 327,680 / 256e9 = 1.28 us."""
    t4 = figures("t4")
    assert split_of(4, 1) == 4 and split_of(6, 3) == 2 and split_of(7, 3) == 1
    t, kernels = gemm_s(TiledGemm(1, 128, 128, 4096, 128, 128, 4, 4), t4, CAL)
    main = 128 * 128 * 1024 / (64 * 1.59e9 * 0.8)
    assert kernels == 2
    assert t == pytest.approx(main + 2.7e-6 + 5 * 65536 / (0.8 * 320e9))


def test_occupancy_counts_whole_blocks_within_the_thread_slots():
    """T4: 1,024 threads per SM, 40 SMs.  Blocks of 256: 4 per SM, 160 at once; a grid of
    1,000 keeps 160 x 256 = 40,960 threads, a grid of 10 only 2,560.  Blocks of 768: one
    per SM (two would need 1,536 slots)."""
    t4 = figures("t4")
    assert resident_threads(1000, 256, t4) == 40960
    assert resident_threads(10, 256, t4) == 2560
    assert resident_threads(1000, 768, t4) == 40 * 768


def test_littles_law_caps_a_small_grid():
    """T4, latency 600 ns, 16 B in flight per thread: 40,960 threads could keep 1.09 TB/s
    in flight, so DRAM's sustained 0.8 x 320 = 256 GB/s binds; 2,560 threads only
    2,560 x 16 / 600e-9 = 68.3 GB/s.  Streaming 100 MB then takes 0.391 ms or 1.465 ms."""
    t4 = figures("t4")
    assert BYTES_IN_FLIGHT_PER_THREAD == 16
    assert stream_bandwidth(40960, t4, CAL) == pytest.approx(256e9)
    assert stream_bandwidth(2560, t4, CAL) == pytest.approx(2560 * 16 / 600e-9)
    assert stream_s(1e8, 1000, 256, t4, CAL) == pytest.approx(1e8 / 256e9)
    assert stream_s(1e8, 10, 256, t4, CAL) == pytest.approx(1.465e-3, rel=1e-3)


def test_row_passes_come_from_l2_while_the_resident_rows_fit():
    """T4 (L2 4 MiB, 1,270 GB/s): a softmax of 1,000 rows of 2,048 fp32 (8,192 B) reading
    each row 3 times, one block of 512 threads per row.  Two blocks fit an SM's 1,024 thread
    slots: 80 rows resident, 655,360 B, inside L2.  DRAM moves the rows once and the output
    once, 2 x 8.192 MB at 256 GB/s = 64 us; L2 serves 3 x 8.192 MB at 1,270 GB/s = 19.4 us,
    overlapped: 64 us.  Rows of 65,536 fp32 (262,144 B; 100 rows): 80 resident hold 21 MB,
    more than L2, so every pass comes from DRAM: 5 x 26.2 MB / 256 GB/s = 409.6 us."""
    from accelsim.model.gpu_launch import RowKernel, row_passes_s

    t4 = figures("t4")
    assert (t4.l2_bytes, t4.l2_bytes_per_s) == (4 * 2**20, pytest.approx(1270e9))
    fits = RowKernel(rows=1000, row_bytes=8192, passes=3, out_bytes=8.192e6, blocks=1000,
                     threads=512)
    assert row_passes_s(fits, t4, CAL) == pytest.approx(2 * 8.192e6 / 256e9)
    spills = RowKernel(rows=100, row_bytes=262144, passes=3, out_bytes=26.2144e6, blocks=100,
                       threads=512)
    assert row_passes_s(spills, t4, CAL) == pytest.approx(409.6e-6)
