"""accelsim against measurements published in papers (``tests/data/published/*.yaml``).

Each data file names the preset its measurements map to (``hardware:``) and lists rows with
full citations.  :func:`compare` predicts every row it has a model for and returns
(rows, MAPE, skipped): a row is skipped, with the reason, when accelsim has no cascade for it
(backward passes; PyTorch's unfused attention, whose three kernels need GPU GEMM mappings that
are not written yet).

FlashAttention forward rows are modelled as the shipped FlashAttention-2 cascade
(``einsum_cascades/flash_attention2.yaml``) in one fused launch with 128 x 128 blocks: query
blocks and batch x heads form the grid; the SMs take 64 (batch x head) pairs at a time
(128 pairs over 108 SMs run in two waves, so 64 per wave is the same quantization), the query
blocks and the two waves are temporal at HBM, and each program's key-block loop is its SM's.
Tiles live in the register file; K and V stream from HBM (L2 and shared memory keep nothing
across programs), so HBM moves Q, O and LSE once and K, V once per query block.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import yaml

from accelsim.validate.output import Row, mape
from accelsim.validate.programs import cdiv, loops

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "published"
ROOT = Path(__file__).resolve().parents[2]


def load_rows(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """The document and its rows."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if doc.get("kind") != "published":
        raise ValueError(f"{path}: kind: expected 'published', got {doc.get('kind')!r}")
    return doc, list(doc["rows"])


def compare(paths=None, hardware=None) -> tuple[list[Row], float, list[tuple[str, str]]]:
    """Predict every supported row of ``paths`` (default: every file in tests/data/published)
    on ``hardware`` (default: the preset each file names)."""
    files = [Path(p) for p in paths] if paths else sorted(DATA.glob("*.yaml"))
    rows, skipped = [], []
    for file in files:
        doc, items = load_rows(file)
        hw = hardware or (ROOT / doc["hardware"])
        for item in items:
            reason = _unsupported(item)
            if reason:
                skipped.append((item["id"], reason))
                continue
            report = flash_attention_forward(hw, item["batch"] * item["heads"], item["seq"],
                                             item["head_dim"])
            rows.append(Row(f"{item['id']} ({item['source']})", item["impl"],
                            report.latency_s, item["runtime_ms"] * 1e-3,
                            bottleneck=report.bottleneck, source=f"{file.name}: {item['source']}",
                            extra={"hbm_bytes": report.offchip_bytes}))
    return rows, mape(rows), skipped


def _unsupported(item: dict) -> str:
    if item.get("pass") != "fwd":
        return "backward pass: accelsim has no backward cascades yet"
    if item.get("impl") != "flashattention":
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
