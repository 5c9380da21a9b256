"""Load a spec file: read YAML safely, dispatch on ``kind``, validate, and report clearly.

Every problem becomes a :class:`~accelsim.errors.SpecError` naming the file, the
dotted field path (``levels[2].bandwidth``), the line and column of that field
when it can be found, and what was expected.
"""

from __future__ import annotations

import difflib
import os
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from accelsim.errors import SpecError, SpecErrors, format_path
from accelsim.spec.hardware import HardwareSpec
from accelsim.spec.mapping import MappingSpec
from accelsim.spec.sweep import SweepSpec
from accelsim.spec.system import SystemSpec
from accelsim.spec.workload import WorkloadSpec
from accelsim.yamlio import Document, read_yaml

MODELS: dict[str, type[BaseModel]] = {
    "hardware": HardwareSpec,
    "workload": WorkloadSpec,
    "mapping": MappingSpec,
    "sweep": SweepSpec,
    "system": SystemSpec,
}
"""Kinds validated by a pydantic model here."""

KINDS = ("hardware", "workload", "cascade", "mapping", "sweep", "system")
"""Every document kind accelsim reads; ``cascade`` is validated by the IR's own parser."""

VERSIONS = (1,)
"""Format versions this release reads."""


def read_document(path: str | os.PathLike, expected: str | None = None) -> tuple[Document, str]:
    """Read ``path`` and check its header; returns the document and its kind."""
    doc = read_yaml(path)
    data, file = doc.data, doc.file
    if not isinstance(data, dict):
        raise SpecError(f"expected a YAML mapping with 'kind' and 'version', got {_describe(data)}",
                        file=file, line=1)
    kind = data.get("kind")
    if kind is None:
        raise SpecError(f"missing 'kind' (one of {', '.join(KINDS)})", file=file, line=1)
    if kind not in KINDS:
        line, col = doc.locate(("kind",))
        raise SpecError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}",
                        file=file, path="kind", line=line, column=col)
    if expected is not None and kind != expected:
        line, col = doc.locate(("kind",))
        raise SpecError(f"is a {kind} spec, expected a {expected} spec",
                        file=file, path="kind", line=line, column=col)
    version = data.get("version")
    if version is None:
        raise SpecError(f"missing 'version' (supported: {', '.join(map(str, VERSIONS))})", file=file)
    if isinstance(version, bool) or version not in VERSIONS:
        line, col = doc.locate(("version",))
        raise SpecError(f"unsupported version {version!r}; this accelsim reads version "
                        f"{', '.join(map(str, VERSIONS))}", file=file, path="version",
                        line=line, column=col)
    return doc, kind


def validate_document(doc: Document, kind: str) -> BaseModel:
    """Validate a document of a pydantic-backed kind; raises SpecErrors listing every problem."""
    model = MODELS[kind]
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecErrors([to_spec_error(err, doc, model) for err in exc.errors()]) from None


def load_spec(path: str | os.PathLike, kind: str | None = None) -> BaseModel:
    """Read and validate a hardware, workload, mapping or sweep spec file."""
    doc, found = read_document(path, expected=kind)
    if found not in MODELS:
        raise SpecError(f"{found} specs are loaded by their own reader, not load_spec", file=doc.file)
    return validate_document(doc, found)


def to_spec_error(err: dict, doc: Document, model: type[BaseModel]) -> SpecError:
    """One pydantic validation error of ``doc`` (validated as ``model``) as a SpecError with
    the field path, its line and column, and what was expected."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        message = f"unknown key {key!r}"
        fields = _fields_at(model, parent)
        if fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            message += f"; {hint}expected one of: {', '.join(fields)}"
    elif kind == "missing":
        message = "missing required field"
    else:
        message = _clean_message(err)
    line, col = doc.locate(loc)
    return SpecError(message, file=doc.file, path=format_path(loc) or None, line=line, column=col)


def _clean_message(err: dict) -> str:
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    value = err.get("input")
    if err.get("type", "").endswith("_type") or err.get("type") in ("literal_error", "int_parsing",
                                                                      "greater_than_equal",
                                                                      "less_than_equal"):
        msg = msg.replace("Input should be", "expected")
        return f"{msg}, got {_describe(value)}"
    return msg


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the sub-model found by walking ``loc`` through ``model``'s annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (list, dict):
            args = typing.get_args(current)
            current = args[-1] if args else None
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):   # keys as written
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated to the model or container inside."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin is typing.Union or str(origin) == "types.UnionType":
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp
