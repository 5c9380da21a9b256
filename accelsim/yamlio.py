"""Read YAML safely: one document, ``yaml.safe_load`` semantics, and clear errors.

Guards against what a user may hand the CLI by mistake: a missing path, a
directory, a binary or non-UTF-8 file, an empty file, a syntax error (reported
with line and column), several documents in one file and alias explosions
("billion laughs").  The composed node tree is kept so that later validation
errors can point at the line of the offending field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import yaml

from accelsim.errors import SpecError

MAX_FILE_BYTES = 16 * 1024 * 1024
"""Spec files larger than this are refused: no legitimate config comes near it."""

MAX_EXPANDED_NODES = 1_000_000
"""Upper bound on YAML nodes after expanding aliases (a YAML bomb expands to billions)."""


@dataclass(frozen=True)
class Document:
    """A parsed YAML document together with the node tree it was built from."""

    data: Any
    file: str | None
    node: yaml.Node | None

    def locate(self, loc: tuple) -> tuple[int | None, int | None]:
        """1-based (line, column) of the field at ``loc`` (keys and list indices), if found."""
        node = self.node
        found = node
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        nxt, found = value, key
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part] if 0 <= part < len(node.value) else None
                found = node if node is not None else found
            else:
                node = None
            if node is None:
                break
        if found is None:
            return None, None
        return found.start_mark.line + 1, found.start_mark.column + 1


def read_yaml(path: str | os.PathLike) -> Document:
    """Read one YAML document from ``path``; every failure is a :class:`SpecError`."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise SpecError("no such file", file=name)
    if os.path.isdir(name):
        raise SpecError("is a directory, expected a YAML file", file=name)
    size = os.path.getsize(name)
    if size > MAX_FILE_BYTES:
        raise SpecError(f"file is {size} bytes; spec files are limited to {MAX_FILE_BYTES}", file=name)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot be read ({exc.strerror})", file=name) from None
    return parse_yaml_bytes(raw, file=name)


def parse_yaml_bytes(raw: bytes, file: str | None = None) -> Document:
    """Decode ``raw`` as UTF-8 text and parse it (see :func:`parse_yaml_text`)."""
    if b"\x00" in raw:
        raise SpecError("is a binary file (contains NUL bytes), expected YAML text", file=file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SpecError(f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                        file=file, line=line) from None
    return parse_yaml_text(text, file=file)


def parse_yaml_text(text: str, file: str | None = None) -> Document:
    """Parse exactly one YAML document with the safe loader."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(f"YAML error: character #x{exc.character:04x} at offset {exc.position} "
                        "is not allowed (special characters are not allowed in YAML)",
                        file=file, line=line) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError("is empty, expected a YAML mapping with 'kind' and 'version'", file=file)
        _check_expansion(node, file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if "but found another document" in str(exc):
            problem = "holds several YAML documents, expected one per file"
        raise SpecError(f"YAML syntax error: {problem}", file=file,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", file=file) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", file=file) from None
    finally:
        loader.dispose()
    return Document(data=data, file=file, node=node)


def _check_expansion(root: yaml.Node, file: str | None) -> None:
    """Refuse documents whose aliases expand to more than MAX_EXPANDED_NODES nodes."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise SpecError("YAML aliases form a cycle", file=file,
                            line=node.start_mark.line + 1, column=node.start_mark.column + 1)
        visiting.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        visiting.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise SpecError(f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                            "(an alias explosion); write the data out instead",
                            file=file, line=node.start_mark.line + 1)
        return total

    size(root)
