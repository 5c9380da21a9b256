"""The cascade YAML format (``einsum_cascades/*.yaml``): reading, checking and writing.

One document per file::

    kind: cascade
    version: 1
    name: attention-3pass
    source: Nayak et al., FuseMax, MICRO 2024, arXiv:2406.10491, Cascade 2 (Section 3)
    description: Softmax attention with three passes over the keys.
    dtype: bf16                  # element type of undeclared tensors (default fp32)
    ranks:                       # null: bound later; int: default; string: derived
      E: 64
      M: null
      M0: 64
      M1: ceil(M / M0)
    tensors:                     # inputs must be declared; intermediates may be inferred
      Q: {ranks: [P, E], dtype: bf16}
    outputs: [AV]                # default: tensors written and never read
    einsums:
      - QK[m,p] = Q[p,e] * K[m,e]
      - GM[p] = max(m) QK[m,p]
      - einsum: RM[m1+1,p] = max(RM[m1,p], LM[m1,p])
        iterate: m1              # the output at m1+1 is computed from values at m1
        initial: -inf            # RM[0,p]; a number or an expression of the other indices

Unknown keys anywhere are errors, and every error names the file, the dotted path, the line
and column, and for Einsum strings the column inside the string.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

import yaml

from accelsim.dtypes import element_bytes
from accelsim.errors import SpecError, format_path
from accelsim.ir.cascade import Cascade, Origin
from accelsim.ir.einsum import Einsum, Tensor, parse_initial
from accelsim.ir.expr import ExprError, Num, render
from accelsim.ir.grammar import parse_einsum
from accelsim.ir.sizes import as_size_expr
from accelsim.ir.verify import verify as verify_cascade
from accelsim.yamlio import Document, parse_yaml_text, read_yaml

TOP_KEYS = ("kind", "version", "name", "source", "description", "dtype", "ranks", "tensors",
            "outputs", "einsums")
REQUIRED_KEYS = ("kind", "version", "name", "source", "description", "ranks", "einsums")
TENSOR_KEYS = ("ranks", "dtype")
EINSUM_KEYS = ("einsum", "iterate", "initial")


def load_cascade(path: str | os.PathLike) -> Cascade:
    """Read and verify the cascade in the YAML file at ``path``; any problem is a SpecError."""
    return cascade_from_document(_guarded(read_yaml, path), verify=True)


def _guarded(reader, source, **kwargs) -> Document:
    """Call an accelsim.yamlio reader, turning a YAML error it lets through into a SpecError
    (PyYAML's reader rejects control characters before yamlio's own error handling runs)."""
    try:
        return reader(source, **kwargs)
    except yaml.YAMLError as exc:
        name = os.fspath(source) if reader is read_yaml else kwargs.get("file")
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"YAML error: {problem}", file=name) from None


def cascade_from_yaml(path_or_text, *, verify: bool = True) -> Cascade:
    """Read a cascade from a path, YAML text, or a :class:`accelsim.yamlio.Document`."""
    if isinstance(path_or_text, Document):
        doc = path_or_text
    elif isinstance(path_or_text, os.PathLike):
        doc = _guarded(read_yaml, path_or_text)
    elif isinstance(path_or_text, str):
        text = path_or_text
        looks_like_path = "\n" not in text and (text.endswith((".yaml", ".yml"))
                                                or os.path.isfile(text))
        doc = _guarded(read_yaml, text) if looks_like_path else _guarded(parse_yaml_text, text)
    else:
        raise SpecError(f"expected a path or YAML text, got {type(path_or_text).__name__}")
    return cascade_from_document(doc, verify=verify)


def cascade_from_document(doc: Document, *, verify: bool = True) -> Cascade:
    """Build (and by default verify) a cascade from a parsed YAML document."""
    reader = _Reader(doc)
    cascade = reader.cascade()
    return verify_cascade(cascade) if verify else cascade


class _Reader:
    """Checks the document's shape and turns it into a :class:`Cascade`."""

    def __init__(self, doc: Document):
        self.doc, self.file = doc, doc.file
        self.positions: dict[tuple, tuple[int, int, bool]] = {}

    # ----------------------------------------------------------------- errors
    def error(self, loc: tuple, message: str, column_in_string: int | None = None,
              key: bool = False) -> SpecError:
        line, column, inline = self.position(loc, key=key)
        if column_in_string and inline and column is not None:
            column += column_in_string - 1
        return SpecError(message, file=self.file, path=format_path(loc) or None, line=line,
                         column=column)

    def position(self, loc: tuple, key: bool = False) -> tuple[int | None, int | None, bool]:
        if key:
            line, column = self.doc.locate(loc)
            return line, column, False
        node = self.doc.node
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value
                             if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                    and 0 <= part < len(node.value):
                node = node.value[part]
            else:
                node = None
            if node is None:
                line, column = self.doc.locate(loc)
                return line, column, False
        style = getattr(node, "style", None) if isinstance(node, yaml.ScalarNode) else "node"
        inline = style in (None, "'", '"') and node.start_mark.line == node.end_mark.line
        column = node.start_mark.column + 1 + (1 if style in ("'", '"') else 0)
        return node.start_mark.line + 1, column, inline

    def remember(self, loc: tuple, at: tuple | None = None) -> None:
        self.positions[loc] = self.position(at or loc)

    def mapping(self, value, loc: tuple, allowed: tuple, required: tuple = ()) -> dict:
        if not isinstance(value, dict):
            raise self.error(loc, f"expected a mapping with keys {', '.join(allowed)}, "
                             f"got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else \
                    f"; expected one of {', '.join(allowed)}"
                raise self.error(loc + (str(key),), f"unknown key {key!r}{extra}", key=True)
        for key in required:
            if key not in value:
                raise self.error(loc, f"missing required key {key!r}")
        return value

    def string(self, value, loc: tuple, *, empty_ok: bool = False) -> str:
        if not isinstance(value, str) or (not empty_ok and not value.strip()):
            raise self.error(loc, f"expected a non-empty string, got {_kind(value)}")
        return value

    # ----------------------------------------------------------------- sections
    def duplicate_keys(self) -> None:
        """PyYAML keeps the last of repeated keys silently; a cascade file may not repeat one."""
        stack = [(self.doc.node, ())]
        while stack:
            node, loc = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key, value in node.value:
                    name = key.value if isinstance(key, yaml.ScalarNode) else None
                    if name is not None and name in seen:
                        raise SpecError(f"key {name!r} appears twice", file=self.file,
                                        path=format_path(loc + (name,)),
                                        line=key.start_mark.line + 1,
                                        column=key.start_mark.column + 1)
                    seen.add(name)
                    stack.append((value, loc + (name,)))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((item, loc + (k,)) for k, item in enumerate(node.value))

    def cascade(self) -> Cascade:
        if self.doc.node is not None:
            self.duplicate_keys()
        data = self.mapping(self.doc.data, (), TOP_KEYS, REQUIRED_KEYS)
        if data["kind"] != "cascade":
            raise self.error(("kind",), f"kind is {data['kind']!r}; a cascade file has "
                             "kind: cascade")
        if data["version"] != 1 or isinstance(data["version"], bool):
            raise self.error(("version",), f"unsupported version {data['version']!r}; "
                             "expected 1")
        dtype = self.string(data.get("dtype", "fp32"), ("dtype",))
        try:
            element_bytes(dtype)
        except SpecError as exc:
            raise self.error(("dtype",), exc.message) from None
        ranks = self.ranks(data["ranks"])
        tensors = self.tensors(data.get("tensors") or {}, dtype)
        outputs = self.outputs(data.get("outputs"))
        einsums = self.einsums(data["einsums"])
        for key in ("name", "source", "description"):
            self.remember((key,))
        origin = Origin(self.file, self.positions)
        try:
            return Cascade(name=self.string(data["name"], ("name",)), einsums=einsums,
                           ranks=ranks, tensors=tensors, outputs=outputs,
                           source=self.string(data["source"], ("source",)),
                           description=self.string(data["description"], ("description",)),
                           dtype=dtype, origin=origin)
        except SpecError as exc:
            if exc.location.file:
                raise
            raise origin.relocate(exc) from None

    def ranks(self, value) -> dict:
        if not isinstance(value, dict):
            raise self.error(("ranks",), f"expected a mapping of rank name to size, got "
                             f"{_kind(value)}")
        ranks = {}
        for name, size in value.items():
            loc = ("ranks", str(name))
            if not isinstance(name, str):
                raise self.error(loc, f"rank name {name!r} must be a string", key=True)
            self.remember(loc)
            try:
                ranks[name] = as_size_expr(size)
            except ExprError as exc:
                raise self.error(loc, f"{exc.message}", exc.location.column) from None
        return ranks

    def tensors(self, value, dtype: str) -> dict[str, Tensor]:
        if not isinstance(value, dict):
            raise self.error(("tensors",), f"expected a mapping of tensor name to "
                             f"{{ranks: [...], dtype: ...}}, got {_kind(value)}")
        tensors = {}
        for name, spec in value.items():
            loc = ("tensors", str(name))
            if not isinstance(name, str):
                raise self.error(loc, f"tensor name {name!r} must be a string", key=True)
            spec = self.mapping(spec, loc, TENSOR_KEYS, ("ranks",))
            ranks = spec["ranks"]
            if not isinstance(ranks, list) or not all(isinstance(r, str) for r in ranks):
                raise self.error(loc + ("ranks",), f"expected a list of rank names, got "
                                 f"{_kind(ranks)}")
            element = self.string(spec.get("dtype", dtype), loc + ("dtype",))
            self.remember(loc)
            self.remember(loc + ("dtype",))
            for d in range(len(ranks)):
                self.remember(loc + ("ranks", d))
            tensors[name] = Tensor(name, tuple(ranks), element)
        return tensors

    def outputs(self, value) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not value:
            raise self.error(("outputs",), f"expected a non-empty list of tensor names, got "
                             f"{_kind(value)}")
        for k, name in enumerate(value):
            self.string(name, ("outputs", k))
            self.remember(("outputs", k))
        return tuple(value)

    def einsums(self, value) -> tuple[Einsum, ...]:
        if not isinstance(value, list) or not value:
            raise self.error(("einsums",), f"expected a non-empty list of Einsums, got "
                             f"{_kind(value)}")
        return tuple(self.einsum(item, k) for k, item in enumerate(value))

    def einsum(self, item, k: int) -> Einsum:
        loc = ("einsums", k)
        if isinstance(item, dict):
            spec = self.mapping(item, loc, EINSUM_KEYS, ("einsum",))
            text_loc = loc + ("einsum",)
        else:
            spec, text_loc = {"einsum": item}, loc
        text = spec["einsum"]
        if not isinstance(text, str):
            raise self.error(text_loc, f"expected an Einsum string such as "
                             f"'QK[m,p] = Q[e,p] * K[e,m]', got {_kind(text)}")
        self.remember(loc, text_loc)
        try:
            parsed = parse_einsum(text)
        except ExprError as exc:
            raise self.error(text_loc, f"Einsum {text!r}: {exc.message}",
                             exc.location.column) from None
        iterate = spec.get("iterate")
        if iterate is not None and not isinstance(iterate, str):
            raise self.error(loc + ("iterate",), f"iterate: expected a rank variable such as "
                             f"m1, got {_kind(iterate)}")
        try:
            initial = parse_initial(spec.get("initial"))
        except ExprError as exc:
            raise self.error(loc + ("initial",), f"initial value: {exc.message}",
                             exc.location.column) from None
        for key in ("iterate", "initial"):
            if key in spec:
                self.remember(loc + (key,))
        return Einsum.from_parsed(parsed, iterate=iterate, initial=initial, text=text)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) < 60 else "a string"
    return f"a {type(value).__name__}"


