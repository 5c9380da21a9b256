"""The PyTorch CPU operators ``accelsim.validate.cpu.validate`` times, and their predictions.

Each case is (operator, shape); :func:`run` times the operator with preallocated outputs
(``out=`` variants, so that no page is first-touched inside the timed call), predicts it with
accelsim on the calibrated machine under :mod:`.cpu_mappings`, and returns a
:class:`~accelsim.validate.output.Row`.  Everything is fp32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accelsim.validate.output import Row, median_time

MATMUL_SHAPES = (
    (64, 64, 64), (128, 128, 128), (256, 256, 256), (512, 512, 512), (768, 768, 768),
    (1024, 1024, 1024), (1536, 1536, 1536), (2048, 2048, 2048), (1000, 1000, 1000),
    (777, 333, 555), (1, 4096, 4096), (16, 4096, 4096), (8, 8192, 1024), (128, 4096, 1024),
    (512, 512, 4096), (4096, 512, 512), (2048, 128, 2048), (256, 3072, 768), (512, 768, 3072),
    (1024, 1024, 64), (64, 1024, 1024), (32, 11008, 4096),
)
"""(M, N, K): squares, LLM projections (GEMV to prefill), BERT FFN, shapes with odd sizes."""

SOFTMAX_SHAPES = ((4096, 4096), (1024, 1024), (128, 50257))
LAYERNORM_SHAPES = ((8192, 1024), (2048, 768), (512, 4096))
SDPA_SHAPES = ((16, 512, 512, 64), (16, 1024, 1024, 64), (4, 2048, 2048, 128),
               (32, 1, 4096, 128))
"""(batch x heads, queries, keys, head dim); the last is one decode step against a KV cache."""

QUICK = {"matmul": ((64, 64, 64), (512, 512, 512), (16, 4096, 4096), (777, 333, 555)),
         "softmax": ((1024, 1024),), "layernorm": ((2048, 768),),
         "sdpa": ((16, 512, 512, 64),)}


@dataclass(frozen=True)
class Case:
    op: str
    shape: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.op} " + "x".join(str(s) for s in self.shape)


def cases(quick: bool = False, ops: tuple[str, ...] | None = None) -> list[Case]:
    """The cases of every operator family in ``ops`` (default: all four)."""
    full = {"matmul": MATMUL_SHAPES, "softmax": SOFTMAX_SHAPES,
            "layernorm": LAYERNORM_SHAPES, "sdpa": SDPA_SHAPES}
    table = QUICK if quick else full
    chosen = ops or tuple(full)
    unknown = set(chosen) - set(full)
    if unknown:
        raise ValueError(f"unknown operators {sorted(unknown)}; expected {', '.join(full)}")
    return [Case(op, shape) for op in chosen for shape in table[op]]


def run(case: Case, hardware_path: str) -> Row:
    """Time ``case`` on this machine and predict it with accelsim."""
    import torch

    torch.manual_seed(0)
    fn, footprint, predict = _BUILDERS[case.op](torch, *case.shape)
    measured = median_time(fn, warmup=2, min_reps=5, budget_s=0.3)
    arch, resident = _architecture(hardware_path, footprint)
    report = predict(arch)
    where = "L3-resident" if resident else "from DRAM"
    return Row(case.label, case.op, report.latency_s, measured, bottleneck=report.bottleneck,
               source="this machine", notes=where,
               extra={"offchip_bytes": report.offchip_bytes, "footprint_bytes": footprint})


_ARCH_CACHE: dict = {}


def _architecture(path: str, footprint: float):
    """The calibrated machine, or the same from L3 down when the case fits half the L3."""
    from accelsim.arch import Architecture
    from accelsim.spec.load import load_spec
    from accelsim.validate.cpu_mappings import backing_levels

    spec = _ARCH_CACHE.get(path) or load_spec(path, kind="hardware")
    _ARCH_CACHE[path] = spec
    names = [lv.name for lv in spec.levels]
    l3 = next((lv.capacity.value for lv in spec.levels if lv.name == "L3"), 0.0)
    kept = backing_levels(names, footprint, l3)
    if kept != names:
        spec = spec.model_copy(update={"levels": [lv for lv in spec.levels if lv.name in kept]})
    return Architecture.from_spec(spec, file=path), kept != names


def _cores(arch) -> int:
    return arch.compute[0].count


def _matmul(torch, M: int, N: int, K: int):
    from accelsim.model.api import evaluate
    from accelsim.validate.cpu_mappings import gemm

    a, b, z = torch.randn(M, K), torch.randn(K, N), torch.empty(M, N)

    def predict(arch):
        mapping, padded = gemm(M, N, K, _cores(arch), arch.levels[0].name)
        return evaluate("Z[m,n] = A[m,k] * B[k,n]", arch, mapping, sizes=padded)
    return (lambda: torch.matmul(a, b, out=z)), 4 * (M * K + K * N + M * N), predict


def _softmax(torch, R: int, N: int):
    from accelsim.ir.yaml_format import cascade_from_yaml
    from accelsim.model.api import evaluate
    from accelsim.validate.cpu_mappings import SOFTMAX, rowwise

    x, y = torch.randn(R, N), torch.empty(R, N)
    cascade = cascade_from_yaml(SOFTMAX)

    def predict(arch):
        mapping = rowwise(cascade, {"R": R, "N": N}, "R", _cores(arch), arch.levels[0].name,
                          _l2(arch))
        return evaluate(cascade, arch, mapping, sizes={"R": R, "N": N})
    return (lambda: torch.ops.aten._softmax.out(x, 1, False, out=y)), 8 * R * N, predict


def _layernorm(torch, T: int, D: int):
    from accelsim.ir.yaml_format import cascade_from_yaml
    from accelsim.model.api import evaluate
    from accelsim.validate.cpu_mappings import LAYERNORM, rowwise

    x, w, b = torch.randn(T, D), torch.randn(D), torch.randn(D)
    y, mean, rstd = torch.empty(T, D), torch.empty(T, 1), torch.empty(T, 1)
    cascade = cascade_from_yaml(LAYERNORM)

    def fn():
        torch.ops.aten.native_layer_norm.out(x, [D], w, b, 1e-5, out0=y, out1=mean, out2=rstd)

    def predict(arch):
        mapping = rowwise(cascade, {"T": T, "D": D}, "T", _cores(arch), arch.levels[0].name,
                          _l2(arch))
        return evaluate(cascade, arch, mapping, sizes={"T": T, "D": D})
    return fn, 8 * T * D, predict


def _sdpa(torch, heads: int, P: int, M: int, E: int):
    from accelsim.model.api import evaluate
    from accelsim.validate.cpu_mappings import attention, attention_cascade

    q, k, v = torch.randn(1, heads, P, E), torch.randn(1, heads, M, E), torch.randn(1, heads, M, E)
    cascade = attention_cascade()
    given = dict(H=heads, E=E, F=E, M=M, P=P)

    def predict(arch):
        l2 = _l2(arch)
        block = 256 if P >= 768 else 64 if P >= 192 else 32      # torch's CPU q split
        block = max(1, min(block, int(l2 // (3 * 4 * M))))       # QK, SN, A blocks in L2
        mapping, _ = attention(cascade, given, _cores(arch), arch.levels[0].name, block)
        return evaluate(cascade, arch, mapping, sizes=given)

    fn = (lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
    return fn, 4 * heads * (2 * P * E + 2 * M * E), predict


def _l2(arch) -> float:
    return next((lv.capacity_bytes for lv in arch.levels if lv.name == "L2"), math.inf)


_BUILDERS = {"matmul": _matmul, "softmax": _softmax, "layernorm": _layernorm, "sdpa": _sdpa}
