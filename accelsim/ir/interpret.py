"""A numpy interpreter for cascades: the functional oracle of the project.

Correctness before speed.  Each Einsum is evaluated over its whole iteration space with numpy
broadcasting: rank variable ``v`` is axis ``k`` of the space, every access is gathered into an
array that broadcasts over those axes, the expression is applied element-wise, guarded points
are replaced, and reduced axes are reduced.  One fast path: a ``sum`` of a product of factors
(a contraction such as ``Q[e,p] * K[e,m]``) goes to :func:`numpy.einsum`.

Iteration groups (see :mod:`accelsim.ir.schedule`) run step by step: at step ``t`` each member
is evaluated with its iterated variable fixed to ``t`` and writes one slice of its output.

Semantics the interpreter fixes:

* values are computed in ``dtype`` (float64 by default) whatever the tensors' element types;
* a guarded-out point of a non-reducing Einsum takes the ``else`` value (default 0); an
  output point of a reducing Einsum that no point contributes to takes the ``else`` value if
  given, else the reduction's identity (0 for sum, -inf for max, +inf for min);
* an index outside its tensor at a point the guard keeps is an error (:class:`SpecError`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from accelsim.errors import SpecError
from accelsim.ir.cascade import Cascade
from accelsim.ir.expr import Access, Binary, Call, Expr, Name, Num, Unary, affine, rank_of, render
from accelsim.ir.operators import FUNCTIONS, REDUCE_IDENTITY
from accelsim.ir.schedule import iteration_dim
from accelsim.ir.sizes import sizes_from_arrays
from accelsim.ir.verify import fail, verify

_REDUCERS = {"sum": np.sum, "max": np.max, "min": np.min}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
               "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
               "==": np.equal, "!=": np.not_equal}


def run(cascade: Cascade, inputs: Mapping[str, Any], *, dtype=np.float64,
        **sizes: int) -> dict[str, np.ndarray]:
    """Execute ``cascade`` on ``inputs`` (name -> array); return every tensor it writes.

    Rank sizes come from ``sizes``, then from the input shapes, then from the defaults.
    """
    arrays = _input_arrays(cascade, inputs, dtype)
    resolved = sizes_from_arrays(cascade.ranks, cascade.tensors,
                                 {n: a.shape for n, a in arrays.items()}, sizes)
    verify(cascade, resolved)
    env: dict[str, np.ndarray] = dict(arrays)
    with np.errstate(all="ignore"):
        for step in cascade.schedule:
            if step.iterate is None:
                index = step.einsums[0]
                env[cascade.einsums[index].name] = _Evaluation(
                    cascade, index, resolved, env, dtype).result()
            else:
                _run_iteration(cascade, step, resolved, env, dtype)
    return {e.name: env[e.name] for e in cascade.einsums}


def _input_arrays(cascade: Cascade, inputs: Mapping[str, Any], dtype) -> dict[str, np.ndarray]:
    if not isinstance(inputs, Mapping):
        raise SpecError(f"inputs must map tensor names to arrays, got {type(inputs).__name__}")
    missing = [n for n in cascade.inputs if n not in inputs]
    if missing:
        raise SpecError(f"missing input(s) {', '.join(missing)}; cascade {cascade.name} reads "
                        f"{', '.join(cascade.inputs)}")
    arrays = {}
    for name, value in inputs.items():
        if name not in cascade.inputs:
            raise SpecError(f"{name!r} is not an input of cascade {cascade.name}; its inputs are "
                            f"{', '.join(cascade.inputs)}")
        try:
            arrays[name] = np.array(value, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"input {name} is not a numeric array ({exc})") from None
    return arrays


def _run_iteration(cascade: Cascade, step, sizes, env, dtype) -> None:
    v = step.iterate
    for i in step.einsums:
        e = cascade.einsums[i]
        env[e.name] = np.full(cascade.tensors[e.name].extents(sizes), np.nan, dtype=dtype)
        if e.iterate:
            start = _Evaluation(cascade, i, sizes, env, dtype, fixed={v: 0}, initial=True)
            _write(env[e.name], iteration_dim(e, v), 0, start.result())
    for t in range(sizes[rank_of(v)]):
        for i in step.einsums:
            e = cascade.einsums[i]
            value = _Evaluation(cascade, i, sizes, env, dtype, fixed={v: t}).result()
            _write(env[e.name], iteration_dim(e, v), t + 1 if e.iterate else t, value)


def _write(array: np.ndarray, dim: int, position: int, value: np.ndarray) -> None:
    where = [slice(None)] * array.ndim
    where[dim] = slice(position, position + 1)
    array[tuple(where)] = value


class _Evaluation:
    """One Einsum (or its initial value) evaluated over its iteration space."""

    def __init__(self, cascade: Cascade, index: int, sizes: Mapping[str, int], env, dtype,
                 fixed: Mapping[str, int] | None = None, initial: bool = False):
        self.cascade, self.index, self.e = cascade, index, cascade.einsums[index]
        self.sizes, self.env, self.initial = sizes, env, initial
        self.dtype = np.dtype(dtype).type
        fixed = fixed or {}
        self.vars = self.e.output_variables if initial else self.e.variables
        self.axis = {v: k for k, v in enumerate(self.vars)}
        self.ranges = {v: (fixed[v], fixed[v] + 1) if v in fixed else (0, sizes[rank_of(v)])
                       for v in self.vars}
        self.shape = tuple(stop - start for start, stop in self.ranges.values())
        self.mask = None
        if self.e.guard is not None and not initial:
            self.mask = np.asarray(self.value(self.e.guard)) != 0

    # ----------------------------------------------------------------- the result
    def result(self) -> np.ndarray:
        """Output values over the output variables, in output-dimension order."""
        e, n_out = self.e, len(self.e.output_variables)
        out_shape = self.shape[:n_out]
        if self.initial:
            value = self.value(e.initial)
        elif e.reduce is None:
            value = self.value(e.expr)
            if self.mask is not None:
                value = np.where(self.mask, value, self.constant(e.fill, 0.0))
        elif e.reduce == "sum" and _is_product(e.expr) and self._mask_on_output(n_out):
            value = self.contraction(_factors(e.expr), n_out)
            if self.mask is not None:
                value = np.where(_squeeze_tail(self.mask, n_out), value,
                                 self.constant(e.fill, 0.0))
        else:
            value = self.reduced(n_out)
        return np.array(np.broadcast_to(value, out_shape), dtype=self.dtype)

    def _mask_on_output(self, n_out: int) -> bool:
        if self.mask is None:
            return True
        return all(s == 1 for s in np.shape(self.mask)[n_out:])

    def reduced(self, n_out: int) -> np.ndarray:
        e = self.e
        value = np.broadcast_to(self.value(e.expr), self.shape)
        identity = REDUCE_IDENTITY[e.reduce]
        if self.mask is not None:
            value = np.where(self.mask, value, identity)
        axes = tuple(range(n_out, len(self.vars)))
        value = _REDUCERS[e.reduce](value, axis=axes)
        if self.mask is not None and e.fill is not None:
            hit = np.broadcast_to(self.mask, self.shape).any(axis=axes)
            value = np.where(hit, value, self.constant(e.fill, identity))
        return value

    def contraction(self, factors: list[Expr], n_out: int) -> np.ndarray:
        letters = [chr(ord("a") + k) if k < 26 else chr(ord("A") + k - 26)
                   for k in range(len(self.vars))]
        operands, subscripts, scale = [], [], 1.0
        for factor in factors:
            array = np.asarray(self.value(factor), dtype=self.dtype)
            if array.ndim == 0:
                scale = scale * array
                continue
            keep = [k for k in range(array.ndim) if array.shape[k] != 1]
            operands.append(array.reshape([array.shape[k] for k in keep]))
            subscripts.append("".join(letters[k] for k in keep))
        used = set("".join(subscripts))
        for k in range(n_out, len(self.vars)):  # reduced axes no factor depends on
            if letters[k] not in used:
                scale = scale * self.shape[k]
        out = [k for k in range(n_out) if letters[k] in used]
        if operands:
            spec = ",".join(subscripts) + "->" + "".join(letters[k] for k in out)
            value = np.einsum(spec, *operands, optimize=len(operands) > 2)
        else:
            value = np.asarray(1.0, dtype=self.dtype)
        shape = [self.shape[k] if k in out else 1 for k in range(n_out)]
        return np.reshape(value * scale, shape)

    def constant(self, expr: Expr | None, default: float) -> float:
        return default if expr is None else float(np.asarray(self.value(expr)))

    # ----------------------------------------------------------------- values
    def value(self, expr: Expr):
        """``expr`` as an array broadcastable to the iteration space (or a scalar)."""
        if isinstance(expr, Num):
            return self.dtype(expr.value)
        if isinstance(expr, Name):
            if expr.is_variable:
                return self.positions(expr.id)
            return self.dtype(self.sizes[expr.id])
        if isinstance(expr, Access):
            return self.access(expr)
        if isinstance(expr, Unary):
            return np.negative(self.value(expr.operand))
        if isinstance(expr, Binary):
            left, right = self.value(expr.left), self.value(expr.right)
            if expr.op in ("and", "or"):
                both = (np.logical_and if expr.op == "and" else np.logical_or)(
                    np.asarray(left) != 0, np.asarray(right) != 0)
                return np.asarray(both, dtype=self.dtype)  # truth values are 1.0 and 0.0
            result = _ARITHMETIC[expr.op](left, right)
            return result if expr.op in "+-*/" else np.asarray(result, dtype=self.dtype)
        if isinstance(expr, Call):
            return FUNCTIONS[expr.func].apply(*(self.value(a) for a in expr.args))
        raise TypeError(f"not an expression node: {expr!r}")

    def positions(self, v: str) -> np.ndarray:
        """Values of rank variable ``v`` along its axis."""
        start, stop = self.ranges[v]
        shape = [1] * len(self.vars)
        shape[self.axis[v]] = stop - start
        return np.arange(start, stop, dtype=np.int64).reshape(shape)

    def access(self, access: Access) -> np.ndarray:
        array = self.env[access.tensor]
        forms = [affine(i).evaluate(self.sizes) for i in access.indices]
        plain = [next(iter(c)) if len(c) == 1 and next(iter(c.values())) == 1 and off == 0
                 else None for c, off in forms]
        if all(p is not None for p in plain) and len(set(plain)) == len(plain):
            return self._sliced(array, plain)
        indices = []
        for d, (coefs, offset) in enumerate(forms):
            total = np.asarray(offset, dtype=np.int64)
            for v, c in coefs.items():
                total = total + c * self.positions(v)
            indices.append(self._in_bounds(access, d, total, array.shape[d]))
        gathered = array[tuple(indices)]
        if np.ndim(gathered) == 0:  # every index is a constant
            gathered = np.reshape(gathered, [1] * len(self.vars))
        return gathered

    def _sliced(self, array: np.ndarray, variables: list[str]) -> np.ndarray:
        view = array[tuple(slice(*self.ranges[v]) for v in variables)]
        order = sorted(range(len(variables)), key=lambda d: self.axis[variables[d]])
        view = np.transpose(view, order)
        shape = [1] * len(self.vars)
        for d in order:
            shape[self.axis[variables[d]]] = view.shape[order.index(d)]
        return view.reshape(shape)

    def _in_bounds(self, access: Access, d: int, total: np.ndarray, extent: int) -> np.ndarray:
        bad = (total < 0) | (total >= extent)
        if bad.any() and self.mask is not None:
            bad = bad & np.broadcast_to(self.mask, np.broadcast_shapes(bad.shape, self.mask.shape))
        if np.any(bad):
            point = np.unravel_index(int(np.argmax(bad)), bad.shape)
            value = int(np.broadcast_to(total, bad.shape)[point])
            at = ", ".join(f"{v}={self.ranges[v][0] + point[self.axis[v]]}" for v in self.vars
                           if bad.ndim and bad.shape[self.axis[v]] > 1)
            raise fail(self.e, self.index, getattr(access.indices[d], "column", None),
                       f"index {d} of {access.tensor}, {render(access.indices[d], True)}, is "
                       f"{value}{' at ' + at if at else ''}, outside 0..{extent - 1}")
        return np.clip(total, 0, extent - 1)


def _is_product(expr: Expr) -> bool:
    return isinstance(expr, Binary) and expr.op == "*"


def _factors(expr: Expr) -> list[Expr]:
    if _is_product(expr):
        return _factors(expr.left) + _factors(expr.right)
    return [expr]


def _squeeze_tail(mask: np.ndarray, n_out: int) -> np.ndarray:
    if mask.ndim <= n_out:
        return mask
    return mask.reshape(mask.shape[:n_out])
