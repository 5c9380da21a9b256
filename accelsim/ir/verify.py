"""``verify(cascade)``: reject a malformed cascade with a message naming the Einsum and index.

Checks, in order:

1. names -- ranks are upper case (their variables lower case), tensors are identifiers that
   do not collide with ranks or reserved words, element types are known;
2. rank sizes -- every size expression names declared ranks and has no cycle;
3. each Einsum -- every tensor it reads is declared or written by another Einsum, every
   access has one index per tensor rank, a plain index ``v`` addresses a dimension of rank
   ``V`` (or of a rank ``V`` is declared equal to, e.g. ``J: C``), indices are affine, rank
   variables have declared ranks, functions exist with the
   right number of arguments, the output is indexed by distinct plain variables (``v+1`` on
   the iterated rank of an iterative Einsum), an explicit reduction lists exactly the
   variables absent from the output, and iteration/initial values are consistent;
4. the cascade -- no tensor is written twice or is both an input and written, every declared
   tensor is used, outputs are written, and the dependence graph has no cycle other than
   through a declared iteration (:mod:`accelsim.ir.schedule`);
5. bounds -- with every rank size known (defaults, or ``sizes``), each projection stays inside
   its tensor.  A guard of the form ``affine < bound`` (or ``<=, >, >=, ==``) bounds an index
   with the same rank-variable terms, so ``K[e,m1*M0+m0] where m1*M0+m0 < M`` is in bounds.
"""

from __future__ import annotations

import keyword
import re
from typing import Mapping

from accelsim.dtypes import element_bytes
from accelsim.errors import SpecError
from accelsim.ir.cascade import Cascade
from accelsim.ir.einsum import Einsum
from accelsim.ir.expr import (COMPARISONS, RESERVED_WORDS, Access, Binary, Call, ExprError, Name,
                              Num, affine, depends_on_data, is_rank_name, rank_of, render, walk)
from accelsim.ir.operators import FUNCTIONS
from accelsim.ir.sizes import is_derived, resolve_sizes

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def verify(cascade: Cascade, sizes: Mapping[str, int] | None = None) -> Cascade:
    """Return ``cascade`` unchanged if well formed, else raise :class:`SpecError`.

    ``sizes`` (rank -> int) override the defaults for the bounds check; ranks without any size
    are skipped by that check.
    """
    try:
        _verify(cascade, sizes)
    except SpecError as exc:
        if cascade.origin is not None:
            raise cascade.origin.relocate(exc) from None
        raise
    return cascade


def _verify(cascade: Cascade, sizes: Mapping[str, int] | None) -> None:
    _check_names(cascade)
    given = {k: v for k, v in (sizes or {}).items() if not is_derived(cascade.ranks.get(k))}
    known = resolve_sizes(cascade.ranks, given, required=False)
    if not cascade.einsums:
        raise SpecError("a cascade needs at least one Einsum", path="einsums")
    _check_writers(cascade)
    for i, e in enumerate(cascade.einsums):
        _EinsumCheck(cascade, i, e).run()
    for name in cascade.writers:  # inferred tensors: their Einsums were checked above
        _check_tensor_ranks(cascade, name)
    _check_use(cascade)
    _ = cascade.schedule  # raises on an illegal cycle
    for i, e in enumerate(cascade.einsums):
        _check_bounds(cascade, i, e, known)


def fail(einsum: Einsum, index: int, column: int | None, problem: str,
         field: str | None = None) -> SpecError:
    """An error about Einsum ``index``, quoting it and the column of the offending part."""
    text = einsum.source_text
    col = column if (text is not None and column) else None
    if field:  # the column refers to that field's own string, not to the Einsum
        where = f"Einsum {einsum.name} ({field})"
    elif col:
        where = f"Einsum {einsum.name}, column {col} of {text!r}"
    else:
        where = f"Einsum {einsum.name} ({text or einsum.text!r})"
    path = f"einsums[{index}]" + (f".{field}" if field else "")
    return SpecError(f"{where}: {problem}", path=path, column=col)


# ----------------------------------------------------------------------------- names

