"""The same comparison on a CUDA GPU: kernel times from CUDA events, DRAM bytes from Nsight
Compute where ``ncu`` is installed.

``validate(hardware)`` runs the reference FlashAttention-2 Triton kernel compiled for the GPU
(no interpreter: ``accelsim.validate.kernels`` leaves ``TRITON_INTERPRET`` unset when CUDA is
present), times it with CUDA events (warm-up, then the median), and predicts it with accelsim on
``hardware`` (a shipped preset such as ``hw_configs/h100-sxm5-80gb.yaml``) under the mapping of
:func:`accelsim.validate.published.flash_attention_forward` (P == M only).  GPU mappings of
the matmul and decode kernels are not written yet.  Never run here: no GPU in this task.
``dram_bytes(command)`` profiles a command under ``ncu`` and returns the DRAM bytes read and
written (``dram__bytes_read.sum``, ``dram__bytes_write.sum``) per kernel.

Without CUDA, :func:`available` is False and :func:`validate` raises; the tests marked ``gpu``
skip.  The timing helper itself (:func:`event_time`) runs on the CPU too, falling back to
wall-clock time, so the harness is exercised on every machine.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

from accelsim.validate.output import Row, mape, median_time

GPU_ATTENTION = ((16, 2048, 2048, 64), (16, 4096, 4096, 128), (8, 8192, 8192, 128))


def available() -> bool:
    """Whether torch sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def event_time(fn, *, warmup: int = 3, reps: int = 20) -> float:
    """Median seconds of ``fn()``: CUDA events around each call on a GPU, wall clock (with
    the same warm-up and median) on a machine without one."""
    if not available():
        return median_time(fn, warmup=warmup, min_reps=reps, max_reps=reps, budget_s=0.0)
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    times.sort()
    return times[len(times) // 2]


def dram_bytes(command: list[str]) -> list[dict]:
    """Per kernel launched by ``command``: name, DRAM bytes read and written (Nsight Compute).
    Raises RuntimeError when ``ncu`` is not installed or fails."""
    ncu = shutil.which("ncu")
    if ncu is None:
        raise RuntimeError("Nsight Compute (ncu) is not installed")
    metrics = "dram__bytes_read.sum,dram__bytes_write.sum"
    done = subprocess.run([ncu, "--csv", "--metrics", metrics, *command], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ncu failed: {done.stderr.strip()[-400:]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith('"')]
    kernels: dict[tuple[str, str], dict] = {}
    for rec in csv.DictReader(io.StringIO("\n".join(lines))):
        key = (rec.get("ID", ""), rec.get("Kernel Name", ""))
        row = kernels.setdefault(key, {"kernel": key[1], "read": 0.0, "write": 0.0})
        scale = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(rec.get("Metric Unit"), 1)
        value = float(str(rec.get("Metric Value", "0")).replace(",", "")) * scale
        row["read" if rec.get("Metric Name", "").endswith("read.sum") else "write"] += value
    return list(kernels.values())


def validate(hardware, *, quick: bool = False) -> tuple[list[Row], float]:
    """Time the reference kernels on the GPU with CUDA events and compare with accelsim's
    latency on ``hardware`` (a GPU preset).  Needs CUDA."""
    if not available():
        raise RuntimeError("no CUDA device: the GPU comparison needs one (the traffic "
                           "comparison runs on the CPU: accelsim.validate.cases)")
    import torch

    from accelsim.validate.kernels import flash_attention as fa
    from accelsim.validate.published import flash_attention_forward

    rows = []
    for H, P, M, E in GPU_ATTENTION[: 1 if quick else None]:
        q, k, v = (torch.randn(H, n, E, device="cuda", dtype=torch.float16) for n in (P, M, M))
        t = event_time(lambda: fa.flash_attention(q, k, v, BM=128, BN=64))
        report = flash_attention_forward(hardware, H, P, E)
        rows.append(Row(f"triton flash-attention-2 {H}x{P}x{M}x{E} fp16", "attention",
                        report.latency_s, t, bottleneck=report.bottleneck,
                        source=torch.cuda.get_device_name()))
    return rows, mape(rows)
