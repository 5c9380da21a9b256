"""Tensors and Einsums, and the structural view of an Einsum that the cost model reads.

An :class:`Einsum` defines one output tensor over an *iteration space*: every combination of
its rank variables.  At each point the right-hand side expression is evaluated; variables
absent from the output are reduced (``sum`` by default, or the operator written in front:
``max(m)``).  An optional guard (``where``) removes points from the space, and an iterative
Einsum (``iterate: m1``) computes its output at ``m1+1`` from values at ``m1``, starting from a
declared initial value at index 0 (FuseMax's running max ``RM[m1+1,p] = max(RM[m1,p], LM[m1,p])``,
``RM[0,p] = -inf``).
"""

from __future__ import annotations

import re
from functools import cached_property
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from accelsim.dtypes import element_bytes
from accelsim.ir.expr import (Access, Affine, Binary, Call, Expr, ExprError, Num, accesses_in,
                              affine, rank_of, render, variables_in, walk)
from accelsim.ir.grammar import REDUCE_PATTERN, ParsedEinsum, Reduction, parse_einsum, parse_expr

if TYPE_CHECKING:
    from accelsim.ir.counts import OpCounts

REDUCTION_PREFIX = re.compile(REDUCE_PATTERN)
"""Text that the grammar reads as a reduction when it opens a right-hand side."""

_BINARY_NAMES = {"*": "multiply", "+": "add", "-": "subtract", "/": "divide"}


@dataclass(frozen=True)
class Tensor:
    """A named tensor: its ordered ranks (by rank name) and its element type."""

    name: str
    """Name used in Einsum strings, e.g. ``QK``."""
    ranks: tuple[str, ...]
    """Rank of each dimension, outermost first, e.g. ``("H", "M", "P")``."""
    dtype: str = "fp32"
    """Element type (a key of :data:`accelsim.dtypes.BYTES_PER_ELEMENT`)."""
    state_dim: int | None = None
    """Dimension along which an iterative Einsum carries this tensor, if any: its extent is the
    rank size + 1, index 0 holding the initial value.  Set by the cascade, never written in YAML."""

    def extents(self, sizes: Mapping[str, int]) -> tuple[int, ...]:
        """Number of elements along each dimension, given rank sizes."""
        return tuple(sizes[r] + (1 if d == self.state_dim else 0) for d, r in enumerate(self.ranks))

    def elements(self, sizes: Mapping[str, int]) -> int:
        """Number of elements of the whole tensor."""
        total = 1
        for extent in self.extents(sizes):
            total *= extent
        return total

    def bytes(self, sizes: Mapping[str, int]) -> float:
        """Storage size of the whole tensor in bytes."""
        return self.elements(sizes) * element_bytes(self.dtype)


@dataclass(frozen=True)
class Projection:
    """One tensor dimension's index as ``sum(coefficient * rank variable) + offset``.

    Terms name the *rank* the variable ranges over (``("M0", 1)`` for ``m0``).  With rank sizes
    given, coefficients and offset are ints; without, they are size expressions (print them).
    """

    terms: tuple[tuple[int | Expr, str], ...]
    """(coefficient, rank) pairs, e.g. ``((M0, "M1"), (1, "M0"))`` for ``m1*M0+m0``."""
    offset: int | Expr
    """Constant added to the index (``1`` in ``m1+1``; ``M1`` in ``RNV[f,M1,p]``)."""

    def __str__(self) -> str:
        parts = [(str(c) if isinstance(c, int) else render(c, True)) + "*" + r.lower()
                 for c, r in self.terms]
        off = self.offset if isinstance(self.offset, int) else render(self.offset, True)
        return " + ".join(parts + ([str(off)] if off not in (0, "0") else [])) or "0"


@dataclass(frozen=True)
class TensorAccess:
    """How an Einsum touches a tensor: read, write or read-write, and each dimension's index."""

    tensor: str
    """Tensor name."""
    mode: str
    """``"read"``, ``"write"``, or ``"read-write"`` (an output accumulated by a reduction)."""
    dims: tuple[Projection, ...]
    """Affine projection of the iteration space onto each tensor dimension."""