def _check_names(cascade: Cascade) -> None:
    if not isinstance(cascade.name, str) or not cascade.name.strip():
        raise SpecError("a cascade needs a non-empty name", path="name")
    element_bytes(cascade.dtype, path="dtype")
    for rank in cascade.ranks:
        if not _IDENTIFIER.match(rank) or not is_rank_name(rank):
            raise SpecError(f"rank name {rank!r} must be an upper-case identifier (M, M0, KH); "
                            "its lower-case form is the rank variable", path=f"ranks.{rank}")
        if rank.lower() in RESERVED_WORDS:
            raise SpecError(f"rank {rank}: its variable {rank.lower()!r} is a reserved word",
                            path=f"ranks.{rank}")
    for name, tensor in cascade.tensors.items():
        where = f"tensors.{name}"
        if not _IDENTIFIER.match(name) or name in RESERVED_WORDS or keyword.iskeyword(name):
            raise SpecError(f"tensor name {name!r} must be an identifier (letters, digits, _) "
                            "and not a reserved word", path=where)
        if name in cascade.ranks:
            raise SpecError(f"{name} names both a tensor and a rank", path=where)
        element_bytes(tensor.dtype, path=f"{where}.dtype")
        if name not in cascade.writers:
            _check_tensor_ranks(cascade, name)


def _check_tensor_ranks(cascade: Cascade, name: str) -> None:
    for d, rank in enumerate(cascade.tensors[name].ranks):
        if rank not in cascade.ranks:
            raise SpecError(f"tensor {name} dimension {d} has rank {rank!r}, which is not "
                            f"declared under ranks:", path=f"tensors.{name}.ranks[{d}]")


def _check_writers(cascade: Cascade) -> None:
    written: dict[str, int] = {}
    for i, e in enumerate(cascade.einsums):
        if e.name in written:
            raise fail(e, i, e.output.column, f"tensor {e.name} is already written by "
                       f"einsums[{written[e.name]}]; each tensor has one writer")
        written[e.name] = i


def _check_use(cascade: Cascade) -> None:
    written = cascade.writers
    used = set(written) | {t for e in cascade.einsums for t in e.inputs}
    for name in cascade.tensors:
        if name not in used:
            raise SpecError(f"tensor {name} is declared but no Einsum reads or writes it",
                            path=f"tensors.{name}")
    for k, name in enumerate(cascade.outputs):
        if name not in written:
            raise SpecError(f"output {name!r} is not written by any Einsum",
                            path=f"outputs[{k}]")


# ----------------------------------------------------------------------------- one Einsum

