"""Operation counts and compulsory traffic of Einsums, derived from their structure alone.

How operations are counted (classes are defined in :mod:`accelsim.ir.operators`):

* Counts are *dense*: every point of the iteration space (the product of its rank sizes)
  counts, including points a guard removes and padding (``M1*M0 >= M``); an iterative Einsum
  counts every step.
* At each point, each operator node of the right-hand side counts one operation of its class:
  ``exp(a - b)`` is one ``add`` and one ``exp``; ``a * b * c`` is two ``mul``.
* A sub-expression that depends on no tensor and no rank variable (``rsqrt(E)``, ``-inf``) is
  a constant folded once and counts nothing.  Index arithmetic and guards are address
  generation and count nothing.
* A reduction adds one combine step per point: a ``sum`` whose expression is a product fuses
  the top multiply with the accumulate into one ``mac`` (so ``QK[m,p] = Q[e,p] * K[e,m]`` is
  E*M*P macs); any other ``sum`` counts one ``add``; ``max``/``min`` count one ``max``.
* The initial value of an iterative Einsum counts its operators once per element it fills.

Compulsory bytes: an Einsum run alone must read each element it reads once and write each
element it writes once.  Footprints count *distinct, in-bounds* elements touched by the
projections (guards are ignored, like op counts); reads of the Einsum's own output (the
carried state of an iteration) are internal and not counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np

from accelsim.ir.einsum import Einsum, Tensor
from accelsim.ir.expr import Access, Binary, Call, Expr, Unary, affine, depends_on_data, rank_of
from accelsim.ir.operators import BINARY_CLASSES, FUNCTIONS, OP_CLASSES, REDUCE_CLASSES

ENUMERATION_LIMIT = 1 << 22
"""Largest number of index points enumerated to count distinct elements exactly."""


@dataclass(frozen=True)
class OpCounts:
    """Number of operations of each class (see the module docstring for how each is counted)."""

    mac: int = 0
    """Multiply-accumulates (a product feeding a sum reduction)."""
    mul: int = 0
    """Multiplies not fused into a mac."""
    add: int = 0
    """Additions and subtractions, including sum-reduction steps of non-products."""
    max: int = 0
    """max/min, element-wise or as reduction steps."""
    exp: int = 0
    """Exponentials."""
    divide: int = 0
    """Divisions and reciprocals."""
    other: int = 0
    """Every other element-wise operation (log, sqrt, rsqrt, gelu, select, comparisons...)."""

    def __add__(self, other: "OpCounts") -> "OpCounts":
        return OpCounts(**{f: getattr(self, f) + getattr(other, f) for f in OP_CLASSES})

    def __radd__(self, other) -> "OpCounts":
        return self if other == 0 else NotImplemented

    @property
    def total(self) -> int:
        """All operations (a mac counts once)."""
        return sum(getattr(self, f) for f in OP_CLASSES)

    def as_dict(self) -> dict[str, int]:
        """Class -> count, in the order of :data:`accelsim.ir.operators.OP_CLASSES`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def expression_ops(expr: Expr | None) -> Counter:
    """Operations per evaluation of ``expr``, by class (constants fold to nothing)."""
    counts: Counter = Counter()
    if expr is None or not depends_on_data(expr):
        return counts
    if isinstance(expr, Unary):
        counts["other"] += 1
        counts += expression_ops(expr.operand)
    elif isinstance(expr, Binary):
        counts[BINARY_CLASSES[expr.op]] += 1
        counts += expression_ops(expr.left) + expression_ops(expr.right)
    elif isinstance(expr, Call):
        counts[FUNCTIONS[expr.func].op_class] += 1
        for arg in expr.args:
            counts += expression_ops(arg)
    return counts


def einsum_op_counts(einsum: Einsum, sizes: Mapping[str, int]) -> OpCounts:
    """Operation counts of one Einsum given rank sizes."""
    expr, per_point = einsum.expr, Counter()
    if einsum.reduce == "sum" and isinstance(expr, Binary) and expr.op == "*":
        per_point["mac"] += 1
        per_point += expression_ops(expr.left) + expression_ops(expr.right)
    else:
        per_point += expression_ops(expr)
        if einsum.reduce is not None:
            per_point[REDUCE_CLASSES[einsum.reduce]] += 1
    points = einsum.points(sizes)
    totals = Counter({k: v * points for k, v in per_point.items()})
    if einsum.initial is not None:
        filled = 1
        for v in einsum.output_variables:
            if v != einsum.iterate:
                filled *= sizes[rank_of(v)]
        totals += Counter({k: v * filled for k, v in expression_ops(einsum.initial).items()})
    return OpCounts(**{k: int(totals.get(k, 0)) for k in OP_CLASSES})


