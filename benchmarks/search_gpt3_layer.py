"""A whole transformer layer searched end to end with fusion: GPT-3 6.7B on tpu-v4i-like.

Workload: workloads/gpt3-6.7b.yaml (Brown et al. 2020, Table 2.1: d_model 4096, 32 heads,
d_ff 16384), 3-pass attention cascade, bf16.  Two searches on hw_configs/tpu-v4i-like.yaml:
a prefill of 256 tokens and one decode step against a 2,048-token KV cache (batch 1).  Each
runs accelsim.search on the layer's BoundCascade (accelsim.search.fusion): every Einsum
alone, then every candidate fused group with its row tiles and members' mappings, and the
best partition by dynamic programming.  Printed per search: the seconds it took (the first
search of the process includes loading the numba cache; the lower bound is computed
apart and timed on its own line), the layer's energy, latency and
off-chip traffic fused and unfused, the cascade's lower bound on off-chip traffic, the
kernels chosen and how many intermediates stay on chip.

For scale (issue text, not measured here): AccelForge's FFM needs about 8.5 minutes
(prefill) and 3 minutes (decode) for these searches on a 2-core machine.  Target: < 10 s
each.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.arch import load_architecture  # noqa: E402
from accelsim.lower import load_workload, lower  # noqa: E402
from accelsim.report import kernel_label  # noqa: E402
from accelsim.search import BoundCascade, onchip_capacity, search  # noqa: E402
from accelsim.search.group_bound import cascade_bound  # noqa: E402

CASES = (("prefill 256 tokens", "prefill", dict(seq_len=256)),
         ("decode vs 2048-token KV cache", "decode", dict(kv_len=2048)))


def main() -> int:
    arch = load_architecture(str(ROOT / "hw_configs" / "tpu-v4i-like.yaml"))
    spec = load_workload(str(ROOT / "workloads" / "gpt3-6.7b.yaml"))
    slowest = 0.0
    for title, phase, options in CASES:
        lowered = lower(spec, phase, batch=1, attention="3pass", **options)
        target = BoundCascade(lowered.layer, lowered.sizes, lowered.dtypes, lowered.roles)
        start = time.perf_counter()
        found = search(target, arch, objective="latency", progress=False, bound=False)
        seconds = time.perf_counter() - start
        slowest = max(slowest, seconds)
        start = time.perf_counter()
        limit = cascade_bound(target, onchip_capacity(arch))
        bound_s = time.perf_counter() - start
        print(f"== GPT-3 6.7B layer, {title}, on {arch.name}")
        print(f"search      {seconds:.2f} s, {found.evaluated:,} mappings, "
              f"{found.candidates} candidate groups")
        print(f"fused       energy {found.energy_pj * 1e-6:,.1f} uJ  latency "
              f"{found.latency_s * 1e6:,.1f} us  off-chip {found.offchip_bytes / 1e6:,.1f} MB")
        print(f"unfused     energy {found.unfused_energy_pj * 1e-6:,.1f} uJ  latency "
              f"{found.unfused_latency_s * 1e6:,.1f} us  off-chip "
              f"{found.unfused_offchip_bytes / 1e6:,.1f} MB")
        print(f"bound       off-chip >= {limit / 1e6:,.1f} MB (found / bound "
              f"{found.offchip_bytes / limit:.3f}; computed in {bound_s:.2f} s)")
        einsums = len(lowered.layer.einsums)
        print(f"kernels     {len(found.groups)} for {einsums} Einsums; "
              f"{len(found.on_chip)} intermediates on chip")
        for group in found.groups:
            print(f"  {kernel_label('+'.join(group.members)):28s} tiles {group.tiles or '-'}  "
                  f"{group.report.latency_s * 1e6:9.1f} us  {group.report.bottleneck}")
    print(f"search_gpt3_layer: {slowest:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
