"""The Einsum grammar: ``OUT[idx,...] = [reduce(vars)] expression [where condition [else value]]``.

Einsum strings are parsed with `lark <https://github.com/lark-parser/lark>`_ (LALR(1) with a
contextual lexer) rather than a hand-written parser or regular expressions because:

* the grammar below *is* the specification: precedence, associativity and what may appear in
  an index are written down once, in one place, in EBNF;
* every token and tree node carries its column, so a syntax error points at the exact
  character of the Einsum string (and, through the YAML node's position, at the file column);
* lark is pure Python, has no dependencies, is well kept (regular releases, typed, used by
  large projects) and its LALR mode is fast enough to parse thousands of Einsums per second.

Examples of accepted strings::

    QK[m,p] = Q[e,p] * K[e,m]                     # sum over e (absent from the output) by default
    GM[p] = max(m) QK[m,p]                        # explicit reduction operator and ranks
    SN[m,p] = exp(QK[m,p] - GM[p])                # element-wise function
    BK[e,m1,m0] = K[e,m1*M0+m0] where m1*M0+m0 < M            # guarded (padded) read
    BQK[m1,m0,p] = Q[e,p] * BK[e,m1,m0] where m1*M0+m0 < M else -inf
    RM[m1+1,p] = max(RM[m1,p], LM[m1,p])          # an iterative Einsum (declared in YAML)

At the start of the right-hand side, ``sum(...)``, ``max(...)`` or ``min(...)`` around bare rank
variables followed by an expression is a reduction; anywhere else ``max(a, b)`` is element-wise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import lark
from lark import Lark, Transformer, v_args

from accelsim.ir.expr import Access, Binary, Call, Expr, ExprError, Name, Num, Unary

MAX_TEXT_LENGTH = 10_000
"""Longer Einsum or size strings are refused (no real Einsum comes near this)."""

REDUCE_PATTERN = (r"(sum|max|min)[ \t]*\([ \t]*[a-z][a-z0-9_]*"
                  r"([ \t]*,[ \t]*[a-z][a-z0-9_]*)*[ \t]*\)")
"""A reduction written at the start of a right-hand side: ``max(m)``, ``sum(m1, m0)``."""

GRAMMAR = r"""
einsum: access "=" rhs guard?
rhs: REDUCE? expr
guard: "where" expr ("else" expr)?

?expr: or_test
?or_test: and_test
        | or_test "or" and_test       -> or_
?and_test: comparison
         | and_test "and" comparison  -> and_
?comparison: arith
           | arith "<" arith          -> lt
           | arith "<=" arith         -> le
           | arith ">" arith          -> gt
           | arith ">=" arith         -> ge
           | arith "==" arith         -> eq
           | arith "!=" arith         -> ne
?arith: term
      | arith "+" term                -> add
      | arith "-" term                -> sub
?term: factor
     | term "*" factor                -> mul
     | term "/" factor                -> div
?factor: atom
       | "-" factor                   -> neg
?atom: NUMBER                         -> number
     | "inf"                          -> inf
     | NAME                           -> name
     | access
     | NAME "(" [expr ("," expr)*] ")" -> call
     | "(" expr ")"
access: NAME "[" [expr ("," expr)*] "]"

