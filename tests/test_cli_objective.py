"""Every search the command line runs says which objective it minimized: `search`
minimizes energy unless told otherwise, `evaluate` of a workload latency, and a fused plan
chosen for energy may be slower than the unfused one."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HW = str(ROOT / "hw_configs" / "shared-ws-32x32.yaml")


@pytest.mark.parametrize("args, said", [
    (["search", HW, str(ROOT / "einsum_cascades" / "gemm.yaml"), "--einsum", "Z",
      "--budget", "50"], "minimizing energy"),
    (["search", HW, str(ROOT / "einsum_cascades" / "softmax.yaml"), "--fuse", "--budget", "30",
      "--objective", "latency"], "minimizing latency"),
    (["evaluate", HW, str(ROOT / "workloads" / "gpt2.yaml"), "--seq", "16", "--budget", "20"],
     "minimizing latency"),
])
def test_the_objective_is_printed(args, said, run_cli):
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert said in out
