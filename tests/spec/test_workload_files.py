"""Every shipped workloads/*.yaml loads, and facts derived by hand from the cited sources hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.spec import WorkloadSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = sorted((ROOT / "workloads").glob("*.yaml"))

EXPECTED = {"bert-base", "bert-large", "gpt2", "gpt2-medium", "llama-2-7b", "llama-3-8b",
            "mistral-7b", "vit-b-16", "deit-tiny", "fusemax-bert", "fusemax-trxl", "fusemax-t5",
            "fusemax-xlm"}


def _model(name: str):
    return load_spec(ROOT / "workloads" / f"{name}.yaml", kind="workload").model


def test_expected_workloads_are_shipped():
    assert EXPECTED <= {path.stem for path in WORKLOADS}


@pytest.mark.parametrize("path", WORKLOADS, ids=[p.stem for p in WORKLOADS])
def test_each_workload_loads(path):
    spec = load_spec(path)
    assert isinstance(spec, WorkloadSpec)
    assert spec.name == path.stem


HEAD_DIM = [
    # (workload, hidden, heads, head dim = hidden / heads, worked by hand)
    ("bert-base", 768, 12, 64),
    ("bert-large", 1024, 16, 64),
    ("gpt2", 768, 12, 64),
    ("gpt2-medium", 1024, 16, 64),
    ("llama-2-7b", 4096, 32, 128),
    ("llama-3-8b", 4096, 32, 128),
    ("mistral-7b", 4096, 32, 128),  # Jiang et al. 2023 Table 1: head_dim 128
    ("vit-b-16", 768, 12, 64),
    ("deit-tiny", 192, 3, 64),
    ("fusemax-bert", 768, 12, 64),
    ("fusemax-trxl", 1024, 16, 64),
    ("fusemax-t5", 512, 8, 64),
    ("fusemax-xlm", 2048, 16, 128),  # FuseMax: head size 128
    ("gpt3-175b", 12288, 96, 128),   # Brown et al. 2020 Table 2.1: d_head 128
    ("llama-3-70b", 8192, 64, 128),
]


@pytest.mark.parametrize("name, hidden, heads, head_dim", HEAD_DIM)
def test_head_dim(name, hidden, heads, head_dim):
    model = _model(name)
    assert (model.hidden, model.heads) == (hidden, heads)
    assert (model.head_dim or model.hidden // model.heads) == head_dim


@pytest.mark.parametrize("name, group", [("llama-3-8b", 4), ("mistral-7b", 4), ("llama-2-7b", 1),
                                         ("llama-3-70b", 8)])
def test_kv_group_size(name, group):
    model = _model(name)  # 32 query heads over 8 KV heads = 4 per group; Llama-2-7B has no GQA
    assert model.heads // (model.kv_heads or model.heads) == group


@pytest.mark.parametrize("name", ["vit-b-16", "deit-tiny"])
def test_vision_tokens_at_224_px(name):
    model = _model(name)
    patches = (model.image_size // model.patch_size) ** 2
    assert (patches, patches + 1) == (196, 197)  # (224 / 16)^2 patches + 1 class token


@pytest.mark.parametrize("name", ["bert-base", "bert-large", "gpt2", "gpt2-medium", "vit-b-16",
                                  "deit-tiny", "fusemax-bert", "fusemax-trxl", "fusemax-t5",
                                  "fusemax-xlm"])
def test_ffn_is_four_times_hidden(name):
    model = _model(name)
    assert model.ffn == 4 * model.hidden


def test_mistral_window_and_fusemax_attention():
    mistral = _model("mistral-7b")
    assert (mistral.sliding_window, mistral.max_positions) == (4096, 32768)
    for name in ("fusemax-bert", "fusemax-trxl", "fusemax-t5", "fusemax-xlm"):
        model = _model(name)
        assert not model.causal and model.vocab is None and model.max_positions is None
