"""A Hugging Face ``config.json`` read as a workload: ``workload_from_hf_config(path)``.

The families Llama, Mistral, Mixtral, BERT, GPT-2 and ViT are recognised by ``model_type`` (or, when
that is absent, by the class named in ``architectures``), and their keys are mapped onto
:class:`~accelsim.spec.workload.ModelShape`.  Keys a config may omit take the default of the
matching ``transformers`` config class (e.g. ``tie_word_embeddings`` true for BERT and GPT-2).
Every problem is a :class:`~accelsim.errors.SpecError` naming the json file and the key.
No network access: only the local file is read.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable

from accelsim.errors import SpecError
from accelsim.spec.workload import ModelShape, WorkloadSpec

_REQUIRED = object()
"""Marker: the key must be present."""

MISTRAL_DEFAULT_WINDOW = 4096
"""``MistralConfig``'s ``sliding_window`` when a config.json omits the key."""

PLAIN_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu", "gelu_fast": "gelu",
                     "gelu_pytorch_tanh": "gelu", "quick_gelu": "gelu", "relu": "relu"}
"""``hidden_act`` / ``activation_function`` of a two-matrix FFN -> ``ffn_activation``."""

GATED_ACTIVATIONS = {"silu": "swiglu", "swish": "swiglu", "gelu": "geglu",
                     "gelu_new": "geglu", "gelu_pytorch_tanh": "geglu"}
"""``hidden_act`` of a gated (gate, up, down) FFN, as in Llama and Mistral -> ``ffn_activation``."""

BERT_POSITIONS = {"absolute": "learned", "relative_key": "relative",
                  "relative_key_query": "relative"}
"""BERT ``position_embedding_type`` -> ``position``."""

_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
               list: "an array", dict: "an object", type(None): "null"}
"""Python type from json.loads -> what the JSON value was, for messages."""


class _Config:
    """A config.json object; each accessor checks one key and records which field it fed."""

    def __init__(self, data: dict, file: str, text: str):
        self.data, self.file, self.text = data, file, text
        self.keys: dict[str, str] = {}
        """ModelShape field -> the config.json key it was read from."""

    def error(self, key: str, message: str) -> SpecError:
        """A SpecError at ``key``, with the line and column of its first occurrence."""
        match = re.search(r'"%s"\s*:' % re.escape(key), self.text)
        at = match.start() if match else None
        line = None if at is None else self.text.count("\n", 0, at) + 1
        column = None if at is None else at - self.text.rfind("\n", 0, at)
        return SpecError(message, file=self.file, path=key, line=line, column=column)

    def get(self, key: str, kinds: tuple, expected: str, default: Any = _REQUIRED,
            field: str | None = None) -> Any:
        """The value at ``key`` (``default`` when absent or null), checked to be of ``kinds``."""
        if field:
            self.keys[field] = key
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, f"missing key {key!r} (expected {expected})")
            return default
        value = self.data[key]
        if value is None and default is not _REQUIRED:
            return default
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise self.error(key, f"expected {expected}, got {_describe(value)}")
        return value

    def count(self, key: str, field: str | None = None, default: Any = _REQUIRED) -> Any:
        return self.get(key, (int,), "a whole number", default, field)

    def flag(self, key: str, default: bool) -> bool:
        return self.get(key, (bool,), "true or false", default)

    def choice(self, key: str, table: dict[str, str], default: str, field: str) -> str:
        value = self.get(key, (str,), "a string", default, field)
        if value not in table:
            raise self.error(key, f"unsupported value {value!r}; expected one of "
                                  f"{', '.join(sorted(table))}")
        return table[value]


def _describe(value: Any) -> str:
    text = json.dumps(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} ({_JSON_TYPES.get(type(value), type(value).__name__)})"


def _standard_keys(c: _Config) -> dict:
    """The shape keys Llama, Mistral, BERT and ViT configs name alike."""
    return {
        "layers": c.count("num_hidden_layers", "layers"),
        "hidden": c.count("hidden_size", "hidden"),
        "heads": c.count("num_attention_heads", "heads"),
        "ffn": c.count("intermediate_size", "ffn"),
    }


def _llama(c: _Config) -> dict:
    return {
        **_standard_keys(c),
        "kv_heads": c.count("num_key_value_heads", "kv_heads", default=None),
        "head_dim": c.count("head_dim", "head_dim", default=None),
        "ffn_activation": c.choice("hidden_act", GATED_ACTIVATIONS, "silu", "ffn_activation"),
        "norm": "rmsnorm", "norm_position": "pre", "position": "rope", "causal": True,
        "vocab": c.count("vocab_size", "vocab"),
        "max_positions": c.count("max_position_embeddings", "max_positions"),
        "tie_embeddings": c.flag("tie_word_embeddings", False),
        "bias": any([c.flag("attention_bias", False), c.flag("mlp_bias", False)]),
    }


def _mistral(c: _Config) -> dict:
    shape = _llama(c)
    window = c.count("sliding_window", "sliding_window", default=None)  # null: full attention
    shape["sliding_window"] = MISTRAL_DEFAULT_WINDOW if "sliding_window" not in c.data else window
    return shape


def _mixtral(c: _Config) -> dict:
    shape = _mistral(c)
    shape["experts"] = c.count("num_local_experts", "experts")
    shape["experts_per_token"] = c.count("num_experts_per_tok", "experts_per_token")
    return shape


