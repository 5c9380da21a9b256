"""One error hierarchy for everything a user can get wrong.

Every error a user can cause derives from :class:`AccelsimError`; the CLI prints
``str(error)`` as one line and exits with code 2, so a message must say where the
problem is (file, dotted field path, line and column when known) and what was
expected.  Programming errors inside accelsim are *not* wrapped: they surface as
ordinary Python exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass


class AccelsimError(Exception):
    """Base class of every user-facing error."""

    exit_code = 2


@dataclass(frozen=True)
class Location:
    """Where a problem sits: a file, a dotted field path and a 1-based line/column."""

    file: str | None = None
    path: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)


class SpecError(AccelsimError):
    """A spec (YAML document, config file, Einsum string) is malformed or inconsistent."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 line: int | None = None, column: int | None = None):
        self.message = message
        self.location = Location(file=file, path=path, line=line, column=column)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message

    def at(self, *, file: str | None = None, path_prefix: str | None = None,
           line: int | None = None, column: int | None = None) -> "SpecError":
        """Return a copy located more precisely (fields already set are kept)."""
        loc = self.location
        path = loc.path
        if path_prefix:
            path = join_path(path_prefix, path) if path else path_prefix
        return type(self)(self.message, file=loc.file or file, path=path,
                          line=loc.line if loc.line is not None else line,
                          column=loc.column if loc.column is not None else column)


class SpecErrors(AccelsimError):
    """Several problems found in one pass (``accelsim check`` prints each on its own line)."""

    def __init__(self, errors: list[SpecError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class MappingError(AccelsimError):
    """A mapping is illegal for its Einsum or hardware (coverage, fan-out, capacity)."""


class CapacityError(MappingError):
    """A tile does not fit the level that must hold it."""


class LoweringError(AccelsimError):
    """A workload cannot be lowered (inconsistent config, unsupported operator)."""


class ValidationRunError(AccelsimError):
    """A measurement against real kernels could not be run (missing torch/triton, no device)."""


class AccelsimWarning(UserWarning):
    """A result that runs but may not mean what the user expects (a sequence longer than
    the model's context); the command line prints it as one ``warning:`` line."""


def join_path(prefix: str, rest: str) -> str:
    """Join two dotted field paths: ``join_path('levels[2]', 'bandwidth')``."""
    if not prefix:
        return rest
    if not rest:
        return prefix
    return prefix + rest if rest.startswith("[") else f"{prefix}.{rest}"


def format_path(loc: tuple) -> str:
    """Render a location tuple such as ``('levels', 2, 'bandwidth')`` as ``levels[2].bandwidth``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = join_path(out, str(part))
    return out
