"""Interpreted Triton kernels against accelsim: traffic exactly, outputs within torch's error.

:data:`CASES` lists the configurations (shapes that do not divide the blocks included); each
:func:`run_case` runs one kernel under :class:`~accelsim.validate.traffic.TrafficCounter`,
predicts the same launch(es) with accelsim (:func:`accelsim.validate.programs.predict`) and
checks the output against a float64 reference:

* traffic: per tensor, the bytes loaded must equal accelsim's GMEM reads and the bytes stored
  its GMEM fills + updates, exactly (semaphore atomics are reported apart);
* numerics: with ``ref`` the float64 result, the kernel's max-abs error must be at most twice
  that of torch's own operator at the same precision, plus eps(fp32) * max|ref| (so that
  two errors at fp32 round-off both pass) -- FlashAttention's test criterion, not a fixed
  epsilon.

Needs torch and triton, and ``TRITON_INTERPRET=1`` (set by :mod:`accelsim.validate.kernels`
on machines without CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

CASES: tuple[tuple[str, dict], ...] = (
    # matmul: M, N, K, BM, BN, BK, split_k, out dtype
    ("matmul", dict(M=64, N=64, K=64, BM=32, BN=32, BK=32)),
    ("matmul", dict(M=37, N=50, K=70, BM=16, BN=32, BK=16)),
    ("matmul", dict(M=100, N=30, K=130, BM=32, BN=16, BK=32)),
    ("matmul", dict(M=1, N=64, K=48, BM=16, BN=16, BK=16)),
    ("matmul", dict(M=33, N=33, K=33, BM=16, BN=16, BK=16)),
    ("matmul", dict(M=128, N=16, K=200, BM=64, BN=16, BK=32)),
    ("matmul", dict(M=17, N=90, K=23, BM=16, BN=64, BK=8)),
    ("matmul", dict(M=50, N=50, K=50, BM=16, BN=16, BK=16, out="fp16")),
    ("matmul", dict(M=64, N=64, K=256, BM=32, BN=32, BK=32, split_k=4)),
    ("matmul", dict(M=37, N=50, K=70, BM=16, BN=32, BK=16, split_k=3)),
    ("matmul", dict(M=100, N=30, K=130, BM=32, BN=16, BK=32, split_k=4)),
    ("matmul", dict(M=48, N=40, K=300, BM=16, BN=16, BK=32, split_k=5)),
    ("matmul", dict(M=7, N=9, K=500, BM=8, BN=8, BK=32, split_k=8)),
    ("matmul", dict(M=29, N=61, K=100, BM=16, BN=32, BK=16, split_k=2, out="fp16")),
    # FlashAttention-2 forward: heads, queries P, keys M, E, F, BM, BN, causal
    ("flash_attention", dict(H=2, P=64, M=64, E=16, F=16, BM=16, BN=16)),
    ("flash_attention", dict(H=2, P=37, M=37, E=16, F=16, BM=16, BN=32)),
    ("flash_attention", dict(H=1, P=50, M=70, E=32, F=32, BM=16, BN=16)),
    ("flash_attention", dict(H=3, P=33, M=20, E=24, F=24, BM=16, BN=8)),
    ("flash_attention", dict(H=1, P=100, M=100, E=64, F=64, BM=32, BN=32)),
    ("flash_attention", dict(H=2, P=16, M=48, E=16, F=32, BM=16, BN=16)),
    ("flash_attention", dict(H=3, P=50, M=50, E=24, F=24, BM=16, BN=16, causal=True)),
    ("flash_attention", dict(H=1, P=70, M=70, E=32, F=32, BM=32, BN=16, causal=True)),
    ("flash_attention", dict(H=2, P=64, M=64, E=16, F=16, BM=16, BN=32, causal=True)),
    ("flash_attention", dict(H=1, P=45, M=45, E=16, F=16, BM=8, BN=16, causal=True)),
    # split-KV decode: heads, queries P, keys M, E, F, splits, BN
    ("decode_splitkv", dict(H=2, P=1, M=64, E=16, F=16, splits=4, BN=16)),
    ("decode_splitkv", dict(H=3, P=1, M=100, E=32, F=32, splits=3, BN=16)),
    ("decode_splitkv", dict(H=2, P=4, M=77, E=16, F=16, splits=5, BN=8)),
    ("decode_splitkv", dict(H=1, P=2, M=50, E=24, F=24, splits=7, BN=16)),
    ("decode_splitkv", dict(H=4, P=1, M=200, E=64, F=64, splits=8, BN=16)),
    ("decode_splitkv", dict(H=2, P=1, M=33, E=16, F=16, splits=1, BN=16)),
    ("decode_splitkv", dict(H=1, P=3, M=129, E=32, F=16, splits=6, BN=16)),
    ("decode_splitkv", dict(H=2, P=1, M=40, E=16, F=16, splits=16, BN=4)),
)
"""(kernel, parameters) of every traffic configuration (32)."""


@dataclass
class TrafficResult:
    """One configuration: counted and predicted bytes per tensor, and the numerical check."""

    kernel: str
    params: dict
    measured: dict[str, tuple[int, int]]
    """Tensor -> (bytes loaded, bytes stored), counted in the interpreter."""
    predicted: dict[str, tuple[int, int]]
    """Tensor -> (GMEM read bytes, GMEM write bytes), from accelsim."""
    atomics: dict[str, int] = field(default_factory=dict)
    error: float = 0.0
    """Max-abs error of the kernel's output against float64."""
    baseline: float = 0.0
    """Max-abs error of torch's operator at the same precision."""
    bound: float = 0.0
    """2 * baseline + eps(fp32) * max|reference|."""

    @property
    def exact(self) -> bool:
        return self.measured == self.predicted

    @property
    def accurate(self) -> bool:
        return self.error <= self.bound

    def label(self) -> str:
        return f"{self.kernel}(" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + ")"

    def to_dict(self) -> dict:
        return {"kernel": self.kernel, "params": self.params, "exact": self.exact,
                "accurate": self.accurate, "measured": self.measured,
                "predicted": self.predicted, "atomics": self.atomics, "error": self.error,
                "baseline": self.baseline, "bound": self.bound}


