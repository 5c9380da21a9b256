"""What the command line prints beside its figures.

The objective every search minimized: `search` minimizes energy unless told otherwise,
`evaluate` of a workload latency, and a fused plan chosen for energy may be slower than the
unfused one.  And an energy that leaves levels out says so on its own line."""

from __future__ import annotations

import re
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


def test_energy_that_leaves_levels_out_says_so_on_its_own_line(run_cli):
    """The A100 preset has an energy figure for HBM only: the energy line itself names
    the levels and units it leaves out."""
    code, out, err = run_cli("evaluate", str(ROOT / "hw_configs" / "a100-sxm4-40gb.yaml"),
                             str(ROOT / "workloads" / "gpt2.yaml"), "--seq", "16",
                             "--budget", "20")
    assert code == 0, err
    energy = next(line for line in out.splitlines() if line.startswith("energy "))
    assert "per token); leaves out" in energy and "L2" in energy


def test_the_workload_table_explains_its_columns(run_cli):
    code, out, err = run_cli("evaluate", HW, str(ROOT / "workloads" / "gpt2.yaml"),
                             "--seq", "16", "--budget", "20")
    assert code == 0, err
    flat = " ".join(out.split())
    for phrase in ("x: times the kernel runs", "A+...+B (n): one fused kernel of n Einsums",
                   "util: the main unit's operations over its peak"):
        assert phrase in flat


def test_search_and_evaluate_print_figures_in_the_same_units(run_cli):
    """One formatter: SI prefixes on s, J and B in the fusion search's table and lines as
    in evaluate's (no bare seconds, pJ or comma-grouped bytes)."""
    code, out, err = run_cli("search", HW, str(ROOT / "einsum_cascades" / "softmax.yaml"),
                             "--fuse", "--budget", "30")
    assert code == 0, err
    fused = next(line for line in out.splitlines() if line.startswith("fused "))
    assert re.fullmatch(r"fused +latency [\d.]+ [munp]?s, energy [\d.]+ [munpkMG]?J, "
                        r"off-chip [\d.]+ [kMG]?B", fused.strip()), fused


def test_a_decode_token_includes_the_lm_head_unless_left_out(run_cli):
    """GPT-2 has a vocabulary (50,257 tokens): by default a decode step runs the embedding
    lookup ('pre') and the final norm + LM head ('post') besides its 12 layers; --no-ends
    leaves them out and says so; a ViT has no vocabulary, so --ends is refused."""
    gpt2 = str(ROOT / "workloads" / "gpt2.yaml")
    args = ["evaluate", HW, gpt2, "--phase", "decode", "--kv", "32", "--budget", "20"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    parts = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert {"pre", "layer", "post"} <= parts
    code, out, err = run_cli(*args, "--no-ends")
    assert code == 0 and "leaves out  the embeddings and the final norm + LM head" in out
    code, out, err = run_cli("evaluate", HW, str(ROOT / "workloads" / "vit-b-16.yaml"), "--ends")
    assert code == 2 and "has no vocabulary" in err
