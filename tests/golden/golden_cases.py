"""The golden cases: CLI runs whose JSON reports must not change while code is reorganised.

Each case is an ``accelsim`` command line run from the project root; its ``--json`` report,
minus wall-clock fields, is stored as ``tests/golden/<name>.json``.  Regenerate them all
(only when a change of numbers is intended, and say why in the commit) with:

    python tests/golden/golden_cases.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

CASES = {
    # a GPU (H100) running GPT-2 prefill: SM ports, L2, HBM, kernel launches, fused search
    "gpu-h100-gpt2-prefill": ["evaluate", "hw_configs/h100-sxm5-80gb.yaml", "workloads/gpt2.yaml",
                              "--seq", "128", "--budget", "60"],
    # a spatial weight-stationary array under a fixed mapping (no search)
    "spatial-ws32-gemm": ["evaluate", "hw_configs/shared-ws-32x32.yaml",
                          "einsum_cascades/gemm.yaml", "-m", "mappings/gemm-ws-32x32.yaml"],
    # a microcontroller (flash + SRAM) running a small ViT
    "mcu-stm32f746-deit": ["evaluate", "hw_configs/stm32f746.yaml", "workloads/deit-tiny-144.yaml",
                           "--budget", "60"],
    # an NPU running one Llama-3 decode step with GQA and a KV cache
    "npu-xdna-llama3-decode": ["evaluate", "hw_configs/xdna-like.yaml", "workloads/llama-3-8b.yaml",
                               "--phase", "decode", "--kv", "256", "--budget", "60"],
    # the whole-cascade fusion search with a fixed seed
    "search-fuse-fusemax-attention": ["search", "hw_configs/fusemax.yaml",
                                      "einsum_cascades/attention_3pass.yaml", "--fuse",
                                      "--budget", "300", "--seed", "7", "--size", "M=1024",
                                      "--size", "P=1024"],
}

WALL_CLOCK = frozenset({"search_s", "elapsed_s"})
"""Fields that time the run itself: they differ on every run and are left out."""


def strip(document):
    """``document`` without its wall-clock fields, at any depth."""
    if isinstance(document, dict):
        return {k: strip(v) for k, v in document.items() if k not in WALL_CLOCK}
    if isinstance(document, list):
        return [strip(v) for v in document]
    return document


def run(name: str, json_path: Path) -> dict:
    """Run case ``name`` from the project root, its report written to ``json_path``."""
    import os

    from accelsim.cli import main

    old = os.getcwd()
    os.chdir(ROOT)
    try:
        code = main([*CASES[name], "--json", str(json_path), "--quiet"])
    finally:
        os.chdir(old)
    if code != 0:
        raise RuntimeError(f"golden case {name!r} exited with status {code}")
    return strip(json.loads(json_path.read_text()))


def regenerate(names=None) -> None:
    for name in names or CASES:
        path = HERE / f"{name}.json"
        document = run(name, path)
        path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    regenerate(sys.argv[1:])