def run_case(kernel: str, params: Mapping, seed: int = 0) -> TrafficResult:
    """Run one configuration (see the module docstring)."""
    import torch

    from accelsim.validate.traffic import TrafficCounter

    runner = {"matmul": _matmul, "flash_attention": _attention,
              "decode_splitkv": _decode}.get(kernel)
    if runner is None:
        raise ValueError(f"unknown kernel {kernel!r}; expected matmul, flash_attention or "
                         "decode_splitkv")
    torch.manual_seed(seed)
    with TrafficCounter() as counter:
        out, ref, base, launches = runner(dict(params))
    from accelsim.validate.programs import predict

    error = float((out.double() - ref).abs().max())
    baseline = float((base.double() - ref).abs().max())
    eps = float(torch.finfo(torch.float32).eps) * float(ref.abs().max())
    traffic = counter.traffic
    return TrafficResult(kernel, dict(params), traffic.by_tensor(), predict(launches),
                         dict(traffic.atomics), error, baseline, 2 * baseline + eps)


def run_all(cases=CASES) -> list[TrafficResult]:
    """Every configuration of ``cases``."""
    return [run_case(kernel, params) for kernel, params in cases]


_DTYPES = {"fp16": "float16", "fp32": "float32"}


def _matmul(p: dict):
    import torch

    from accelsim.validate.kernels import matmul as mm

    out_dtype = getattr(torch, _DTYPES[p.get("out", "fp32")])
    a = torch.randn(p["M"], p["K"], dtype=torch.float16)
    b = torch.randn(p["K"], p["N"], dtype=torch.float16)
    z = mm.matmul(a, b, BM=p["BM"], BN=p["BN"], BK=p["BK"], split_k=p.get("split_k", 1),
                  out_dtype=out_dtype)
    ref = a.double() @ b.double()
    base = (a.float() @ b.float()).to(out_dtype) if out_dtype == torch.float32 else a @ b
    launches = mm.launches(p, p, p.get("split_k", 1), "fp16", p.get("out", "fp32"))
    return z, ref, base, launches


def _attention(p: dict):
    import torch

    from accelsim.validate.kernels import flash_attention as fa

    causal = p.get("causal", False)
    q = torch.randn(p["H"], p["P"], p["E"], dtype=torch.float16)
    k = torch.randn(p["H"], p["M"], p["E"], dtype=torch.float16)
    v = torch.randn(p["H"], p["M"], p["F"], dtype=torch.float16)
    o, _ = fa.flash_attention(q, k, v, causal=causal, BM=p["BM"], BN=p["BN"])
    ref = fa.reference(q.double(), k.double(), v.double(), causal=causal)
    base = fa.reference(q, k, v, causal=causal)
    return o, ref, base, fa.launches(p["H"], p["P"], p["M"], p["E"], p["F"], p["BM"], p["BN"],
                                     causal)


def _decode(p: dict):
    import torch

    from accelsim.validate.kernels import decode_splitkv as dk

    q = torch.randn(p["H"], p["P"], p["E"], dtype=torch.float16)
    k = torch.randn(p["H"], p["M"], p["E"], dtype=torch.float16)
    v = torch.randn(p["H"], p["M"], p["F"], dtype=torch.float16)
    av, _ = dk.decode_attention(q, k, v, splits=p["splits"], BN=p["BN"])
    ref = dk.reference(q.double(), k.double(), v.double())
    base = dk.reference(q, k, v)
    return av, ref, base, dk.launches(p["H"], p["P"], p["M"], p["E"], p["F"], p["splits"],
                                      p["BN"])
