"""Closed-form time of one launched GPU kernel: the grid it ran, not the best mapping.

The mapper answers "what would the best kernel take"; this module answers "what does the
kernel the library launched take", from the launch itself: its grid of thread blocks, the
threads of a block and, for a GEMM, the output tile each block computes (the tile in a
cuBLAS kernel's name, ``ampere_sgemm_128x64_tn``).  Every term is a named mechanism in
closed form (no tile walker), so a whole measurement file is predicted in seconds:

* **waves without divisors** (:func:`blocks_per_sm`): blocks are dealt to SMs whole, so the
  busiest SM runs ceil(blocks / SMs) of them; the problem is covered by ceil-division
  (:func:`ceil_tiles`), edge tiles computed whole;
* **occupancy** (:func:`resident_threads`): the threads resident at once, bounded by the
  grid and by the SMs' thread slots, taken whole blocks at a time;
* **sustained bandwidth** (:func:`stream_bandwidth`): DRAM delivers a fraction of its pin
  rate, and Little's law caps it at the bytes in flight (resident threads x the bytes each
  has in flight) over the memory latency;
* **row passes** (:func:`row_passes_s`): a row-wise kernel that reads each row several
  times gets the later passes from L2 while the rows resident at once fit in it, and from
  DRAM when they do not;
* **main loop** (:func:`gemm_s`): the busiest SM's FMAs at its FP32 rate times the fraction
  a GEMM main loop sustains, or the operands' DRAM traffic, whichever is longer;
* **split-K** (:func:`gemm_s`): a grid whose z dimension exceeds the batch splits the
  reduction; partial tiles go to memory and a second, streaming kernel sums them.

The three calibration figures (:class:`Calibration`) are fitted per GPU on *other* GPUs'
measurements (see :mod:`accelsim.validate.library`); every other figure is the preset's.
"""

from __future__ import annotations

from typing import NamedTuple

BYTES_IN_FLIGHT_PER_THREAD = 16
"""Bytes one resident thread keeps in flight: one 128-bit load (PyTorch's vectorized
elementwise and normalization kernels load four fp32 values per instruction)."""

REDUCE_THREADS = 256
"""Threads per block assumed for a split-K reduction kernel (its launch is not measured)."""


class GpuFigures(NamedTuple):
    """The preset figures a launch's time needs."""

    sms: int
    fma_per_sm: float
    """FP32 results per clock per SM (multiply-adds)."""
    clock_hz: float
    dram_bytes_per_s: float
    """DRAM pin bandwidth."""
    threads_per_sm: int
    launch_s: float
    """Per-launch overhead of a kernel launched back to back after another."""
    l2_bytes: float
    """Capacity of the L2 cache shared by the SMs."""
    l2_bytes_per_s: float
    """L2 read bandwidth of the whole chip."""

    @classmethod
    def from_arch(cls, arch) -> "GpuFigures":
        """The figures of a GPU preset (``family: gpu`` with ``threads_per_sm``)."""
        from accelsim.errors import SpecError
        from accelsim.model.terms import unit_for, unit_rate

        if arch.family != "gpu" or not arch.threads_per_sm:
            raise SpecError("the launch model needs a GPU preset with threads_per_sm",
                            file=arch.file, path="threads_per_sm")
        unit = unit_for(arch, "mac", "fp32")
        dram = arch.levels[0].read_bytes_per_cycle * arch.clock_hz
        l2 = arch.levels[arch.level_index("L2")]
        return cls(unit.count, unit_rate(unit, "fp32"), arch.clock_hz, dram,
                   arch.threads_per_sm, arch.launch_overhead_s, l2.capacity_bytes,
                   l2.read_bytes_per_cycle * arch.clock_hz)


class Calibration(NamedTuple):
    """The fitted figures of the launch model (fitted on other GPUs, never the judged one)."""

    dram_efficiency: float
    """Sustained fraction of the DRAM pin bandwidth."""
    memory_latency_s: float
    """Latency of a DRAM load as Little's law sees it (loaded, not idle)."""
    fma_efficiency: float
    """Fraction of the FP32 FMA peak a GEMM main loop sustains on a busy SM."""


class TiledGemm(NamedTuple):
    """A GEMM as a library kernel ran it: out[batch, rows, cols] summed over depth."""

    batch: int
    rows: int
    cols: int
    depth: int
    tile_rows: int
    tile_cols: int
    split: int
    """Slices of the reduction (grid z / batch): 1 without split-K."""
    blocks: int
    """Thread blocks launched (grid x * y * z)."""
    element_bytes: int = 4


