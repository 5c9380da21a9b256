"""The operators an Einsum may use, how each is counted, and how the interpreter applies it.

Operation classes (the keys of :class:`accelsim.ir.counts.OpCounts`):

========  ==================================================================================
class     operators
========  ==================================================================================
mac       a product that feeds a ``sum`` reduction: the multiply and the accumulate together
mul       ``*`` anywhere else (scaling by a constant included)
add       ``+`` and ``-`` (binary), and the accumulate of a ``sum`` reduction of a non-product
max       ``max(a, b)``, ``min(a, b)`` and the combine step of a ``max``/``min`` reduction
exp       ``exp``
divide    ``/`` and ``reciprocal``
other     every other element-wise function (log, sqrt, rsqrt, sigmoid, silu, gelu, tanh,
          softplus, sin, cos, abs, erf), negation, comparisons, ``and``/``or`` and ``select``
========  ==================================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

OP_CLASSES = ("mac", "mul", "add", "max", "exp", "divide", "other")
"""Operation classes, in the order reports list them."""


@dataclass(frozen=True)
class Function:
    """An element-wise function usable in an Einsum: ``name(args)``."""

    name: str
    arity: int
    op_class: str
    apply: Callable[..., np.ndarray]
    meaning: str


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _select(cond, a, b):
    return np.where(np.asarray(cond) != 0, a, b)


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("exp", 1, "exp", np.exp, "e to the power x"),
    Function("log", 1, "other", np.log, "natural logarithm"),
    Function("sqrt", 1, "other", np.sqrt, "square root"),
    Function("rsqrt", 1, "other", lambda x: 1.0 / np.sqrt(x), "1 / sqrt(x)"),
    Function("reciprocal", 1, "divide", lambda x: 1.0 / x, "1 / x"),
    Function("sigmoid", 1, "other", _sigmoid, "1 / (1 + exp(-x))"),
    Function("silu", 1, "other", lambda x: x * _sigmoid(x), "x * sigmoid(x)"),
    Function("gelu", 1, "other", _gelu, "x * Phi(x), the exact (erf) GELU"),
    Function("gelu_tanh", 1, "other", _gelu_tanh, "the tanh approximation of GELU"),
    Function("tanh", 1, "other", np.tanh, "hyperbolic tangent"),
    Function("softplus", 1, "other", lambda x: np.logaddexp(0.0, x), "log(1 + exp(x))"),
    Function("erf", 1, "other", _erf, "the error function"),
    Function("sin", 1, "other", np.sin, "sine"),
    Function("cos", 1, "other", np.cos, "cosine"),
    Function("abs", 1, "other", np.abs, "absolute value"),
    Function("max", 2, "max", np.maximum, "the larger of a and b"),
    Function("min", 2, "max", np.minimum, "the smaller of a and b"),
    Function("select", 3, "other", _select, "select(c, a, b): a where c holds (non-zero), else b"),
)}
"""Element-wise functions by name."""

BINARY_CLASSES = {"+": "add", "-": "add", "*": "mul", "/": "divide",
                  "<": "other", "<=": "other", ">": "other", ">=": "other", "==": "other",
                  "!=": "other", "and": "other", "or": "other"}
"""Operation class of each binary operator."""

REDUCE_IDENTITY = {"sum": 0.0, "max": -math.inf, "min": math.inf}
"""Reduction operators and the value of an empty reduction."""

REDUCE_CLASSES = {"sum": "add", "max": "max", "min": "max"}
"""Operation class of one combine step of each reduction (a sum of products is a mac)."""
