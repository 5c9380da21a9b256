"""Systems of several GPUs: collectives against published nccl-tests figures, GPT-3 175B
under tensor parallelism 4 on four A100s, and the wall time of Llama-3-70B decode at TP 8.

1. All-reduce bus bandwidth of large buffers on eight GPUs behind NVSwitch, beside published
   figures (NVIDIA/nccl-tests issue 149: about 200 GB/s on 8 A100-SXM4-80GB; NCCL's tuning
   model caps A100 at 235 GB/s; issue 212: 370 GB/s effective on H100, the figure that sets
   the Simple protocol's share, so not an independent check).
2. GPT-3 175B, TP 4 on four of dgx-a100's GPUs (the case LLMCompass publishes): a prefill of
   8 x 2048 tokens and one decode step with 2047 tokens cached (the new one is the 2048th,
   the model's context); per-kernel times of one device and the layer's two all-reduces.
3. Ladder Residual: Llama-3-70B decode (4096 cached) on dgx-h100 at TP 8, batch 1 and 64,
   and a prefill of 2048 tokens: model time without overlap and with it.
4. Attention offloading (Lamina): Llama-3-70B decode (4096 cached) on offload-h100-a100,
   attention on the four A100s, the rest on the four H100s, against the four H100s alone:
   tokens/s and cost per million tokens at the low end of one published range of on-demand
   prices (pricegpu.pages.dev, "H100 vs A100 Cloud Pricing", early 2026: A100 80GB SXM
   $1.49-2.49, H100 SXM $2.49-3.99 per GPU-hour).  Prices move; the ratio is the figure.
5. `accelsim evaluate hw_configs/systems/dgx-h100.yaml workloads/llama-3-70b.yaml --tp 8
   --phase decode --kv 4096` as a fresh process, warm (numba's cache populated): target < 5 s.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ROOT / "hw_configs" / "systems"
GIB = 1 << 30
LLAMA_70B = ["evaluate", "hw_configs/systems/dgx-h100.yaml", "workloads/llama-3-70b.yaml",
             "--tp", "8", "--phase", "decode", "--kv", "4096", "--quiet"]


def collectives() -> None:
    from accelsim.system import load_system

    print("all-reduce, 8 GPUs, NVSwitch            size     busbw   published")
    for name, size, published in (("dgx-a100", GIB, "~200 (issue 149); 235 (NCCL cap)"),
                                  ("dgx-h100", 8 * GIB, "370 (issue 212; sets Simple)")):
        c = load_system(str(SYSTEMS / f"{name}.yaml")).collective("all_reduce", size)
        print(f"  {name:<36} {size / GIB:>3.0f} GiB  {c.busbw / 1e9:6.1f}   {published}")


def gpt3_tp4() -> None:
    from accelsim.lower import Request
    from accelsim.system import load_system
    from accelsim.system.parallel import Parallelism, evaluate_system

    system = load_system(str(SYSTEMS / "dgx-a100.yaml"))
    workload = str(ROOT / "workloads" / "gpt3-175b.yaml")
    for phase, request in (
            ("prefill 8 x 2048", Request.for_workload(workload, batch=8, seq_len=2048)),
            ("decode, 8 x 2047 cached", Request.for_workload(workload, phase="decode",
                                                              batch=8, kv_len=2047))):
        start = time.perf_counter()
        r = evaluate_system(system, workload, request, Parallelism(tp=4), check_fit=False)
        print(f"gpt3-175b TP 4 on 4 x A100 SXM4 80 GB, {phase} "
              f"(searched in {time.perf_counter() - start:.1f} s):")
        for e in r.device.einsums:
            if e.part == "layer":
                print(f"  {e.name[:44]:<44} {e.report.latency_s * 1e6:>10.1f} us  "
                      f"{e.report.bottleneck}")
        for name, c in zip(("attention", "ffn"), r.collectives):
            print(f"  all-reduce after {name:<26} {c.time_s * 1e6:>10.1f} us  "
                  f"{c.size_bytes / 1e6:.1f} MB, {c.protocol}")
        print(f"  layer: compute {r.layer_compute_s * 1e3:.3f} ms + all-reduces "
              f"{r.layer_comm_s * 1e3:.3f} ms; model {r.model_latency_s * 1e3:.1f} ms for "
              f"{r.tokens} tokens; per device {r.weights_bytes / 1e9:.1f} GB weights + "
              f"{r.kv_cache_bytes / 1e9:.1f} GB KV: {'fits' if r.fits else 'does NOT fit'} "
              f"in {r.capacity_bytes / 1e9:.0f} GB")


def ladder() -> None:
    from accelsim.lower import Request
    from accelsim.system import load_system
    from accelsim.system.parallel import Parallelism, evaluate_system

    system = load_system(str(SYSTEMS / "dgx-h100.yaml"))
    workload = str(ROOT / "workloads" / "llama-3-70b.yaml")
    print("ladder residual, llama-3-70b on dgx-h100, TP 8   standard   ladder   speedup")
    for label, request in (
            ("decode, batch 1", Request.for_workload(workload, phase="decode", kv_len=4096)),
            ("decode, batch 64", Request.for_workload(workload, phase="decode", kv_len=4096,
                                                      batch=64)),
            ("prefill, 1 x 2048", Request.for_workload(workload, seq_len=2048))):
        r = evaluate_system(system, workload, request, Parallelism(tp=8, overlap="ladder"))
        print(f"  {label:<44} {r.standard_latency_s * 1e3:8.2f} ms {r.model_latency_s * 1e3:6.2f}"
              f" ms  {r.standard_latency_s / r.model_latency_s:.3f}x")


def offload() -> None:
    from accelsim.lower import Request
    from accelsim.system import load_system
    from accelsim.system.offload import evaluate_offload
    from accelsim.system.parallel import Parallelism, evaluate_system

    system = load_system(str(SYSTEMS / "offload-h100-a100.yaml"))
    workload = str(ROOT / "workloads" / "llama-3-70b.yaml")
    h100, a100 = 2.49, 1.49
    print(f"attention offloading, llama-3-70b decode (4096 cached); ${h100} per H100-hour, "
          f"${a100} per A100-hour")
    print("  batch   offloaded tok/s  $/Mtok   4 x H100 alone tok/s  $/Mtok   fits (off/alone)")
    for batch in (16, 64, 128):
        request = Request.for_workload(workload, phase="decode", kv_len=4096, batch=batch)
        o = evaluate_offload(system, workload, request, "compute", "attention")
        alone = evaluate_system(system, workload, request, Parallelism(tp=4), "compute",
                                check_fit=False)
        own, both = 4 * h100 / 3600 / alone.tokens_per_s, o.cost_per_token((h100, a100))
        print(f"  {batch:>5}   {o.tokens_per_s:>15,.0f}  {both * 1e6:6.3f}"
              f"   {alone.tokens_per_s:>20,.0f}  {own * 1e6:6.3f}   {o.fits}/{alone.fits}")


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    collectives()
    gpt3_tp4()
    ladder()
    offload()
    timed(LLAMA_70B)                      # populate numba's cache
    warm = min(timed(LLAMA_70B) for _ in range(2))
    print(f"llama-3-70b decode on dgx-h100, TP 8, warm: {warm:.2f} s   (target < 5 s)")
    print(f"system_llama70b_tp8_decode_warm: {warm:.2f} s")


if __name__ == "__main__":
    main()