class RowKernel(NamedTuple):
    """A row-wise kernel as launched: one thread block per row."""

    rows: int
    row_bytes: float
    passes: int
    """Times the kernel reads each row (softmax without shared memory: max, sum, output)."""
    out_bytes: float
    """Bytes written and read once besides the rows (the output, a layernorm's weights)."""
    blocks: int
    threads: int
    """Threads per block."""


def ceil_tiles(size: int, tile: int) -> int:
    """Tiles of ``tile`` covering ``size`` (the last one partial): ceil(size / tile)."""
    return -(-size // tile)


def blocks_per_sm(blocks: int, sms: int) -> int:
    """Blocks the busiest SM runs: blocks are dealt whole, ceil(blocks / sms)."""
    return -(-blocks // sms)


def resident_threads(blocks: int, threads_per_block: int, gpu: GpuFigures) -> int:
    """Threads resident at once: whole blocks, at most floor(threads_per_sm / block) per SM,
    at most the grid."""
    per_sm = max(1, gpu.threads_per_sm // max(1, threads_per_block))
    return min(blocks, per_sm * gpu.sms) * threads_per_block


def stream_bandwidth(threads: int, gpu: GpuFigures, cal: Calibration) -> float:
    """Bytes per second a streaming kernel with ``threads`` resident achieves: the sustained
    DRAM rate, or Little's law (bytes in flight / latency), whichever is lower."""
    little = threads * BYTES_IN_FLIGHT_PER_THREAD / cal.memory_latency_s
    return min(cal.dram_efficiency * gpu.dram_bytes_per_s, little)


def stream_s(moved_bytes: float, blocks: int, threads_per_block: int, gpu: GpuFigures,
             cal: Calibration) -> float:
    """Time of a kernel that streams ``moved_bytes`` through DRAM once (elementwise,
    row-wise normalizations whose rows stay on chip)."""
    threads = resident_threads(blocks, threads_per_block, gpu)
    return moved_bytes / stream_bandwidth(threads, gpu, cal)


def row_passes_s(rows: RowKernel, gpu: GpuFigures, cal: Calibration) -> float:
    """Time of a row-wise kernel (one block per row) that reads each row ``passes`` times
    and writes ``out_bytes`` in all.  The first read comes from DRAM; the later passes
    come from L2 while the rows resident at once (one per resident block) fit in it, and
    from DRAM again when they do not.  Passes served by L2 cost its bandwidth, overlapped
    with the DRAM stream."""
    first = rows.rows * rows.row_bytes
    again = (rows.passes - 1) * first
    resident = resident_threads(rows.blocks, rows.threads, gpu) // max(1, rows.threads)
    spills = resident * rows.row_bytes > gpu.l2_bytes
    dram = stream_s(first + rows.out_bytes + (again if spills else 0.0), rows.blocks,
                    rows.threads, gpu, cal)
    return dram if spills else max(dram, (first + again) / gpu.l2_bytes_per_s)


def gemm_s(g: TiledGemm, gpu: GpuFigures, cal: Calibration) -> tuple[float, int]:
    """(time, kernels) of a tiled GEMM: the main kernel's longer of compute (the busiest
    SM's FMAs) and DRAM traffic (operands once, the output, or ``split`` partial outputs),
    plus, with split-K, a streaming reduction kernel and its launch."""
    depth = ceil_tiles(g.depth, g.split)
    fmas = blocks_per_sm(g.blocks, gpu.sms) * g.tile_rows * g.tile_cols * depth
    compute = fmas / (gpu.fma_per_sm * gpu.clock_hz * cal.fma_efficiency)
    out = g.batch * g.rows * g.cols * g.element_bytes
    operands = g.batch * g.depth * (g.rows + g.cols) * g.element_bytes
    dram = (operands + out * g.split) / (cal.dram_efficiency * gpu.dram_bytes_per_s)
    main = max(compute, dram)
    if g.split == 1:
        return main, 1
    # The reduction kernel's launch is not in the data; assumption: one output element per
    # thread, blocks of REDUCE_THREADS threads (its occupancy only matters for small outputs).
    reduce_blocks = ceil_tiles(g.batch * g.rows * g.cols, REDUCE_THREADS)
    reduce = stream_s(out * (g.split + 1), reduce_blocks, REDUCE_THREADS, gpu, cal)
    return main + gpu.launch_s + reduce, 2


def split_of(grid_z: int, batch: int) -> int:
    """Reduction slices of a GEMM launch whose grid z covers the batch ``split`` times."""
    return max(1, grid_z // max(1, batch)) if grid_z % max(1, batch) == 0 else 1