@dataclass(frozen=True)
class Einsum:
    """One (extended) Einsum: ``output = [reduce(vars)] expr [where guard [else fill]]``."""

    output: Access
    """The written tensor and its indices (plain variables; ``v+1`` on the iterated rank)."""
    expr: Expr
    """Right-hand side evaluated at each point of the iteration space."""
    reduction: Reduction | None = None
    """Reduction written in front of the expression; None means the default (sum, if any
    variable is absent from the output)."""
    guard: Expr | None = None
    """Condition on rank variables; points where it is false are skipped."""
    fill: Expr | None = None
    """Value of output points no iteration point contributes to (default: the reduction's
    identity, or 0)."""
    iterate: str | None = None
    """Rank variable along which the output at ``v+1`` is computed from values at ``v``."""
    initial: Expr | None = None
    """Value of the output at index 0 of the iterated rank (iterative Einsums only)."""
    source_text: str | None = field(default=None, compare=False, repr=False)
    """The string this Einsum was parsed from (error columns refer to it), if any."""

    @classmethod
    def parse(cls, text: str, *, iterate: str | None = None,
              initial: str | int | float | None = None) -> "Einsum":
        """Build an Einsum from its string form (and, if iterative, the rank and initial value)."""
        parsed = parse_einsum(text)
        return cls.from_parsed(parsed, iterate=iterate, initial=parse_initial(initial), text=text)

    @classmethod
    def from_parsed(cls, parsed: ParsedEinsum, *, iterate: str | None = None,
                    initial: Expr | None = None, text: str | None = None) -> "Einsum":
        """Build an Einsum from :func:`accelsim.ir.grammar.parse_einsum`'s result."""
        return cls(output=parsed.output, expr=parsed.expr, reduction=parsed.reduction,
                   guard=parsed.guard, fill=parsed.fill, iterate=iterate, initial=initial,
                   source_text=text)

    # ----------------------------------------------------------------- naming and text
    @property
    def name(self) -> str:
        """The Einsum is named after the tensor it writes."""
        return self.output.tensor

    @property
    def text(self) -> str:
        """The Einsum as a string (without iteration and initial value)."""
        rhs = render(self.expr)
        if self.reduction is not None:
            rhs = f"{self.reduction.op}({', '.join(self.reduction.variables)}) {rhs}"
        elif REDUCTION_PREFIX.match(rhs):  # e.g. max(a, b) + 1: not a reduction, say so
            rhs = f"({rhs})"
        text = f"{render(self.output)} = {rhs}"
        if self.guard is not None:
            text += f" where {render(self.guard)}"
            if self.fill is not None:
                text += f" else {render(self.fill)}"
        return text

    def __str__(self) -> str:
        return self.text

    # ----------------------------------------------------------------- iteration space
    @cached_property
    def output_variables(self) -> tuple[str, ...]:
        """Rank variables indexing the output, in dimension order."""
        return tuple(dict.fromkeys(v for index in self.output.indices for v in _index_vars(index)))

    @cached_property
    def variables(self) -> tuple[str, ...]:
        """Rank variables of the iteration space: output variables first, then reduced ones."""
        found = list(self.output_variables)
        for part in (self.expr, self.guard):
            found += variables_in(part)
        return tuple(dict.fromkeys(found))

    @cached_property
    def reduced_variables(self) -> tuple[str, ...]:
        """Variables of the iteration space absent from the output."""
        out = set(self.output_variables)
        return tuple(v for v in self.variables if v not in out)

    @cached_property
    def reduce(self) -> str | None:
        """Reduction operator actually applied: ``sum``, ``max``, ``min`` or None (no reduction)."""
        if self.reduction is not None:
            return self.reduction.op
        return "sum" if self.reduced_variables else None

    @cached_property
    def map_op(self) -> str | None:
        """Operator combining values at the top of the right-hand side: ``multiply``, ``add``,
        ``subtract``, ``divide``, ``max``, ``min``, ``select`` (or a comparison/logical
        operator); None when the top is a single operand or a one-argument function."""
        if isinstance(self.expr, Binary):
            return _BINARY_NAMES.get(self.expr.op, self.expr.op)
        if isinstance(self.expr, Call) and len(self.expr.args) > 1:
            return self.expr.func
        return None

    @cached_property
    def functions(self) -> tuple[str, ...]:
        """Element-wise functions applied anywhere in the right-hand side (each once)."""
        return tuple(dict.fromkeys(n.func for n in walk(self.expr) if isinstance(n, Call)))

    @cached_property
    def ranks(self) -> tuple[str, ...]:
        """Ranks of the iteration space (``m1`` ranges over rank ``M1``)."""
        return tuple(rank_of(v) for v in self.variables)

    def space(self, sizes: Mapping[str, int]) -> dict[str, int]:
        """Size of each iteration-space rank."""
        return {r: sizes[r] for r in self.ranks}

    def points(self, sizes: Mapping[str, int]) -> int:
        """Number of points of the (dense, unguarded) iteration space."""
        total = 1
        for size in self.space(sizes).values():
            total *= size
        return total

    # ----------------------------------------------------------------- tensors touched
    @cached_property
    def reads(self) -> tuple[Access, ...]:
        """Every tensor read, in textual order (right-hand side, guard, initial value)."""
        return tuple(accesses_in(self.expr) + accesses_in(self.guard) + accesses_in(self.initial))

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """Names of the tensors read, each once."""
        return tuple(dict.fromkeys(a.tensor for a in self.reads))

    @property
    def output_mode(self) -> str:
        """``read-write`` when the output accumulates a reduction, else ``write``."""
        return "read-write" if self.reduce is not None else "write"

    def accesses(self, sizes: Mapping[str, int] | None = None) -> tuple[TensorAccess, ...]:
        """Structural view: the output access, then every read, with affine projections.

        Remembered per (Einsum, sizes) for the last few thousand calls: mappers ask for
        the same accesses many times."""
        key = (id(self), None if sizes is None else tuple(sorted(sizes.items())))
        hit = _ACCESSES.get(key)
        if hit is not None and hit[0] is self:
            return hit[1]
        found = [TensorAccess(self.name, self.output_mode, _projections(self.output, sizes))]
        found += [TensorAccess(a.tensor, "read", _projections(a, sizes)) for a in self.reads]
        if len(_ACCESSES) >= 4096:
            _ACCESSES.clear()
        _ACCESSES[key] = (self, tuple(found))
        return tuple(found)

    def op_counts(self, sizes: Mapping[str, int]) -> OpCounts:
        """Operation counts by class; see :mod:`accelsim.ir.counts`."""
        from accelsim.ir.counts import einsum_op_counts
        return einsum_op_counts(self, sizes)


_ACCESSES: dict[tuple, tuple] = {}


def parse_initial(initial) -> Expr | None:
    """An initial value given as a number or an expression string."""
    if initial is None:
        return None
    if isinstance(initial, bool):
        raise ExprError("an initial value must be a number or an expression, not a boolean")
    if isinstance(initial, (int, float)):
        if initial != initial:
            raise ExprError("an initial value cannot be NaN")
        return Num(initial)
    if isinstance(initial, str):
        return parse_expr(initial)
    if hasattr(initial, "column"):
        return initial
    raise ExprError(f"an initial value must be a number or an expression string, "
                    f"not {type(initial).__name__}")


def _index_vars(index: Expr) -> list[str]:
    try:
        return list(affine(index).variables)
    except ExprError:
        return variables_in(index)


def _projections(access: Access, sizes: Mapping[str, int] | None) -> tuple[Projection, ...]:
    dims = []
    for index in access.indices:
        form: Affine = affine(index)
        if sizes is None:
            dims.append(Projection(tuple((c, rank_of(v)) for v, c in form.terms), form.offset))
        else:
            coefs, offset = form.evaluate(sizes)
            dims.append(Projection(tuple((c, rank_of(v)) for v, c in coefs.items()), offset))
    return tuple(dims)