class _EinsumCheck:
    """Structural checks of one Einsum against its cascade."""

    def __init__(self, cascade: Cascade, index: int, einsum: Einsum):
        self.cascade, self.i, self.e = cascade, index, einsum

    def fail(self, column, problem, field=None) -> SpecError:
        return fail(self.e, self.i, column, problem, field)

    def run(self) -> None:
        e = self.e
        for part in (e.output, e.expr, e.guard, e.fill):
            if part is not None:
                self.check_nodes(part)
        self.check_output()
        self.check_reduction()
        self.check_iteration()
        if e.fill is not None and depends_on_data(e.fill):
            raise self.fail(e.fill.column, f"the else value {render(e.fill)} must be a constant")
        for access in e.reads:
            self.check_access(access)
        self.check_access(e.output)

    def check_nodes(self, expr, field=None) -> None:
        ranks = self.cascade.ranks
        for node in walk(expr):
            if isinstance(node, Name):
                if node.is_variable and rank_of(node.id) not in ranks:
                    raise self.fail(node.column, f"rank variable {node.id!r} has no rank "
                                    f"{rank_of(node.id)} declared under ranks:", field)
                if node.is_size and node.id not in ranks:
                    raise self.fail(node.column, f"{node.id!r} is not a declared rank", field)
                if not node.is_variable and not node.is_size:
                    raise self.fail(node.column, f"{node.id!r} is neither a rank variable (lower "
                                    "case) nor a rank size (upper case); a tensor needs [indices]",
                                    field)
                if node.id in RESERVED_WORDS:
                    raise self.fail(node.column, f"{node.id!r} is a reserved word", field)
            elif isinstance(node, Call):
                self.check_call(node, field)

    def check_call(self, node: Call, field) -> None:
        function = FUNCTIONS.get(node.func)
        if function is None:
            raise self.fail(node.column, f"unknown function {node.func!r}; expected one of "
                            f"{', '.join(sorted(FUNCTIONS))}", field)
        if len(node.args) != function.arity:
            raise self.fail(node.column, f"{node.func}() takes {function.arity} argument(s), "
                            f"got {len(node.args)}", field)

    def check_output(self) -> None:
        e, seen = self.e, set()
        if e.name in self.cascade.ranks:
            raise self.fail(e.output.column, f"{e.name} names both a tensor and a rank")
        for d, index in enumerate(e.output.indices):
            form = self.affine(index)
            if e.iterate and len(form.terms) == 1 and form.terms[0][0] == e.iterate \
                    and form.terms[0][1] == Num(1) and form.offset == Num(1):
                var = e.iterate
            else:
                var = form.plain_variable()
                if var is None:
                    want = f" (or {e.iterate}+1 on the iterated rank)" if e.iterate else ""
                    raise self.fail(getattr(index, "column", None),
                                    f"output index {d} is {render(index, True)}; output indices "
                                    f"must be plain rank variables{want}")
            if var in seen:
                raise self.fail(getattr(index, "column", None),
                                f"rank variable {var} indexes the output twice")
            seen.add(var)

    def check_reduction(self) -> None:
        e = self.e
        if e.reduction is None:
            return
        listed = e.reduction.variables
        if len(set(listed)) != len(listed):
            raise self.fail(None, f"{e.reduction.op}({', '.join(listed)}) lists a variable twice")
        for v in listed:
            if v in e.output_variables:
                raise self.fail(None, f"{e.reduction.op}({', '.join(listed)}) reduces {v}, which "
                                "indexes the output; a reduced variable must be absent from it")
            if rank_of(v) not in self.cascade.ranks:
                raise self.fail(None, f"reduced variable {v!r} has no rank {rank_of(v)} declared")
        missing = [v for v in e.reduced_variables if v not in listed]
        if missing:
            raise self.fail(None, f"{', '.join(missing)} absent from the output but not listed in "
                            f"{e.reduction.op}({', '.join(listed)})")

    def check_iteration(self) -> None:
        e = self.e
        if e.iterate is None:
            if e.initial is not None:
                raise self.fail(None, "has an initial value but no 'iterate:' rank", "initial")
            return
        v = e.iterate
        if not isinstance(v, str) or not _IDENTIFIER.match(v) or v != v.lower() \
                or rank_of(v) not in self.cascade.ranks:
            raise self.fail(None, f"iterate: {v!r} is not a rank variable of a declared rank",
                            "iterate")
        if sum(1 for index in e.output.indices if _is_step(index, v)) != 1:
            raise self.fail(e.output.column, f"an Einsum iterating over {v} writes its output "
                            f"at {v}+1 (exactly one output index must be {v}+1)")
        if e.initial is None:
            raise self.fail(None, f"iterates over {v} but declares no initial value", "initial")
        self.check_nodes(e.initial, "initial")
        allowed = set(e.output_variables) - {v}
        for node in walk(e.initial):
            if isinstance(node, Name) and node.is_variable and node.id not in allowed:
                others = ", ".join(sorted(allowed))
                raise self.fail(None, f"initial value {render(e.initial)} uses {node.id!r}; it may "
                                f"use only the output's other variables ({others})", "initial")

    def check_access(self, access: Access) -> None:
        tensors, e = self.cascade.tensors, self.e
        tensor = tensors.get(access.tensor)
        if tensor is None:
            if access.tensor in self.cascade.writers:
                raise self.fail(access.column, f"cannot infer the ranks of {access.tensor}; "
                                "declare it under tensors:")
            raise self.fail(access.column, f"tensor {access.tensor} is not declared and no "
                            "Einsum writes it")
        if len(access.indices) != len(tensor.ranks):
            raise self.fail(access.column, f"{access.tensor} has {len(tensor.ranks)} rank(s) "
                            f"[{', '.join(tensor.ranks)}] but is indexed with "
                            f"{len(access.indices)}: {render(access)}")
        for d, (index, rank) in enumerate(zip(access.indices, tensor.ranks)):
            var = self.affine(index).plain_variable()
            if var is not None and not same_rank(self.cascade.ranks, rank_of(var), rank):
                raise self.fail(getattr(index, "column", None),
                                f"index {d} of {access.tensor} is {var} (rank {rank_of(var)}) but "
                                f"dimension {d} of {access.tensor} has rank {rank}")

    def affine(self, index):
        try:
            return affine(index)
        except ExprError as exc:
            raise self.fail(exc.location.column, exc.message) from None


