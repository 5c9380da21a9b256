"""accelsim against measurements published in papers (``tests/data/published/*.yaml``).

Each data file names the preset its measurements map to (``hardware:``, a path relative to the
repository root) and lists rows with full citations; :func:`load_published` reads one into a
frozen, validated :class:`PublishedFile` (a malformed file is a one-line
:class:`~accelsim.errors.SpecError` naming the file, the field and its line).  :func:`compare`
predicts every row it has a model for and returns (rows, MAPE, skipped): a row is skipped,
with the reason, when accelsim has no cascade for it (backward passes; PyTorch's unfused
attention, whose three kernels need GPU GEMM mappings that are not written yet).

FlashAttention forward rows are modelled as the shipped FlashAttention-2 cascade
(``einsum_cascades/flash_attention2.yaml``) in one fused launch with 128 x 128 blocks: query
blocks and batch x heads form the grid; the SMs take 64 (batch x head) pairs at a time
(128 pairs over 108 SMs run in two waves, so 64 per wave is the same quantization), the query
blocks and the two waves are temporal at HBM, and each program's key-block loop is its SM's.
Tiles live in the register file; K and V stream from HBM (L2 and shared memory keep nothing
across programs), so HBM moves Q, O and LSE once and K, V once per query block.  The cascade's
bf16 tensors stand for the paper's fp16 ones (same width, same A100 tensor-core rate).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, ValidationError

from accelsim.errors import SpecError
from accelsim.spec.fields import Count, Name, SpecModel
from accelsim.spec.load import to_spec_error
from accelsim.validate.output import Row, mape
from accelsim.validate.programs import cdiv, loops
from accelsim.yamlio import read_yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "published"


class PublishedRow(SpecModel):
    """One published measurement and the setup it was taken in."""

    id: Name
    """Unique name of the row, e.g. ``fa-fwd-1024``."""
    source: str = Field(min_length=1)
    """The table or figure it is copied from, e.g. ``[T18] FlashAttention, 1024``."""
    impl: Literal["flashattention", "pytorch"]
    """The implementation measured."""
    pass_: Literal["fwd", "bwd", "fwd+bwd"] = Field(alias="pass")
    """Which passes the runtime covers."""
    batch: Count
    """Batch size."""
    heads: Count
    """Attention heads."""
    seq: Count
    """Sequence length (queries = keys)."""
    head_dim: Count
    """Head dimension."""
    dtype: Literal["fp16", "bf16", "fp32"]
    """Element type of Q, K, V and O."""
    runtime_ms: float = Field(gt=0)
    """The published runtime (milliseconds)."""
    gflops: Optional[float] = Field(default=None, gt=0)
    """Published floating-point work, where the source gives it (GFLOP)."""
    hbm_gb: Optional[float] = Field(default=None, gt=0)
    """Published HBM traffic, where the source gives it (GB)."""


class PublishedFile(SpecModel):
    """A file of published measurements on one hardware preset."""

    kind: Literal["published"]
    """Always ``published``."""
    version: Literal[1]
    """Format version."""
    hardware: str = Field(min_length=1)
    """The preset the measurements map to: a hardware YAML, relative to the repository root."""
    rows: list[PublishedRow] = Field(min_length=1)
    """The measurements."""


def load_published(path: str | os.PathLike) -> PublishedFile:
    """Read and validate one data file; the first problem found is a one-line SpecError."""
    doc = read_yaml(path)
    try:
        return PublishedFile.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors()
        first = to_spec_error(errors[0], doc, PublishedFile)
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        loc = first.location
        raise SpecError(first.message + more, file=loc.file, path=loc.path, line=loc.line,
                        column=loc.column) from None


def compare(paths=None, hardware=None) -> tuple[list[Row], float, list[tuple[str, str]]]:
    """Predict every supported row of ``paths`` (default: every file in tests/data/published)
    on ``hardware`` (default: the preset each file names); returns (rows, MAPE, skipped) with
    skipped as (case, reason) pairs."""
    files = [Path(p) for p in paths] if paths else sorted(DATA.glob("*.yaml"))
    rows, skipped = [], []
    for file in files:
        data = load_published(file)
        hw = hardware or (ROOT / data.hardware)
        for item in data.rows:
            case = f"{item.id} ({item.source})"
            reason = _unsupported(item)
            if reason:
                skipped.append((case, reason))
                continue
            report = flash_attention_forward(hw, item.batch * item.heads, item.seq, item.head_dim)
            rows.append(Row(case, item.impl, report.latency_s, item.runtime_ms * 1e-3,
                            bottleneck=report.bottleneck, source=f"{file.name}: {item.source}",
                            extra={"hbm_bytes": report.offchip_bytes}))
    return rows, mape(rows), skipped


def _unsupported(item: PublishedRow) -> str:
    if item.pass_ != "fwd":
        return "backward pass: accelsim has no backward cascades yet"
    if item.impl != "flashattention":
        return "PyTorch's unfused attention: needs GPU GEMM and softmax kernel mappings"
    return ""


def flash_attention_forward(hardware, heads: int, seq: int, head_dim: int, block: int = 128):
    """accelsim's report for one FlashAttention-2 forward launch (module docstring)."""
    from accelsim.ir import load_cascade
    from accelsim.model.api import evaluate
    from accelsim.spec import MappingSpec

    cascade = load_cascade(ROOT / "einsum_cascades" / "flash_attention2.yaml")
    given = dict(H=heads, E=head_dim, F=head_dim, M=seq, P=seq, P0=block, M0=block)
    sizes = cascade.sizes(**given)
    per_wave = math.gcd(heads, 64)
    tr = cdiv(seq, block)
    einsums = {}
    for e in cascade.einsums:
        own = [(r, sizes["P0"] if r == "P" else n) for r, n in e.space(sizes).items()
               if r not in ("H", "P1", "M1")]
        einsums[e.name] = [loops("RF", temporal=own)]
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": f"fa2-gpu-{block}",
        "group": [e.name for e in cascade.einsums],
        "shared": [loops("HBM", temporal=[("P1", tr), ("H", heads // per_wave)]),
                   loops("L2", spatial=[("H", per_wave)], keep=[]),
                   loops("SMEM", temporal=[("M1", cdiv(seq, block))], keep=[])],
        "einsums": einsums})
    return evaluate(cascade, hardware, spec, sizes=given)