# ----------------------------------------------------------------------------- footprints

def einsum_footprints(einsum: Einsum, tensors: Mapping[str, Tensor],
                      sizes: Mapping[str, int]) -> dict[str, int]:
    """Distinct elements of each tensor the Einsum touches (output first, then inputs)."""
    ranges = {v: sizes[rank_of(v)] for v in einsum.variables}
    result = {einsum.name: tensors[einsum.name].elements(sizes)}
    reads: dict[str, list[Access]] = {}
    for access in einsum.reads:
        if access.tensor != einsum.name:
            reads.setdefault(access.tensor, []).append(access)
    for name, accesses in reads.items():
        extents = tensors[name].extents(sizes)
        forms = [[affine(i).evaluate(sizes) for i in a.indices] for a in accesses]
        result[name] = footprint(forms, extents, ranges)
    return result


def footprint(forms: list[list[tuple[dict, int]]], extents: tuple[int, ...],
              ranges: Mapping[str, int]) -> int:
    """Distinct in-bounds elements touched by accesses given as per-dimension
    ``(coefficients, offset)``; exact when enumeration is affordable, else an upper bound."""
    if not extents:
        return 1
    if all(_separable(f) for f in forms):
        per_access = [[_dim_values(c, o, ranges, e) for (c, o), e in zip(f, extents)]
                      for f in forms]
        if all(v is not None for dims in per_access for v in dims):
            differing = [d for d in range(len(extents))
                         if any(not np.array_equal(dims[d], per_access[0][d])
                                for dims in per_access)]
            if len(differing) <= 1:
                total = 1
                for d in range(len(extents)):
                    union = np.unique(np.concatenate([dims[d] for dims in per_access]))
                    total *= len(union)
                return total
    exact = _enumerated(forms, extents, ranges)
    if exact is not None:
        return exact
    bound = sum(int(np.prod([_dim_count(c, o, ranges, e) for (c, o), e in zip(f, extents)]))
                for f in forms)
    return min(bound, int(np.prod(extents)))


def _separable(form) -> bool:
    seen: set[str] = set()
    for coefs, _ in form:
        if seen & set(coefs):
            return False
        seen |= set(coefs)
    return True


def _points(coefs: dict, ranges: Mapping[str, int]) -> int:
    total = 1
    for v in coefs:
        total *= ranges[v]
    return total


def _dim_values(coefs, offset, ranges, extent) -> np.ndarray | None:
    if _points(coefs, ranges) > ENUMERATION_LIMIT:
        return None
    values = np.asarray(offset, dtype=np.int64)
    for k, (v, c) in enumerate(coefs.items()):
        axis = np.arange(ranges[v], dtype=np.int64) * c
        values = np.add.outer(values, axis) if values.ndim else values + axis
    values = np.unique(np.ravel(values))
    return values[(values >= 0) & (values < extent)]


def _dim_count(coefs, offset, ranges, extent) -> int:
    values = _dim_values(coefs, offset, ranges, extent)
    if values is not None:
        return len(values)
    lo = offset + sum(min(0, c * (ranges[v] - 1)) for v, c in coefs.items())
    hi = offset + sum(max(0, c * (ranges[v] - 1)) for v, c in coefs.items())
    return max(0, min(hi, extent - 1) - max(lo, 0) + 1)


def _enumerated(forms, extents, ranges) -> int | None:
    variables = sorted({v for f in forms for coefs, _ in f for v in coefs})
    if sum(_points(dict.fromkeys(variables), ranges) for _ in forms) > ENUMERATION_LIMIT:
        return None
    grids = np.meshgrid(*[np.arange(ranges[v], dtype=np.int64) for v in variables],
                        indexing="ij") if variables else []
    position = dict(zip(variables, grids))
    flat = []
    for form in forms:
        linear = np.zeros(grids[0].shape if grids else (), dtype=np.int64)
        inside = np.ones_like(linear, dtype=bool)
        for (coefs, offset), extent in zip(form, extents):
            index = offset + sum((c * position[v] for v, c in coefs.items()),
                                 np.zeros_like(linear))
            inside &= (index >= 0) & (index < extent)
            linear = linear * extent + index
        flat.append(np.ravel(linear[inside]))
    return int(len(np.unique(np.concatenate(flat)))) if flat else 0