def same_rank(ranks: Mapping, a: str, b: str) -> bool:
    """True when ranks ``a`` and ``b`` are the same rank or one is declared as the other's
    alias (``J: C`` lets variable ``j`` index a dimension of rank ``C``)."""
    return a == b or ranks.get(a) == Name(b) or ranks.get(b) == Name(a)


def _is_step(index, v: str) -> bool:
    try:
        form = affine(index)
    except ExprError:
        return False
    return len(form.terms) == 1 and form.terms[0][0] == v and form.terms[0][1] == Num(1) \
        and form.offset == Num(1)


# ----------------------------------------------------------------------------- bounds

def _check_bounds(cascade: Cascade, i: int, e: Einsum, sizes: Mapping[str, int]) -> None:
    ranges = {v: sizes.get(rank_of(v)) for v in e.variables}
    constraints = guard_constraints(e.guard, sizes)
    for access in (e.output, *e.reads):
        tensor = cascade.tensors[access.tensor]
        if any(r not in sizes for r in tensor.ranks):
            continue
        extents = tensor.extents(sizes)
        for d, index in enumerate(access.indices):
            try:
                coefs, offset = affine(index).evaluate(sizes)
            except ExprError:
                continue  # a size is unknown: cannot check yet
            if any(ranges.get(v) is None for v in coefs):
                continue
            lo, hi = index_range(coefs, offset, ranges, constraints)
            if lo < 0 or hi >= extents[d]:
                involved = sorted(_ranks_of(index, tensor.ranks[d]))
                shown = ", ".join(f"{r}={sizes[r]}" for r in involved if r in sizes)
                raise fail(e, i, getattr(index, "column", None),
                           f"index {d} of {access.tensor}, {render(index, True)}, ranges over "
                           f"{lo}..{hi} but dimension {d} (rank {tensor.ranks[d]}) has "
                           f"{extents[d]} elements ({shown})")


def _ranks_of(index, rank: str) -> set[str]:
    found = {rank}
    for node in walk(index):
        if isinstance(node, Name):
            found.add(rank_of(node.id) if node.is_variable else node.id)
    return found


def guard_constraints(guard, sizes: Mapping[str, int]) -> list[tuple[dict, float, float]]:
    """Affine comparisons of a guard's top-level ``and`` chain as ``(coefs, lo, hi)``:
    ``lo <= sum(coef * var) <= hi``."""
    found = []
    stack = [guard] if guard is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, Binary) and node.op == "and":
            stack += [node.left, node.right]
        elif isinstance(node, Binary) and node.op in COMPARISONS and node.op != "!=":
            try:
                lc, lo = affine(node.left).evaluate(sizes)
                rc, ro = affine(node.right).evaluate(sizes)
            except ExprError:
                continue
            coefs = {v: lc.get(v, 0) - rc.get(v, 0) for v in {*lc, *rc}}
            coefs = {v: c for v, c in coefs.items() if c}
            k = lo - ro  # sum(coefs * v) + k  op  0
            inf = float("inf")
            bound = {"<": (-inf, -1 - k), "<=": (-inf, -k), ">": (1 - k, inf), ">=": (-k, inf),
                     "==": (-k, -k)}[node.op]
            found.append((coefs, *bound))
    return found


def index_range(coefs: dict, offset: int, ranges: Mapping[str, int],
                constraints=()) -> tuple[int, int]:
    """Smallest and largest value of ``sum(coef * v) + offset`` over the box, tightened by
    guard constraints whose terms equal (or negate) the index's terms."""
    lo = hi = offset
    for v, c in coefs.items():
        extreme = c * (ranges[v] - 1)
        lo, hi = lo + min(0, extreme), hi + max(0, extreme)
    negated = {v: -c for v, c in coefs.items()}
    for terms, glo, ghi in constraints:
        if terms == coefs:
            lo, hi = max(lo, glo + offset), min(hi, ghi + offset)
        elif terms == negated:
            lo, hi = max(lo, -ghi + offset), min(hi, -glo + offset)
    return int(lo), int(hi)
