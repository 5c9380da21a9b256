"""Counting fused attention nests with block indices: the closed form against the tile walker.

FlashAttention-2's fused group (accelsim.validate.published.flash_attention_forward: the A100
preset, batch 16 x 8 heads, head dim 64, 128 x 128 blocks) has members whose tensors hold one
value per key block (``m // 128``).  Before the closed form took aligned block indices, those
members went to the tile walker, whose cost grows with the number of (step, instance) tiles,
about heads * N^2 * d / 128: 17 s at N = 128, 68 s at 256 and 292 s at 512 on a 2-core
machine.  Here the walker ("old") is timed at the small sizes and extrapolated by N^2 beyond
them; the closed form ("new") is timed at every size, including FuseMax's 1-pass cascade at
N = 64K.

    .venv/bin/python benchmarks/count_block_nests.py [--old-max 256]

Each time is one warm evaluation (a first, untimed call compiles the kernels).  The last
line is ``fa2_forward_16k_closed_form: <seconds> s``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
A100 = ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"
HEADS, HEAD_DIM = 16 * 8, 64            # FlashAttention paper, Table 18: batch 16, 8 heads


@contextlib.contextmanager
def walker_for_blocks():
    """The routing before the closed form took block indices: any nest whose problem has a
    block index goes to the tile walker."""
    from accelsim.cost import fast

    original = fast.aligned_mask

    def old_rule(batch, problem):
        if (problem.dim_div > 1).any():
            return np.zeros(batch.rank.shape[0], np.bool_)
        return original(batch, problem)

    fast.aligned_mask = old_rule
    try:
        yield
    finally:
        fast.aligned_mask = original


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def fa2(n: int):
    from accelsim.validate.published import flash_attention_forward

    return flash_attention_forward(A100, HEADS, n, HEAD_DIM)


def fusemax(n: int, d: int = 128, block: int = 128):
    """FuseMax's 1-pass cascade (Nayak et al. 2024): the key-block loop alone above an
    on-chip buffer that keeps every query (as in tests/model/test_flash_attention.py)."""
    from accelsim.ir import load_cascade
    from accelsim.model.api import evaluate
    from accelsim.spec import HardwareSpec, MappingSpec

    cascade = load_cascade(ROOT / "einsum_cascades" / "attention_1pass.yaml")
    hardware = HardwareSpec.model_validate({
        "kind": "hardware", "version": 1, "name": "hbm-sram", "clock": "1 GHz",
        "levels": [{"name": "HBM", "word_bits": 32},
                   {"name": "SRAM", "capacity": "1 GiB", "word_bits": 32}],
        "compute": [{"name": "pe", "ops": ["mac", "add", "max", "exp", "divide", "elementwise"],
                     "throughput": {"fp32": 1, "bf16": 1}}]})
    given = dict(H=1, E=d, F=d, M=n, P=n, M0=block)
    sizes = cascade.sizes(**given)
    shared = {"M1": math.ceil(n / block)}
    einsums = {e.name: [{"level": "SRAM", "temporal": [
        {"rank": r, "factor": s} for r, s in e.space(sizes).items() if r not in shared]}]
        for e in cascade.einsums}
    spec = MappingSpec.model_validate({
        "kind": "mapping", "version": 1, "name": "fusemax", "group": list(einsums),
        "shared": [{"level": "HBM", "temporal": [{"rank": r, "factor": f}
                                                 for r, f in shared.items()]}],
        "einsums": einsums})
    return evaluate(cascade, hardware, spec, sizes=given)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-max", type=int, default=256,
                        help="largest N the walker is timed at (default 256; 512 takes ~5 min)")
    args = parser.parse_args()
    fa2(128)                                              # compile the kernels
    fusemax(1024)
    print(f"{'case':<34}{'N':>7}{'new (s)':>10}{'old (s)':>18}{'HBM GB':>9}")
    old_at: dict[int, float] = {}
    with walker_for_blocks():
        seconds(lambda: fa2(128))                         # compile the walker
        for n in (128, 256, 512, 1024):
            if n <= args.old_max:
                old_at[n] = seconds(lambda: fa2(n))[0]
    largest = max(old_at)
    new_16k = float("nan")
    for n in (128, 256, 512, 1024, 2048, 4096, 8192, 16384):
        new, report = seconds(lambda: fa2(n))
        old = (f"{old_at[n]:.2f}" if n in old_at
               else f"~{old_at[largest] * (n / largest) ** 2:.3g} (ext.)")
        print(f"{'FlashAttention-2 fwd, A100, d=64':<34}{n:>7}{new:>10.3f}{old:>18}"
              f"{report.offchip_bytes / 1e9:>9.2f}")
        if n == 16384:
            new_16k = new
    for n in (16384, 65536):
        new, report = seconds(lambda: fusemax(n))
        print(f"{'FuseMax 1-pass, d=128':<34}{n:>7}{new:>10.3f}{'-':>18}"
              f"{report.offchip_bytes / 1e9:>9.2f}")
    print(f"fa2_forward_16k_closed_form: {new_16k:.3f} s")


if __name__ == "__main__":
    main()
