"""The expression tree shared by Einsum right-hand sides, tensor indices and rank sizes.

One small AST serves three purposes:

* **values** -- the right-hand side of an Einsum: tensor accesses, numbers, element-wise
  functions, arithmetic, comparisons and ``select``;
* **indices** -- each index of a tensor access is an *affine* expression of rank variables
  (``p+r``, ``2*p+r``, ``m1*M0+m0``, ``M1``), turned into an :class:`Affine` form on demand;
* **rank sizes** -- ``ceil(M / M0)``, ``P + R - 1``: expressions over rank sizes only.

Naming convention (FuseMax / TeAAL): a *rank* is named in upper case (``M``, ``M0``, ``KH``)
and its size is referred to by that name; a *rank variable* is the same name in lower case
(``m``, ``m0``, ``kh``) and ranges over ``0 .. size-1``.  Tensor names are followed by ``[``
and function names by ``(``, so bare identifiers are unambiguous.

Every node remembers the 1-based column where it starts in the text it was parsed from;
columns take no part in equality, so a parsed tree equals one built by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator, Mapping, Union

from accelsim.errors import SpecError


class ExprError(SpecError):
    """A problem inside one expression; ``location.column`` is the column in that expression."""


@dataclass(frozen=True)
class Num:
    """A numeric literal (``2``, ``0.5``, ``1e-05``, ``inf``, ``-inf``)."""

    value: int | float
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    """A bare identifier: a rank variable (``m1``) or the size of a rank (``M0``)."""

    id: str
    column: int = field(default=0, compare=False)

    @property
    def is_variable(self) -> bool:
        """True for a rank variable (all letters lower case)."""
        return is_variable_name(self.id)

    @property
    def is_size(self) -> bool:
        """True for a rank size (all letters upper case)."""
        return is_rank_name(self.id)


@dataclass(frozen=True)
class Access:
    """A read (or the write) of a tensor element: ``K[h,m1*M0+m0,e]``."""

    tensor: str
    indices: tuple["Expr", ...]
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    """Negation ``-x`` of a non-literal operand (literals are folded into :class:`Num`)."""

    op: str
    operand: "Expr"
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    """``left op right`` with op one of ``+ - * / < <= > >= == != and or``."""

    op: str
    left: "Expr"
    right: "Expr"
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    """An element-wise function applied to arguments: ``exp(x)``, ``select(c, a, b)``."""

    func: str
    args: tuple["Expr", ...]
    column: int = field(default=0, compare=False)


Expr = Union[Num, Name, Access, Unary, Binary, Call]

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
LOGICAL = ("and", "or")
ARITHMETIC = ("+", "-", "*", "/")
SIZE_FUNCTIONS = ("ceil", "floor", "min", "max")
RESERVED_WORDS = frozenset({"inf", "where", "else", "and", "or"})

_PRECEDENCE = {"or": 1, "and": 2, **{op: 3 for op in COMPARISONS}, "+": 4, "-": 4, "*": 5, "/": 5}
_UNARY_PRECEDENCE = 6
_ATOM_PRECEDENCE = 7


def is_variable_name(name: str) -> bool:
    """A rank variable is spelled in lower case: ``m``, ``m1``, ``kh``."""
    return name == name.lower() and name != name.upper()


def is_rank_name(name: str) -> bool:
    """A rank (and its size) is spelled in upper case: ``M``, ``M1``, ``KH``."""
    return name == name.upper() and name != name.lower()


def rank_of(variable: str) -> str:
    """The rank a variable ranges over: ``m1`` -> ``M1``."""
    return variable.upper()


def variable_of(rank: str) -> str:
    """The variable that ranges over a rank: ``M1`` -> ``m1``."""
    return rank.lower()


# --------------------------------------------------------------------------- traversal

def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr`` in pre-order, including the indices of accesses."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Access):
            stack.extend(reversed(node.indices))
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack.extend((node.right, node.left))
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))


def accesses_in(expr: Expr | None) -> list[Access]:
    """Tensor accesses in ``expr``, in textual order."""
    return [] if expr is None else [n for n in walk(expr) if isinstance(n, Access)]


def variables_in(expr: Expr | None) -> list[str]:
    """Rank variables used anywhere in ``expr`` (values and indices), first use first."""
    seen: dict[str, None] = {}
    if expr is not None:
        for node in walk(expr):
            if isinstance(node, Name) and node.is_variable:
                seen.setdefault(node.id)
    return list(seen)


def sizes_in(expr: Expr | None) -> list[str]:
    """Rank sizes named anywhere in ``expr``, first use first."""
    seen: dict[str, None] = {}
    if expr is not None:
        for node in walk(expr):
            if isinstance(node, Name) and node.is_size:
                seen.setdefault(node.id)
    return list(seen)


def depends_on_data(expr: Expr) -> bool:
    """True if ``expr`` varies over the iteration space (reads a tensor or a rank variable)."""
    return any(isinstance(n, Access) or (isinstance(n, Name) and n.is_variable) for n in walk(expr))


# --------------------------------------------------------------------------- rendering

def render(expr: Expr, compact: bool = False) -> str:
    """Text that parses back to ``expr``; ``compact`` drops spaces (used inside indices)."""
    if isinstance(expr, Num):
        return _render_number(expr.value)
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Access):
        return f"{expr.tensor}[{','.join(render(i, compact=True) for i in expr.indices)}]"
    if isinstance(expr, Call):
        sep = "," if compact else ", "
        return f"{expr.func}({sep.join(render(a, compact) for a in expr.args)})"
    if isinstance(expr, Unary):
        inner = render(expr.operand, compact)
        if _precedence(expr.operand) < _UNARY_PRECEDENCE:
            inner = f"({inner})"
        return f"-{inner}"
    if isinstance(expr, Binary):
        prec = _PRECEDENCE[expr.op]
        left, right = render(expr.left, compact), render(expr.right, compact)
        non_assoc = expr.op in COMPARISONS
        if _precedence(expr.left) < prec or (non_assoc and _precedence(expr.left) == prec):
            left = f"({left})"
        if _precedence(expr.right) <= prec:
            right = f"({right})"
        if compact and expr.op in ARITHMETIC:
            return f"{left}{expr.op}{right}"
        return f"{left} {expr.op} {right}"
    raise TypeError(f"not an expression node: {expr!r}")


def _precedence(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, Unary):
        return _UNARY_PRECEDENCE
    if isinstance(expr, Num) and (expr.value < 0 or math.copysign(1.0, expr.value) < 0):
        return _UNARY_PRECEDENCE
    return _ATOM_PRECEDENCE


def _render_number(value: int | float) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers in an Einsum")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        raise ValueError("NaN cannot be written in an Einsum")
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


# --------------------------------------------------------------------------- rank sizes

def size_value(expr: Expr, sizes: Mapping[str, int]) -> Fraction:
    """Exact value of a size expression (numbers, rank sizes, ``+ - * /``, ceil/floor/min/max)."""
    if isinstance(expr, Num):
        if isinstance(expr.value, bool) or not float(expr.value).is_integer():
            raise ExprError(f"{render(expr)} is not an integer", column=expr.column)
        return Fraction(int(expr.value))
    if isinstance(expr, Name):
        if not expr.is_size:
            raise ExprError(f"{expr.id!r} is not a rank size (rank sizes are upper case)",
                            column=expr.column)
        if expr.id not in sizes:
            raise ExprError(f"rank {expr.id} has no size", column=expr.column)
        return Fraction(sizes[expr.id])
    if isinstance(expr, Unary):
        return -size_value(expr.operand, sizes)
    if isinstance(expr, Binary) and expr.op in ARITHMETIC:
        left, right = size_value(expr.left, sizes), size_value(expr.right, sizes)
        if expr.op == "/":
            if right == 0:
                raise ExprError(f"division by zero in {render(expr)}", column=expr.column)
            return left / right
        return {"+": left + right, "-": left - right, "*": left * right}[expr.op]
    if isinstance(expr, Call) and expr.func in SIZE_FUNCTIONS:
        return _size_call(expr, sizes)
    raise ExprError(f"{render(expr)} is not a size expression (use numbers, rank sizes, "
                    f"+ - * / and {', '.join(SIZE_FUNCTIONS)})", column=expr.column)


def _size_call(expr: Call, sizes: Mapping[str, int]) -> Fraction:
    values = [size_value(a, sizes) for a in expr.args]
    if expr.func in ("ceil", "floor"):
        if len(values) != 1:
            raise ExprError(f"{expr.func}() takes one argument", column=expr.column)
        return Fraction(math.ceil(values[0]) if expr.func == "ceil" else math.floor(values[0]))
    if not values:
        raise ExprError(f"{expr.func}() needs at least one argument", column=expr.column)
    return min(values) if expr.func == "min" else max(values)


def size_int(expr: Expr, sizes: Mapping[str, int]) -> int:
    """:func:`size_value` that must come out a whole number."""
    value = size_value(expr, sizes)
    if value.denominator != 1:
        shown = ", ".join(f"{k}={sizes[k]}" for k in sizes_in(expr) if k in sizes)
        raise ExprError(f"{render(expr)} = {value} is not a whole number ({shown})",
                        column=getattr(expr, "column", 0))
    return int(value)


def _s_add(a: Expr, b: Expr) -> Expr:
    if isinstance(a, Num) and a.value == 0:
        return b
    if isinstance(b, Num) and b.value == 0:
        return a
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value + b.value)
    return Binary("+", a, b)


def _s_mul(a: Expr, b: Expr) -> Expr:
    if (isinstance(a, Num) and a.value == 0) or (isinstance(b, Num) and b.value == 0):
        return Num(0)
    if isinstance(a, Num) and isinstance(b, Num):
        return Num(a.value * b.value)
    if isinstance(a, Num) and a.value == 1:
        return b
    if isinstance(b, Num) and b.value == 1:
        return a
    return Binary("*", a, b)


def _s_neg(a: Expr) -> Expr:
    return Num(-a.value) if isinstance(a, Num) else _s_mul(Num(-1), a)


# --------------------------------------------------------------------------- affine indices

@dataclass(frozen=True)
class Affine:
    """``sum(coefficient * variable) + offset``; coefficients and offset are size expressions."""

    terms: tuple[tuple[str, Expr], ...]
    offset: Expr

    @property
    def variables(self) -> tuple[str, ...]:
        """The rank variables this index depends on."""
        return tuple(v for v, _ in self.terms)

    def evaluate(self, sizes: Mapping[str, int]) -> tuple[dict[str, int], int]:
        """Integer coefficients per variable and integer offset, given rank sizes."""
        coefs = {v: size_int(c, sizes) for v, c in self.terms}
        return {v: c for v, c in coefs.items() if c != 0}, size_int(self.offset, sizes)

    def plain_variable(self) -> str | None:
        """The variable if this index is just ``v`` (coefficient 1, no offset), else None."""
        if len(self.terms) == 1 and self.terms[0][1] == Num(1) and self.offset == Num(0):
            return self.terms[0][0]
        return None


def affine(expr: Expr) -> Affine:
    """The affine form of an index expression, or :class:`ExprError` naming the culprit."""
    if isinstance(expr, Num):
        if isinstance(expr.value, float) and not expr.value.is_integer():
            raise ExprError(f"index {render(expr)} is not an integer", column=expr.column)
        if isinstance(expr.value, float) and math.isinf(expr.value):
            raise ExprError("an index cannot be infinite", column=expr.column)
        return Affine((), Num(int(expr.value)))
    if isinstance(expr, Name):
        if expr.is_variable:
            return Affine(((expr.id, Num(1)),), Num(0))
        if expr.is_size:
            return Affine((), expr)
        raise ExprError(f"{expr.id!r} in an index is neither a rank variable (lower case) nor "
                        "a rank size (upper case)", column=expr.column)
    if isinstance(expr, Unary):
        return _scale(affine(expr.operand), Num(-1))
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        left, right = affine(expr.left), affine(expr.right)
        if expr.op == "-":
            right = _scale(right, Num(-1))
        return _combine(left, right)
    if isinstance(expr, Binary) and expr.op == "*":
        left, right = affine(expr.left), affine(expr.right)
        if left.terms and right.terms:
            raise ExprError(f"{render(expr, True)} multiplies rank variables together; an index "
                            "must be affine (e.g. 2*p+r, m1*M0+m0)", column=expr.column)
        return _scale(right, left.offset) if not left.terms else _scale(left, right.offset)
    if isinstance(expr, (Binary, Call)) and not variables_in(expr) and not accesses_in(expr):
        if (isinstance(expr, Binary) and expr.op == "/") or (
                isinstance(expr, Call) and expr.func in SIZE_FUNCTIONS):
            return Affine((), expr)
    if isinstance(expr, Access):
        raise ExprError(f"index {render(expr, True)} reads a tensor; indices must be affine "
                        "expressions of rank variables", column=expr.column)
    raise ExprError(f"index {render(expr, True)} is not affine (use rank variables, rank sizes, "
                    "integers, + - and multiplication by a constant)",
                    column=getattr(expr, "column", 0))


def _scale(a: Affine, factor: Expr) -> Affine:
    if isinstance(factor, Num) and factor.value == -1:
        return Affine(tuple((v, _s_neg(c)) for v, c in a.terms), _s_neg(a.offset))
    return Affine(tuple((v, _s_mul(factor, c)) for v, c in a.terms), _s_mul(factor, a.offset))


def _combine(a: Affine, b: Affine) -> Affine:
    terms = dict(a.terms)
    for v, c in b.terms:
        terms[v] = _s_add(terms[v], c) if v in terms else c
    return Affine(tuple(terms.items()), _s_add(a.offset, b.offset))
