"""Einsums and small machines shared by the search tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

from accelsim.arch import Architecture, load_architecture
from accelsim.ir import Einsum
from accelsim.mapping import BoundEinsum

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "hw_configs" / "shared-ws-32x32.yaml"


def gemm(m: int, n: int, k: int, out: str = "int32") -> BoundEinsum:
    """Z[m,n] = A[m,k] * B[k,n] with int8 A (input) and B (weight)."""
    return BoundEinsum(Einsum.parse("Z[m,n] = A[m,k] * B[k,n]"), {"M": m, "N": n, "K": k},
                       {"A": "int8", "B": "int8", "Z": out},
                       {"A": "input", "B": "weight", "Z": "output"})


def machine(tmp_path: Path, name: str, levels: str, mesh: str = "[1]") -> Architecture:
    """A hardware spec with the given ``levels:`` YAML block and one MAC unit per ``mesh``."""
    text = f"""
kind: hardware
version: 1
name: {name}
clock: 1 GHz
levels:
{levels}
compute:
  - name: mac
    ops: [mac]
    instances: {mesh}
    throughput: {{int8: 1}}
    energy: {{mac: 1 pJ}}
"""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return load_architecture(str(path))


TWO_LEVEL = """
  - name: DRAM
    word_bits: 8
    read_bandwidth: 8 bit/cycle
    energy: {{read: 100 pJ}}
  - name: BUF
    capacity: {capacity} B
    word_bits: 8
    energy: {{read: 1 pJ}}
"""
"""DRAM and one buffer that may keep every tensor (format with capacity)."""

CHAIN = """
  - name: DRAM
    word_bits: 8
    energy: {read: 100 pJ}
  - name: ZBUF
    capacity: 16 B
    word_bits: 8
    keep: [output]
    energy: {read: 1 pJ}
  - name: BBUF
    capacity: 2 B
    word_bits: 8
    keep: [weight]
    energy: {read: 1 pJ}
  - name: ABUF
    capacity: 1 B
    word_bits: 8
    keep: [input]
    energy: {read: 1 pJ}
"""
"""DRAM over one buffer per tensor, outputs outermost (an uneven hierarchy)."""