REDUCE.2: /{REDUCE}/
NAME: /[A-Za-z][A-Za-z0-9_]*/
NUMBER: /(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?/
%ignore /[ \t\r\n]+/
""".replace("{REDUCE}", REDUCE_PATTERN)

_TOKEN_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "REDUCE": "a reduction such as sum(m)",
    "$END": "end of text",
}


@dataclass(frozen=True)
class Reduction:
    """The reduction written at the start of a right-hand side: ``max(m0)``, ``sum(m, e)``."""

    op: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class ParsedEinsum:
    """The pieces of one Einsum string, before any checking against a cascade."""

    output: Access
    expr: Expr
    reduction: Reduction | None
    guard: Expr | None
    fill: Expr | None
    reduction_columns: tuple[int, ...] = ()


_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">",
           "ge": ">=", "eq": "==", "ne": "!=", "and_": "and", "or_": "or"}


class _ToAst(Transformer):
    """Turns lark's parse tree into :mod:`accelsim.ir.expr` nodes, keeping columns."""

    def __default__(self, data, children, meta):
        if data in _BINARY:
            left, right = children
            return Binary(_BINARY[data], left, right, column=_column(left))
        return super().__default__(data, children, meta)

    def number(self, children):
        (tok,) = children
        text = str(tok)
        value: int | float = int(text) if text.isdigit() else float(text)
        return Num(value, column=tok.column)

    @v_args(meta=True)
    def inf(self, meta, children):
        return Num(math.inf, column=meta.column)

    def name(self, children):
        (tok,) = children
        return Name(str(tok), column=tok.column)

    @v_args(meta=True)
    def neg(self, meta, children):
        (operand,) = children
        if isinstance(operand, Num):
            return Num(-operand.value, column=meta.column)
        return Unary("-", operand, column=meta.column)

    def call(self, children):
        tok, *args = children
        args = [a for a in args if a is not None]
        return Call(str(tok), tuple(args), column=tok.column)

    def access(self, children):
        tok, *indices = children
        indices = [i for i in indices if i is not None]
        return Access(str(tok), tuple(indices), column=tok.column)

    def rhs(self, children):
        if len(children) == 2:
            tok, expr = children
            return _reduction(tok), expr
        return (None, ()), children[0]

    def guard(self, children):
        return (children[0], children[1] if len(children) > 1 else None)

    def einsum(self, children):
        output, ((reduction, columns), expr), *rest = children
        guard, fill = rest[0] if rest else (None, None)
        return ParsedEinsum(output, expr, reduction, guard, fill, columns)


def _column(node) -> int:
    return getattr(node, "column", 0)


def _reduction(tok) -> tuple[Reduction, tuple[int, ...]]:
    text = str(tok)
    op = re.match(r"[a-z]+", text).group(0)
    inner = text.index("(")
    found = list(re.finditer(r"[a-z][a-z0-9_]*", text[inner:]))
    names = tuple(m.group(0) for m in found)
    columns = tuple(tok.column + inner + m.start() for m in found)
    return Reduction(op, names), columns


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", start=["einsum", "expr"],
                maybe_placeholders=True, propagate_positions=True)


def parse_einsum(text: str) -> ParsedEinsum:
    """Parse one Einsum string; a malformed one raises :class:`ExprError` with its column."""
    return _parse(text, "einsum")


def parse_expr(text: str) -> Expr:
    """Parse a bare expression (a rank size such as ``ceil(M / M0)``, an initial value)."""
    return _parse(text, "expr")


def _parse(text: str, start: str):
    if not isinstance(text, str):
        raise ExprError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise ExprError(f"is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}")
    if not text.strip():
        raise ExprError("is empty")
    parser = _parser()
    try:
        tree = parser.parse(text, start=start)
        return _ToAst().transform(tree)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(text, exc, parser) from None
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, RecursionError):
            raise ExprError("nests too deeply") from None
        raise
    except RecursionError:
        raise ExprError("nests too deeply") from None


def _syntax_error(text: str, exc: lark.exceptions.UnexpectedInput, parser: Lark) -> ExprError:
    column = exc.column if isinstance(exc.column, int) and exc.column > 0 else None
    token = getattr(exc, "token", None)
    at_end = isinstance(exc, lark.exceptions.UnexpectedEOF) or (
        token is not None and token.type == "$END")
    if column is None or at_end:
        column = len(text.rstrip()) + 1
        found = "end of text"
    elif isinstance(exc, lark.exceptions.UnexpectedCharacters):
        found = repr(text[exc.pos_in_stream]) if exc.pos_in_stream < len(text) else "end"
    else:
        found = repr(str(token))
    if "\n" in text[:max(exc.pos_in_stream or 0, 0)]:
        column = None
    expected = _describe_expected(getattr(exc, "expected", None) or getattr(exc, "allowed", None),
                                  parser)
    message = f"syntax error at column {column}: unexpected {found}" if column else \
        f"syntax error: unexpected {found}"
    if expected:
        message += f"; expected {expected}"
    return ExprError(message, column=column)


def _describe_expected(names, parser: Lark) -> str:
    if not names:
        return ""
    shown = []
    for name in sorted(names):
        if name in _TOKEN_NAMES:
            shown.append(_TOKEN_NAMES[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            shown.append(repr(pattern.value))
    shown = sorted(set(shown))
    if len(shown) > 8:
        shown = shown[:8] + ["..."]
    return " or ".join(shown) if len(shown) <= 2 else ", ".join(shown[:-1]) + " or " + shown[-1]
