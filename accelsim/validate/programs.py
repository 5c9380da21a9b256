"""The machine a Triton launch runs on, as accelsim sees it, and what accelsim predicts for it.

A Triton kernel is a grid of programs; each loads blocks from global memory, works on them in
registers and shared memory, and stores results back.  :func:`program_grid` describes that as an
accelsim machine of three levels:

* ``GMEM``: global memory, the backing store.  Its network neither multicasts nor reduces:
  two programs that load the same element both move it (on a GPU they are separate requests;
  an L2 hit is still a global-memory load as the kernel counts it), and two programs that
  store partial sums of one element both store.
* ``PROGRAM``: one instance per program, for what a program keeps across the iterations of its
  own loop (a matmul's accumulator tile, FlashAttention's running state).  The program grid
  is the spatial loop that fans GMEM out to these instances.
* ``TILE``: one instance per program, the blocks one iteration works on (a BM x BK block of A,
  a BN x E block of K).  Block sizes are the tile factors of the loops this level owns.

Capacities are left unbounded: the comparison is about traffic, and the kernels' block sizes
are chosen for the interpreter, not for a device's shared memory.

A kernel is one or more :class:`Launch` es (a split-KV decode is two kernels; a causal
FlashAttention is modelled as one launch per query block, see its module); :func:`predict`
evaluates each with :func:`accelsim.evaluate` and sums the GMEM rows by tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

from accelsim.arch import Architecture
from accelsim.ir import Cascade, Einsum
from accelsim.spec import HardwareSpec, MappingSpec

OFFCHIP = "GMEM"
"""Name of the global-memory level of :func:`program_grid`."""

_OPS = ["mac", "add", "max", "exp", "divide", "elementwise"]


def program_grid(programs: int) -> Architecture:
    """The three-level machine of the module docstring with ``programs`` program instances."""
    n = max(int(programs), 1)
    spec = HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": f"triton-grid-{n}", "family": "gpu",
        "description": "Global memory -> one PROGRAM and one TILE instance per Triton program",
        "clock": "1 GHz",
        "levels": [
            {"name": OFFCHIP, "word_bits": 8, "multicast": False, "spatial_reduction": False},
            {"name": "PROGRAM", "word_bits": 8, "instances": [n], "multicast": False,
             "spatial_reduction": False},
            {"name": "TILE", "word_bits": 8, "instances": [n]},
        ],
        "compute": [{"name": "lanes", "ops": _OPS, "instances": [n],
                     "throughput": {"fp32": 1, "fp16": 1, "bf16": 1}}],
    })
    return Architecture.from_spec(spec)


@dataclass(frozen=True)
class Launch:
    """One kernel launch as accelsim evaluates it: target, mapping, sizes and grid size."""

    target: Union[Einsum, Cascade]
    mapping: MappingSpec
    sizes: Mapping[str, int]
    programs: int
    dtypes: Mapping[str, str] = field(default_factory=dict)
    """Element types of an Einsum target's tensors (a cascade carries its own)."""


def evaluate_launch(launch: Launch):
    """accelsim's report for one launch on :func:`program_grid`."""
    from accelsim.model.api import evaluate

    return evaluate(launch.target, program_grid(launch.programs), launch.mapping,
                    sizes=dict(launch.sizes), dtypes=dict(launch.dtypes) or None)


def predict(launches: list[Launch]) -> dict[str, tuple[int, int]]:
    """Tensor -> (bytes read from GMEM, bytes written to GMEM), summed over the launches.

    Reads are the GMEM level's reads; writes its fills + updates (a backing store has no
    fills, so these are the updates: every partial result a program stores).
    """
    totals: dict[str, list[float]] = {}
    for launch in launches:
        report = evaluate_launch(launch)
        for row in report.tensors:
            if row.level != OFFCHIP:
                continue
            per = row.bytes / max(row.reads + row.fills + row.updates, 1)
            entry = totals.setdefault(row.tensor, [0.0, 0.0])
            entry[0] += row.reads * per
            entry[1] += (row.fills + row.updates) * per
    return {t: (int(round(r)), int(round(w))) for t, (r, w) in totals.items() if r or w}


def loops(level: str, temporal=(), spatial=(), keep=None) -> dict:
    """One level of a mapping document: ``temporal``/``spatial`` are (rank, factor) pairs."""
    out: dict = {"level": level,
                 "temporal": [{"rank": r, "factor": int(f)} for r, f in temporal],
                 "spatial": [{"rank": r, "factor": int(f)} for r, f in spatial]}
    if keep is not None:
        out["keep"] = list(keep)
    return out


def cdiv(a: int, b: int) -> int:
    """Ceiling division."""
    return -(-a // b)
