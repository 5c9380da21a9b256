"""Library-kernel mode: a measured operator call predicted from the kernel that ran.

Each measured row names the kernel PyTorch launched, its grid and its block
(:class:`accelsim.validate.measured.Measurement`).  This module turns them into the launch
model of :mod:`accelsim.model.gpu_launch`:

* ``bmm`` and ``linear`` run cuBLAS SGEMM kernels whose name carries the output tile
  (``volta_sgemm_128x64_nn``: 128 x 64).  In this data set the output of a GEMM row is
  ``B x M x K`` and the reduction runs over ``N``: grid x is ceil(K / 128), grid y is
  ceil(M / 64) and grid z the batch (times the split-K slices) in every one of the
  121,000 GEMM rows of the five GPUs' files.  A name without a tile takes the tile the
  grid implies (ceil(K / grid x) x ceil(M / grid y)).
* ``add``, ``gelu``, ``softmax`` and ``ln`` stream their compulsory bytes once; the grid and
  block bound the loads in flight.

:func:`fit_calibration` fits the three figures of :class:`~accelsim.model.gpu_launch.Calibration`
on the rows of every GPU but the judged one.
"""

from __future__ import annotations

import math
import random
import re
from typing import Iterable, NamedTuple

from accelsim.model.gpu_launch import (Calibration, GpuFigures, RowKernel, TiledGemm,
                                       ceil_tiles, gemm_s, row_passes_s, split_of, stream_s)

GEMMS = ("bmm", "linear")
STREAMING = ("add", "gelu", "softmax", "ln")

ROW_PASSES = {"cunn_SoftMaxForward": 3, "vectorized_layer_norm_kernel": 2}
"""Kernels that read each row more than once (one block per row), by a part of their name,
from PyTorch 2.1's CUDA sources: ``cunn_SoftMaxForward`` (aten/src/ATen/native/cuda/
SoftMax.cu, the variant without a shared-memory copy of the row) reads the row for the
maximum, again for the sum of exponentials, and again to write the output;
``vectorized_layer_norm_kernel`` (layer_norm_kernel.cu) reads it for the mean and
variance, then again to normalize.  ``softmax_warp_forward`` keeps its row in registers
and the elementwise kernels read once."""

ELEMENTWISE_BLOCK = (128, 512)
"""(threads, elements) of a block of PyTorch's vectorized elementwise kernel, for a row
whose file gives no launch: each of the 8,750 measured adds ran ceil(elements / 512) blocks
of 128 threads."""

_TILE = re.compile(r"gemm_(\d+)x(\d+)")


