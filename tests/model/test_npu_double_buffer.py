"""Double buffering on an NPU-like scratchpad: transfers overlap compute only when the tiles
fit twice (accelsim/model/__init__.py, ``_level_use`` and ``_finish``).

The machine is built here so that every cycle is derivable by hand (the shipped ascend-like
preset gives no on-chip bandwidths, so its transfers take no cycles): DRAM (unbounded, no
bandwidth limit: 0 transfer cycles) -> SPAD, a 12 KiB scratchpad with one 80 B/cycle port
(no write bandwidth given: reads and writes share it) -> a vector unit doing 16 int8
operations per cycle.

The kernel is the element-wise Z[m] = A[m] + B[m] over M = 65,536 int8 elements, mapped as
DRAM: m / tile steps, SPAD: m tile (one tile of A, B and Z at a time, nothing reused).

By hand:
* compute: 65,536 additions / 16 per cycle = 4,096 cycles;
* SPAD traffic (accelsim.cost.oracle rules 4-5): A and B each enter once (fills 65,536 +
  65,536 B) and are read once by the vector unit (65,536 + 65,536 B); every Z element is
  written once from the unit (65,536 B of updates); 5 x 65,536 = 327,680 B over one 80 B/cycle
  port = 4,096 cycles (at 40 B/cycle: 8,192);
* SPAD tile: a tile of A, B and Z, 3 x tile bytes: tile 2,048 -> 6,144 B, twice 12,288 <= 12
  KiB, so it double-buffers; tile 4,096 -> 12,288 B fits once, twice (24,576) does not;
* with double buffering the cycles are max(compute, SPAD); without, compute + SPAD.

With transfer = compute (80 B/cycle) the time halves, 8,192 -> 4,096: the 4,096 exposed
transfer cycles hide completely.  With transfer = 2 x compute (40 B/cycle) the exposed
transfer time, time - compute, halves: 8,192 (12,288 - 4,096) -> 4,096 (8,192 - 4,096).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.arch import Architecture
from accelsim.errors import CapacityError
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.spec import HardwareSpec, MappingSpec

M = 65_536
COMPUTE = 4_096
ADD = BoundEinsum(Einsum.parse("Z[m] = A[m] + B[m]"), {"M": M},
                  {"A": "int8", "B": "int8", "Z": "int8"},
                  {"A": "input", "B": "input", "Z": "output"})


def npu(bandwidth: str, double_buffer: bool = True) -> Architecture:
    return Architecture.from_spec(HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "npu-spad", "family": "npu", "clock": "1 GHz",
        "levels": [{"name": "DRAM", "word_bits": 8},
                   {"name": "SPAD", "capacity": "12 KiB", "word_bits": 8,
                    "read_bandwidth": bandwidth, "double_buffer": double_buffer}],
        # 'mac' listed as on ascend-like's vector unit; accelsim.model also looks up the MAC
        # unit for op classes the Einsum does not use, so a machine without one fails
        "compute": [{"name": "vector", "ops": ["add", "mac", "max", "exp", "divide",
                                               "elementwise"],
                     "throughput": {"int8": 16}}]}))


def tiled(tile: int) -> MappingSpec:
    return MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"tile-{tile}", "einsum": "Z",
        "levels": [{"level": "DRAM", "temporal": [{"rank": "m", "factor": M // tile}]},
                   {"level": "SPAD", "temporal": [{"rank": "m", "factor": tile}]}]})


def spad(report):
    return next(lv for lv in report.levels if lv.name == "SPAD")


CASES = [
    # (SPAD bandwidth, SPAD cycles, cycles with double buffering, without), by hand above
    ("80 B/cycle", 4_096, 4_096, 8_192),
    ("40 B/cycle", 8_192, 8_192, 12_288),
]


@pytest.mark.parametrize("bandwidth, transfer, overlapped, serial", CASES)
def test_tiles_that_fit_twice_overlap_transfers(bandwidth, transfer, overlapped, serial):
    report = evaluate(ADD, npu(bandwidth), tiled(2_048))
    assert report.compute_cycles == {"vector": COMPUTE}
    level = spad(report)
    assert (level.read_bytes, level.write_bytes) == (2 * M, 3 * M)
    assert (level.cycles, level.tile_bytes, level.double_buffered) == (transfer, 6_144, True)
    assert report.cycles == overlapped
    assert report.notes == ()
    exposed = report.cycles - COMPUTE
    assert exposed == max(0, transfer - COMPUTE)


@pytest.mark.parametrize("bandwidth, transfer, overlapped, serial", CASES)
def test_tiles_that_fit_once_add_transfers_to_compute(bandwidth, transfer, overlapped, serial):
    report = evaluate(ADD, npu(bandwidth), tiled(4_096))
    level = spad(report)
    assert (level.cycles, level.tile_bytes, level.double_buffered) == (transfer, 12_288, False)
    assert report.cycles == serial == COMPUTE + transfer
    # exposed transfers that outlast the compute (8,192 > 4,096 cycles at 40 B/cycle) are
    # the bottleneck; at 80 B/cycle they tie with it (4,096), and compute keeps the name
    assert report.bottleneck == ("SPAD" if transfer > COMPUTE else "compute")
    assert report.notes == ("SPAD: tiles (12288 B) fit once but not twice: no double "
                            "buffering, transfers add to compute",)


def test_double_buffering_halves_the_time_or_the_exposed_transfers():
    """transfer = compute: the total halves; transfer = 2 x compute: the exposed part does."""
    equal = [evaluate(ADD, npu("80 B/cycle"), tiled(t)).cycles for t in (2_048, 4_096)]
    assert equal[0] * 2 == equal[1]
    slow = [evaluate(ADD, npu("40 B/cycle"), tiled(t)).cycles - COMPUTE for t in (2_048, 4_096)]
    assert slow[0] * 2 == slow[1]


def test_level_without_double_buffering_is_serial_and_says_nothing():
    """double_buffer: false: even tiles that fit twice add their transfers (4,096 + 4,096);
    the 'fit once' note is only for a level that could double-buffer."""
    report = evaluate(ADD, npu("80 B/cycle", double_buffer=False), tiled(2_048))
    assert not spad(report).double_buffered
    assert report.cycles == 8_192
    assert report.notes == ()


def test_tiles_that_do_not_fit_once_are_refused():
    """tile 8,192: 3 x 8,192 = 24,576 B > 12,288 B of SPAD."""
    with pytest.raises(CapacityError, match="SPAD"):
        evaluate(ADD, npu("80 B/cycle"), tiled(8_192))


def test_the_shared_gemm_waits_on_its_output_buffer_not_on_compute():
    """The shipped weight-stationary mapping of the 512^3 GEMM on the 32x32 array: 131,072
    MAC cycles (512^3 / 1024 PEs), while O_SRAM, whose 64 KiB of Z tiles fit once but not
    twice, adds its transfers to compute; they take longer than the compute, so O_SRAM,
    not compute, is the bottleneck of a run 2.9x its compute time."""
    from accelsim.model.api import evaluate as evaluate_files

    root = Path(__file__).resolve().parents[2]
    report = evaluate_files(str(root / "einsum_cascades" / "gemm.yaml"),
                            str(root / "hw_configs" / "shared-ws-32x32.yaml"),
                            str(root / "mappings" / "gemm-ws-32x32.yaml"))
    o_sram = next(lv for lv in report.levels if lv.name == "O_SRAM")
    assert max(report.compute_cycles.values()) == 512 ** 3 / 1024
    assert not o_sram.double_buffered and o_sram.cycles > 512 ** 3 / 1024
    assert report.bottleneck == "O_SRAM"
