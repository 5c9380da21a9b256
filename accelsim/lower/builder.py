"""Assemble a cascade from Einsum strings, recording each tensor's role and element type.

The lowering writes Einsums as text with fixed, readable names (``X``, ``WQ``, rank variables
``b``, ``t``, ``m`` ...).  A :class:`CascadeBuilder` collects them together with each declared
tensor's *role* -- ``input``, ``weight``, ``output`` (every other tensor is an
``intermediate``) -- and its *class* (weights, activations, kv, accum; see
:mod:`accelsim.lower.precision`), then builds and verifies the :class:`~accelsim.ir.Cascade`.

A variable-length batch is lowered as several groups of equal-length sequences in one cascade:
inside :meth:`CascadeBuilder.group` every tensor except the weights, and every rank except the
model's own dimensions, gets the group's suffix (``X`` -> ``X_1``, ``T`` -> ``T_1``, ``t`` ->
``t_1``), so the groups share the weights and nothing else.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from accelsim.errors import LoweringError, SpecError
from accelsim.ir import Cascade, Einsum, Tensor, verify
from accelsim.lower.precision import Precision

_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_.])[A-Za-z][A-Za-z0-9_]*")


@dataclass
class Built:
    """A verified cascade with the role and element type of each of its tensors."""

    cascade: Cascade
    roles: dict[str, str]
    dtypes: dict[str, str]
    matmuls: frozenset = frozenset()
    """Tensors written by matrix products (see :attr:`accelsim.lower.Lowered.matmuls`)."""
    appends: tuple = ()
    """(tensor, the Einsums that assemble it) for each cache that a step appends to (see
    :attr:`accelsim.lower.Lowered.appends`)."""


@dataclass
class CascadeBuilder:
    """Collects ranks, tensors and Einsums of one cascade (see the module docstring)."""

    precision: Precision
    shared_ranks: frozenset = frozenset()
    """Ranks that keep their names inside a group (the model's dimensions)."""
    ranks: dict[str, object] = field(default_factory=dict)
    entries: list[tuple[str, str | None, object]] = field(default_factory=list)
    """(Einsum text, iterated variable, initial value)."""
    declared: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    """Declared tensor -> (ranks, class)."""
    roles: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    """Intermediate -> class, where it is not the default (see :meth:`build`)."""
    outputs: list[str] = field(default_factory=list)
    matmuls: set = field(default_factory=set)
    """Tensors written by matrix products."""
    appends: list = field(default_factory=list)
    """(tensor, Einsums) of each cache a step appends to (:meth:`appended`)."""
    suffix: str = ""
    renames: dict[str, str] = field(default_factory=dict)

    # ----------------------------------------------------------------- groups
    @contextmanager
    def group(self, suffix: str):
        """Inside the block, names are suffixed (see the module docstring)."""
        old_suffix, old_renames = self.suffix, self.renames
        self.suffix, self.renames = suffix, {}
        try:
            yield self
        finally:
            self.suffix, self.renames = old_suffix, old_renames

    def name(self, canonical: str) -> str:
        """The name a canonical tensor has in the current group."""
        return self._rename(canonical + "[")[:-1]

    def _rename(self, text: str) -> str:
        """Inside a group: registered ranks, variables and tensors take their group names, and
        every other tensor access except a weight gets the suffix."""
        if not self.suffix:
            return text

        def swap(match: re.Match) -> str:
            token = match.group(0)
            if token in self.renames:
                return self.renames[token]
            if self.roles.get(token) == "weight":
                return token
            return token + self.suffix if text[match.end():match.end() + 1] == "[" else token
        return _IDENTIFIER.sub(swap, text)

    # ----------------------------------------------------------------- declarations
    def rank(self, name: str, size) -> str:
        """Declare a rank: an int (default size), None (free) or a size expression."""
        if self.suffix and name not in self.shared_ranks:
            self.renames[name] = name + self.suffix
            self.renames[name.lower()] = name.lower() + self.suffix
        renamed = self._rename(name)
        self.ranks[renamed] = self._rename(size) if isinstance(size, str) else size
        return renamed

    def input(self, name: str, ranks: tuple[str, ...], kind: str = "activations",
              role: str = "input") -> str:
        """Declare an input tensor (activations, KV cache, masks, tables; ``role="weight"``
        for per-group rows of a weight, e.g. looked-up embeddings).  Like :meth:`add`, the
        declarations return the canonical name; :meth:`name` gives the group's."""
        self._declare(name, ranks, kind, role)
        return name

    def weight(self, name: str, ranks: tuple[str, ...]) -> str:
        """Declare a weight tensor; weights are shared by every group."""
        if name in self.declared:
            return name
        self.declared[name] = (tuple(self._rename(r) for r in ranks), "weights")
        self.roles[name] = "weight"
        return name

    def output(self, name: str, ranks: tuple[str, ...], kind: str = "activations") -> str:
        """Declare an output tensor (written by an Einsum added before or after)."""
        self.outputs.append(self._declare(name, ranks, kind, "output"))
        return name

    def _declare(self, name: str, ranks, kind: str, role: str) -> str:
        renamed = name + self.suffix if self.suffix else name
        if self.suffix:
            self.renames[name] = renamed
        self.declared[renamed] = (tuple(self._rename(r) for r in ranks), kind)
        self.roles[renamed] = role
        return renamed

    def add(self, text: str, *, kind: str | None = None, iterate: str | None = None,
            initial=None, matmul: bool = False) -> str:
        """Add one Einsum; ``kind`` sets the class of the tensor it writes (if intermediate),
        ``matmul`` marks a matrix product (its MACs count as FLOPs)."""
        canonical = text.split("[", 1)[0].strip()
        text = self._rename(text)
        written = text.split("[", 1)[0].strip()
        if kind is not None:
            self.kinds[written] = kind
        if matmul:
            self.matmuls.add(written)
        self.entries.append((text, self._rename(iterate) if iterate else None, initial))
        return canonical

    def appended(self, tensor: str, einsums: tuple[str, ...]) -> None:
        """Mark ``tensor`` as a cache after this step's append, assembled by ``einsums`` (the
        names they were added under) from the stored cache and the new entry."""
        self.appends.append((self._rename(tensor), tuple(self._rename(e) for e in einsums)))

    # ----------------------------------------------------------------- building
    def build(self, name: str, source: str, description: str) -> Built:
        """The verified cascade, its roles and element types (a SpecError is a bug here and
        surfaces as a LoweringError naming the cascade)."""
        try:
            einsums = [Einsum.parse(text, iterate=iterate, initial=initial)
                       for text, iterate, initial in self.entries]
            tensors = {n: Tensor(n, r, self.precision.of(k)) for n, (r, k) in self.declared.items()}
            draft = Cascade(name=name, einsums=einsums, ranks=dict(self.ranks), tensors=tensors,
                            outputs=tuple(self.outputs), source=source, description=description,
                            dtype=self.precision.activations)
            typed, roles = {}, {}
            for tensor_name, tensor in draft.tensors.items():
                roles[tensor_name] = self.roles.get(tensor_name, "intermediate")
                kind = self._class_of(draft, tensor_name)
                typed[tensor_name] = replace(tensor, dtype=self.precision.of(kind))
            cascade = verify(replace(draft, tensors=typed))
        except SpecError as exc:
            raise LoweringError(f"lowering produced a malformed cascade {name}: {exc}") from None
        return Built(cascade, roles, {n: t.dtype for n, t in cascade.tensors.items()},
                     frozenset(self.matmuls), tuple(self.appends))

    def _class_of(self, draft: Cascade, tensor: str) -> str:
        if tensor in self.declared:
            return self.declared[tensor][1]
        if tensor in self.kinds:
            return self.kinds[tensor]
        writer = draft.einsums[draft.writers[tensor]]
        return "accum" if writer.reduce == "sum" else "activations"
