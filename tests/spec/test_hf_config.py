"""``workload_from_hf_config``: real config.json copies match the shipped workloads; bad files
give a SpecError naming the file and the key, never another exception."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from accelsim.errors import SpecError
from accelsim.spec import load_spec
from accelsim.spec.hf_config import workload_from_hf_config

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"

MATCHING = [
    # (folder under data/ holding config.json, workloads/*.yaml it must equal)
    ("Llama-2-7b-hf", "llama-2-7b"),
    ("Mistral-7B-v0.1", "mistral-7b"),
    ("Mixtral-8x7B-v0.1", "mixtral-8x7b"),
    ("bert-base-uncased", "bert-base"),
    ("gpt2", "gpt2"),
    ("vit-base-patch16-224", "vit-b-16"),
]


@pytest.mark.parametrize("folder, workload", MATCHING)
def test_config_json_gives_the_shipped_shape(folder, workload):
    path = DATA / folder / "config.json"
    spec = workload_from_hf_config(path)
    assert spec.model == load_spec(ROOT / "workloads" / f"{workload}.yaml").model
    assert spec.source == str(path)
    assert spec.name == folder


@pytest.mark.parametrize("folder, workload", MATCHING)
def test_architectures_alone_identify_the_family(folder, workload, tmp_path):
    data = json.loads((DATA / folder / "config.json").read_text())
    del data["model_type"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    expected = load_spec(ROOT / "workloads" / f"{workload}.yaml").model
    assert workload_from_hf_config(path, name=workload).model == expected


def test_hand_derived_numbers():
    gpt2 = workload_from_hf_config(DATA / "gpt2" / "config.json").model
    assert gpt2.ffn == 4 * 768  # n_inner absent -> 4 * n_embd
    mistral = workload_from_hf_config(DATA / "Mistral-7B-v0.1" / "config.json").model
    assert (mistral.sliding_window, mistral.heads // mistral.kv_heads) == (4096, 4)
    vit = workload_from_hf_config(DATA / "vit-base-patch16-224" / "config.json").model
    assert (vit.image_size // vit.patch_size) ** 2 == 196


def _edit(folder: str, **changes) -> dict:
    data = json.loads((DATA / folder / "config.json").read_text())
    for key, value in changes.items():
        if value is _DROP:
            del data[key]
        else:
            data[key] = value
    return data


_DROP = object()

MALFORMED = [
    # (case, config.json object, key the error must name, words the message must contain)
    ("unknown model_type", _edit("gpt2", model_type="t5"), "model_type",
     "llama, mistral, mixtral, bert, gpt2, vit"),
    ("model_type not a string", _edit("gpt2", model_type=5), "model_type", "a string"),
    ("no model_type, unknown class", _edit("gpt2", model_type=_DROP, architectures=["T5Model"]),
     "model_type", "supported"),
    ("missing key", _edit("Llama-2-7b-hf", num_attention_heads=_DROP), "num_attention_heads",
     "missing key"),
    ("number as a string", _edit("bert-base-uncased", hidden_size="768"), "hidden_size",
     "whole number"),
    ("boolean for a count", _edit("gpt2", n_layer=True), "n_layer", "whole number"),
    ("fractional count", _edit("gpt2", n_embd=768.5), "n_embd", "whole number"),
    ("null for a required count", _edit("vit-base-patch16-224", patch_size=None), "patch_size",
     "whole number"),
    ("zero layers", _edit("Llama-2-7b-hf", num_hidden_layers=0), "num_hidden_layers",
     "greater than or equal to 1"),
    ("too many layers", _edit("bert-base-uncased", num_hidden_layers=5000), "num_hidden_layers",
     "less than or equal to 1024"),
    ("hidden not divisible by heads", _edit("bert-base-uncased", hidden_size=770),
     "num_attention_heads", "not divisible"),
    ("kv heads do not divide heads", _edit("Mistral-7B-v0.1", num_key_value_heads=5),
     "num_key_value_heads", "must divide"),
    ("zero experts", _edit("Mixtral-8x7B-v0.1", num_local_experts=0), "num_local_experts",
     "greater than or equal to 1"),
    ("more experts per token than experts", _edit("Mixtral-8x7B-v0.1", num_experts_per_tok=9),
     "num_experts_per_tok", "more than the 8 experts"),
    ("patch does not divide image", _edit("vit-base-patch16-224", patch_size=15), "patch_size",
     "does not divide"),
    ("unsupported activation", _edit("gpt2", activation_function="tanh"), "activation_function",
     "unsupported value"),
    ("unsupported position type", _edit("bert-base-uncased", position_embedding_type="rotary"),
     "position_embedding_type", "unsupported value"),
    ("window as a string", _edit("Mistral-7B-v0.1", sliding_window="4096"), "sliding_window",
     "whole number"),
    ("flag not a boolean", _edit("Llama-2-7b-hf", tie_word_embeddings="no"),
     "tie_word_embeddings", "true or false"),
    ("architectures not a list", _edit("gpt2", model_type=_DROP, architectures="GPT2LMHeadModel"),
     "architectures", "list"),
]


@pytest.mark.parametrize("case, data, key, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config_names_file_and_key(case, data, key, words, tmp_path):
    path = tmp_path / "config.json"
    text = json.dumps(data, indent=2)
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        workload_from_hf_config(path)
    err = info.value
    assert err.location.file == str(path)
    assert err.location.path == key
    assert words in err.message
    if f'"{key}"' in text:  # the key is in the file: its line is reported
        assert err.location.line == text[:text.index(f'"{key}"')].count("\n") + 1


@pytest.mark.parametrize("case, text, line, words", [
    ("truncated JSON", '{\n  "model_type": "gpt2",\n', 3, "not valid JSON"),
    ("trailing comma", '{"model_type": "gpt2",}', 1, "not valid JSON"),
    ("empty file", "", 1, "not valid JSON"),
    ("array at the top", "[1, 2]", 1, "JSON object"),
])
def test_unreadable_json_names_file_and_line(case, text, line, words, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        workload_from_hf_config(path)
    assert (info.value.location.file, info.value.location.line) == (str(path), line)
    assert words in info.value.message


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        workload_from_hf_config(tmp_path / "absent.json")


def test_imports_only_errors_workload_and_stdlib():
    source = (ROOT / "accelsim" / "spec" / "hf_config.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    allowed = {"accelsim.errors", "accelsim.spec.workload", "__future__", "json", "os", "re",
               "typing"}
    assert imported <= allowed, imported - allowed