def _bert(c: _Config) -> dict:
    return {
        **_standard_keys(c),
        "ffn_activation": c.choice("hidden_act", PLAIN_ACTIVATIONS, "gelu", "ffn_activation"),
        "norm": "layernorm", "norm_position": "post",
        "position": c.choice("position_embedding_type", BERT_POSITIONS, "absolute", "position"),
        "causal": c.flag("is_decoder", False),
        "vocab": c.count("vocab_size", "vocab"),
        "max_positions": c.count("max_position_embeddings", "max_positions"),
        "tie_embeddings": c.flag("tie_word_embeddings", True),
    }


def _gpt2(c: _Config) -> dict:
    hidden = c.count("n_embd", "hidden")
    inner = c.count("n_inner", "ffn", default=None)
    if inner is None:
        c.keys["ffn"] = "n_embd"
    return {
        "layers": c.count("n_layer", "layers"),
        "hidden": hidden,
        "heads": c.count("n_head", "heads"),
        "ffn": 4 * hidden if inner is None else inner,
        "ffn_activation": c.choice("activation_function", PLAIN_ACTIVATIONS, "gelu_new",
                                   "ffn_activation"),
        "norm": "layernorm", "norm_position": "pre", "position": "learned", "causal": True,
        "vocab": c.count("vocab_size", "vocab"),
        "max_positions": c.count("n_positions", "max_positions"),
        "tie_embeddings": c.flag("tie_word_embeddings", True),
    }


def _vit(c: _Config) -> dict:
    return {
        **_standard_keys(c),
        "ffn_activation": c.choice("hidden_act", PLAIN_ACTIVATIONS, "gelu", "ffn_activation"),
        "norm": "layernorm", "norm_position": "pre", "position": "learned", "causal": False,
        "image_size": c.count("image_size", "image_size"),
        "patch_size": c.count("patch_size", "patch_size"),
        "channels": c.count("num_channels", "channels", default=3),
        "bias": c.flag("qkv_bias", True),
    }


FAMILIES: dict[str, Callable[[_Config], dict]] = {"llama": _llama, "mistral": _mistral,
                                                   "mixtral": _mixtral, "bert": _bert,
                                                   "gpt2": _gpt2, "vit": _vit}
"""``model_type`` -> reader returning ModelShape keyword arguments (family name = model_type)."""

ARCHITECTURES = {"Llama": "llama", "Mixtral": "mixtral", "Mistral": "mistral", "Bert": "bert",
                 "GPT2": "gpt2", "ViT": "vit"}
"""Class-name prefix in ``architectures`` -> ``model_type``, used when ``model_type`` is absent."""


def workload_from_hf_config(path: str | os.PathLike, name: str | None = None) -> WorkloadSpec:
    """Read a local Hugging Face config.json and return its workload (``source`` = the path).

    ``name`` defaults to the folder holding a file named ``config.json``, else the file's stem.
    """
    file = os.fspath(path)
    c = _read(file)
    model_type = _model_type(c)
    kwargs = FAMILIES[model_type](c)
    try:
        shape = ModelShape(family=model_type, **kwargs)
    except ValueError as exc:  # pydantic's ValidationError derives from ValueError
        raise _shape_error(c, exc) from None
    stem = os.path.splitext(os.path.basename(file))[0]
    folder = os.path.basename(os.path.dirname(os.path.abspath(file)))
    name = name or (folder if stem == "config" and folder else stem)
    return WorkloadSpec(kind="workload", version=1, name=name, source=file, model=shape,
                        description=f"{model_type} shape read from a Hugging Face config.json")


def _read(file: str) -> _Config:
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {getattr(exc, 'strerror', None) or exc}",
                        file=file) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"not valid JSON: {exc.msg}", file=file, line=exc.lineno,
                        column=exc.colno) from None
    if not isinstance(data, dict):
        raise SpecError(f"expected a JSON object at the top level, got {_describe(data)}",
                        file=file, line=1)
    return _Config(data, file, text)


def _model_type(c: _Config) -> str:
    supported = ", ".join(FAMILIES)
    model_type = c.get("model_type", (str,), "a string", default=None)
    if model_type is None:
        archs = c.get("architectures", (list,), "a list of class names", default=[])
        for prefix, family in ARCHITECTURES.items():
            if any(str(a).startswith(prefix) and str(a)[len(prefix):].startswith(
                    ("For", "Model", "LMHead")) for a in archs):
                return family
        raise c.error("model_type", f"missing 'model_type' and no recognised class in "
                                    f"'architectures'; supported model types: {supported}")
    if model_type not in FAMILIES:
        raise c.error("model_type", f"unknown model_type {model_type!r}; supported: {supported}")
    return model_type


_CROSS_FIELDS = ("kv_heads", "patch_size", "experts_per_token")
"""Fields a ModelShape cross-field message may name; the error points at its key (else heads)."""


def _shape_error(c: _Config, exc: ValueError) -> SpecError:
    """The first ModelShape validation problem, at the config.json key that fed the field."""
    err = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
    msg = str(err.get("msg", exc)).removeprefix("Value error, ")
    if err.get("loc"):
        field = str(err["loc"][0])
        msg = msg.replace("Input should be", "expected")
        if "input" in err and not isinstance(err["input"], dict):
            msg += f", got {_describe(err['input'])}"
    else:
        field = next((f for f in _CROSS_FIELDS if f in msg), "heads")
    return c.error(c.keys.get(field, field), msg)