class Launch(NamedTuple):
    """The kernel a measured call launched."""

    kernel: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]

    @property
    def blocks(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def threads(self) -> int:
        return self.block[0] * self.block[1] * self.block[2]


def work(family: str, sizes: dict[str, int]) -> tuple[float, float]:
    """(FLOPs, compulsory elements) of a measured operator: a GEMM's operands and output
    once (output B x M x K, reduction over N); an elementwise or row-wise operator's
    inputs and output once (layernorm's weight and bias too)."""
    s = sizes
    if family in GEMMS:
        b = s["B"] if family == "bmm" else 1
        return 2.0 * b * s["M"] * s["N"] * s["K"], b * (s["M"] * s["N"] + s["N"] * s["K"]
                                                       + s["M"] * s["K"])
    n = s["B"] * s["H"]
    per_element = {"add": (1, 3), "gelu": (1, 2), "softmax": (4, 2), "ln": (7, 2)}
    flops, moved = per_element[family]
    return float(flops * n), float(moved * n + (2 * s["H"] if family == "ln" else 0))


def tiled_gemm(family: str, sizes: dict[str, int], launch: Launch) -> TiledGemm:
    """The GEMM of a measured ``bmm`` or ``linear`` row as its kernel tiled it."""
    batch = sizes["B"] if family == "bmm" else 1
    rows, cols, depth = sizes["M"], sizes["K"], sizes["N"]
    found = _TILE.search(launch.kernel)
    if found:
        tile_cols, tile_rows = int(found.group(1)), int(found.group(2))
    else:
        tile_cols = ceil_tiles(cols, max(1, launch.grid[0]))
        tile_rows = ceil_tiles(rows, max(1, launch.grid[1]))
    split = split_of(launch.grid[2], batch)
    blocks = launch.blocks or ceil_tiles(cols, tile_cols) * ceil_tiles(rows, tile_rows) * batch
    return TiledGemm(batch, rows, cols, depth, tile_rows, tile_cols, split, blocks)


def library_s(family: str, sizes: dict[str, int], launch: Launch, gpu: GpuFigures,
              cal: Calibration) -> tuple[float, int]:
    """(time on the GPU, kernels) of a measured call's launched kernel(s)."""
    if family in GEMMS:
        return gemm_s(tiled_gemm(family, sizes, launch), gpu, cal)
    moved = 4 * work(family, sizes)[1]
    passes = next((n for name, n in ROW_PASSES.items() if name in launch.kernel), 1)
    if passes == 1 or not launch.blocks:
        blocks = launch.blocks or ceil_tiles(sizes["B"] * sizes["H"], ELEMENTWISE_BLOCK[1])
        return stream_s(moved, blocks, launch.threads or ELEMENTWISE_BLOCK[0], gpu, cal), 1
    row_bytes = 4 * sizes["H"]
    rows = RowKernel(sizes["B"], row_bytes, passes, moved - sizes["B"] * row_bytes,
                     launch.blocks, launch.threads)
    return row_passes_s(rows, gpu, cal), 1


STARTING_POINT = Calibration(dram_efficiency=0.8, memory_latency_s=600e-9, fma_efficiency=0.8)
"""Where the fit starts; each figure is then fitted in turn (:func:`fit_calibration`)."""

GRIDS = {
    "dram_efficiency": ([0.5 + 0.02 * i for i in range(26)], ("add", "gelu")),
    "memory_latency_s": ([1e-9 * (200 + 50 * i) for i in range(37)], STREAMING),
    "fma_efficiency": ([0.4 + 0.02 * i for i in range(31)], GEMMS),
}
"""Each fitted figure: the values tried and the operator families it is judged on (the
sustained bandwidth on the pure streams, the latency on every streaming operator, the
main-loop efficiency on the GEMMs)."""

FIT_ROWS = 200
"""Rows per (family, GPU) the fit draws (seed 1): the fit is a few seconds, not minutes."""


def _log_error(rows, figures, host, cal) -> float:
    total = 0.0
    for m in rows:
        device_s, _ = library_s(m.family, m.sizes, m.launch, figures[m.device], cal)
        total += abs(math.log((host[m.family] + device_s) / m.latency_s))
    return total / max(1, len(rows))


def fit_calibration(rows: Iterable, held_out: str, figures: dict[str, GpuFigures],
                    host: dict[str, float]) -> Calibration:
    """The launch model's figures fitted on every device but ``held_out``: each in turn
    (the order of :data:`GRIDS`), the value of its grid with the least mean absolute log
    error of (host + launch time) against the measured latency, over at most
    :data:`FIT_ROWS` rows per (family, device) of its families.  ``host``: the per-call
    host time per family, itself fitted without ``held_out``; ``figures``: each device's
    preset figures."""
    groups: dict[tuple[str, str], list] = {}
    for m in rows:
        if m.device != held_out and m.device in figures and m.family in host:
            groups.setdefault((m.family, m.device), []).append(m)
    rng = random.Random(1)
    picked = {key: (v if len(v) <= FIT_ROWS else rng.sample(v, FIT_ROWS))
              for key, v in sorted(groups.items())}
    cal = STARTING_POINT
    for name, (values, families) in GRIDS.items():
        use = [m for (family, _), v in picked.items() if family in families for m in v]
        if use:
            best = min(values, key=lambda x: _log_error(use, figures, host,
                                                         cal._replace(**{name: x})))
            cal = cal._replace(**{name: best})
    return cal
