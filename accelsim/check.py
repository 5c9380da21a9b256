"""Validate spec files of every kind: ``accelsim check PATH...`` is a thin layer over this."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Callable, Iterable

from accelsim.errors import AccelsimError, SpecError, SpecErrors
from accelsim.spec.load import MODELS, read_document, validate_document
from accelsim.yamlio import Document

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CheckedFile:
    """The outcome of checking one file: its kind when known and the problems found."""

    path: str
    kind: str | None
    problems: tuple[SpecError, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_cascade(doc: Document) -> None:
    from accelsim.ir import load_cascade

    load_cascade(doc.file)


EXTRA_CHECKS: dict[str, Callable[[Document], None]] = {"cascade": _check_cascade}
"""Kinds validated outside the pydantic models (by the IR's own parser)."""


def expand_paths(paths: Iterable[str]) -> tuple[list[str], list[SpecError]]:
    """Expand folders (recursively, *.yaml and *.yml) and globs; report paths that match nothing."""
    files: list[str] = []
    problems: list[SpecError] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(path)
                for name in names if name.endswith(YAML_SUFFIXES)
            )
            if not found:
                problems.append(SpecError("is a directory with no .yaml or .yml files", file=path))
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        elif glob.has_magic(path):
            found = sorted(glob.glob(path, recursive=True))
            if not found:
                problems.append(SpecError("pattern matches no files", file=path))
            files.extend(found)
        else:
            problems.append(SpecError("no such file or directory", file=path))
    return files, problems


def check_file(path: str) -> CheckedFile:
    """Read, dispatch on ``kind`` and validate one file."""
    kind = None
    try:
        doc, kind = read_document(path)
        if kind in MODELS:
            spec = validate_document(doc, kind)
            if kind == "system":   # its devices' hardware files must load too
                from accelsim.system import System

                System.from_spec(spec, file=path)
        else:
            EXTRA_CHECKS[kind](doc)
    except SpecErrors as exc:
        return CheckedFile(path, kind, tuple(exc.errors))
    except SpecError as exc:
        return CheckedFile(path, kind, (exc.at(file=path),))
    except AccelsimError as exc:
        return CheckedFile(path, kind, (SpecError(str(exc), file=path),))
    return CheckedFile(path, kind, ())


def check_paths(paths: Iterable[str]) -> tuple[list[CheckedFile], list[SpecError]]:
    """Check every spec file under ``paths``; returns per-file results and path problems."""
    files, problems = expand_paths(paths)
    return [check_file(f) for f in files], problems