# ----------------------------------------------------------------------------- writing

class _FlowList(list):
    """A list written in flow style: ``[H, P, E]``."""


class _Dumper(yaml.SafeDumper):
    """Block style overall, flow style for rank lists and tensor entries."""


_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))


class _FlowDict(dict):
    """A mapping written in flow style: ``{ranks: [P, E], dtype: bf16}``."""


_Dumper.add_representer(_FlowDict, lambda d, v: d.represent_mapping(
    "tag:yaml.org,2002:map", v.items(), flow_style=True))


def cascade_to_yaml(cascade: Cascade) -> str:
    """YAML text for ``cascade``; :func:`cascade_from_yaml` reads it back to an equal cascade."""
    ranks = {name: (None if size is None else size.value if isinstance(size, Num)
                    else render(size)) for name, size in cascade.ranks.items()}
    data = {
        "kind": "cascade", "version": 1, "name": cascade.name, "source": cascade.source,
        "description": cascade.description, "dtype": cascade.dtype, "ranks": ranks,
        "tensors": {name: _FlowDict(ranks=_FlowList(t.ranks), dtype=t.dtype)
                    for name, t in cascade.tensors.items()},
        "outputs": _FlowList(cascade.outputs),
        "einsums": [_einsum_entry(e) for e in cascade.einsums],
    }
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10 ** 6,
                     default_flow_style=False)


def _einsum_entry(e: Einsum):
    if e.iterate is None and e.initial is None:
        return e.text
    entry = {"einsum": e.text}
    if e.iterate is not None:
        entry["iterate"] = e.iterate
    if e.initial is not None:
        entry["initial"] = render(e.initial)
    return entry
