"""evaluate() on the shared G1 GEMM (M = N = K = 512, int8 A and B, 32-bit partial sums Z)
with the shipped weight-stationary mapping on the shipped shared-ws-32x32 preset.

Every expected number is derived by hand below from the mapping in
mappings/gemm-ws-32x32.yaml: DRAM loops n 16 (outer), k 16; O_SRAM loops m 512 and
spreads n 32 across the column accumulators; O_acc spreads k 32 down the PEs.
Energies from the preset: DRAM 10 pJ/bit, MAC 0.2 pJ.
"""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from accelsim.arch import load_architecture
from accelsim.errors import CapacityError, SpecError
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum
from accelsim.model import evaluate
from accelsim.spec import load_spec
from accelsim.spec.mapping import MappingSpec
ROOT = Path(__file__).resolve().parents[2]

HW = ROOT / "hw_configs" / "shared-ws-32x32.yaml"
MAPPING = ROOT / "mappings" / "gemm-ws-32x32.yaml"


@pytest.fixture(scope="module")
def gemm():
    spec = load_spec(MAPPING)
    bound = BoundEinsum(Einsum.parse("Z[m,n] = A[m,k] * B[k,n]"), {"M": 512, "N": 512, "K": 512},
                        {"A": "int8", "B": "int8", "Z": "int32"}, dict(spec.roles))
    return bound, load_architecture(str(HW)), spec


@pytest.fixture(scope="module")
def report(gemm):
    return evaluate(*gemm)


def row(report, level, tensor):
    return next(t for t in report.tensors if t.level == level and t.tensor == tensor)


def test_dram_traffic_by_hand(report):
    # A[m,k] is held at I_SRAM as all 512 rows x one 32-wide k tile = 16,384 elements; it
    # changes with every k step and, n being outside k, is fetched again for every n tile:
    # 16 n x 16 k x 16,384 = 4,194,304 reads.
    assert row(report, "DRAM", "A").reads == 4_194_304
    # B[k,n]: 256 distinct 32 x 32 blocks, each fetched once: 262,144.
    assert row(report, "DRAM", "B").reads == 262_144
    # Z[m,n]: a 512 x 32 tile stays in O_SRAM across the inner k loop and is written back
    # once per n tile: 16 x 16,384 = 262,144 updates, each element first-touched once.
    z = row(report, "DRAM", "Z")
    assert (z.updates, z.first_touches, z.reads) == (262_144, 262_144, 0)
    # bytes: A and B one byte each, Z four.
    assert report.offchip_bytes == 4_194_304 + 262_144 + 4 * 262_144


def test_energy_by_hand(report):
    # DRAM charges 10 pJ per bit: A 4,194,304 x 8 x 10; B 262,144 x 8 x 10; Z 262,144 x 32 x 10.
    assert row(report, "DRAM", "A").energy_pj == pytest.approx(335_544_320)
    assert row(report, "DRAM", "B").energy_pj == pytest.approx(20_971_520)
    assert row(report, "DRAM", "Z").energy_pj == pytest.approx(83_886_080)
    # 512^3 = 134,217,728 MACs at 0.2 pJ.
    assert report.energy_breakdown["compute"] == pytest.approx(26_843_545.6)
    assert report.energy_missing == ()


def test_compute_and_registers_by_hand(report):
    # Each MAC reads its weight from the PE register: 512^3 reads at W_reg.
    assert row(report, "W_reg", "B").reads == 134_217_728
    # 1,024 MACs per cycle when every PE is busy: 512^3 / 1024 = 131,072 cycles.
    assert report.compute_cycles == {"mac_array": 131_072}
    # O_SRAM cannot double-buffer (below): its Z reads and updates, (3,932,160 + 4,194,304)
    # x 4 B at 1024 bit/cycle = 253,952 cycles, add to the MACs' 131,072.  The array does
    # its 512^3 MACs in 385,024 cycles: utilization 131,072 / 385,024 = 34 %.
    assert report.cycles == 131_072 + 253_952
    assert report.utilization == pytest.approx(131_072 / 385_024)
    # DRAM moves 4,194,304 + 262,144 + 1,048,576 bytes at 16 bytes per cycle.
    dram = report.levels[0]
    assert dram.cycles == pytest.approx((4_194_304 + 262_144 + 1_048_576) / 16)


def test_single_buffered_level_is_reported(report):
    # The Z tile (512 x 32 x 4 B = 64 KiB) fills O_SRAM (64 KiB): it cannot double-buffer.
    o_sram = next(lv for lv in report.levels if lv.name == "O_SRAM")
    assert o_sram.tile_bytes == 65_536 and not o_sram.double_buffered
    assert any("O_SRAM" in note and "double" in note for note in report.notes)


def test_report_is_json(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["hardware"] == "shared-ws-32x32"
    assert {t["level"] for t in data["tensors"]} >= {"DRAM", "W_reg"}


def _with_levels(spec: MappingSpec, levels) -> MappingSpec:
    return spec.model_copy(update={"levels": [spec.levels[0].model_validate(lv) for lv in levels]})


@pytest.mark.parametrize("levels, error, fragment", [
    ([{"level": "DRAM", "temporal": [{"rank": "n", "factor": 16}]},
      {"level": "O_SRAM", "temporal": [{"rank": "m", "factor": 512}, {"rank": "k", "factor": 512}],
       "spatial": [{"rank": "n", "factor": 32, "axis": "x"}]}],
     CapacityError, "need"),
    ([{"level": "DRAM", "temporal": [{"rank": "n", "factor": 8}, {"rank": "k", "factor": 16}]},
      {"level": "O_SRAM", "temporal": [{"rank": "m", "factor": 512}],
       "spatial": [{"rank": "n", "factor": 64, "axis": "x"}]},
      {"level": "O_acc", "spatial": [{"rank": "k", "factor": 32, "axis": "y"}]}],
     SpecError, "use 64x1 instances"),
    ([{"level": "DRAM", "temporal": [{"rank": "n", "factor": 16}, {"rank": "k", "factor": 8}]},
      {"level": "O_SRAM", "temporal": [{"rank": "m", "factor": 512}],
       "spatial": [{"rank": "n", "factor": 32, "axis": "x"}]},
      {"level": "O_acc", "spatial": [{"rank": "k", "factor": 32, "axis": "y"}]}],
     SpecError, "multiply to 256, which does not cover its size 512"),
    ([{"level": "DRAM", "temporal": [{"rank": "q", "factor": 16}]}],
     SpecError, "unknown rank 'q'"),
    ([{"level": "GLB", "temporal": [{"rank": "n", "factor": 16}]}],
     SpecError, "unknown level 'GLB'"),
])
def test_illegal_mappings_are_named(gemm, levels, error, fragment):
    bound, arch, spec = gemm
    with pytest.raises(error, match=fragment):
        evaluate(bound, arch, _with_levels(spec, levels), str(MAPPING))
