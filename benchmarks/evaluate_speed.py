"""Wall time of the README's main job and of a prefill + decode summary, cold and warm.

Each run is a fresh `accelsim` process (import, lowering, a mapping search per Einsum,
evaluation, the table). Cold: numba's cache of accelsim's kernels cleared first. Warm:
the same command again with the cache populated. Targets: decode under 3 s warm; prefill
plus decode under 10 s warm.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DECODE = ["evaluate", "hw_configs/h100-sxm5-80gb.yaml", "workloads/llama-3-8b.yaml",
          "--phase", "decode", "--kv", "4096", "--quiet"]
PREFILL = ["evaluate", "hw_configs/h100-sxm5-80gb.yaml", "workloads/llama-3-8b.yaml",
           "--phase", "prefill", "--seq", "4096", "--quiet"]


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=ROOT, check=True)
    return time.perf_counter() - start


def clear_numba_cache() -> int:
    removed = 0
    for path in ROOT.glob("accelsim/**/__pycache__/*.nb[ic]"):
        path.unlink()
        removed += 1
    return removed


def main() -> None:
    removed = clear_numba_cache()
    cold = timed(DECODE)
    warm = min(timed(DECODE) for _ in range(2))
    summary = min(timed(PREFILL) + timed(DECODE) for _ in range(2))
    print(f"numba cache files cleared:                 {removed}")
    print(f"llama-3-8b decode on h100, cold:           {cold:.2f} s")
    print(f"llama-3-8b decode on h100, warm:           {warm:.2f} s   (target < 3 s)")
    print(f"prefill 4K + decode step, warm, together:  {summary:.2f} s   (target < 10 s)")
    print(f"evaluate_decode_warm: {warm:.2f} s")


if __name__ == "__main__":
    main()
