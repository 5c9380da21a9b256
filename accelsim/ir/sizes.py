"""Rank sizes: defaults, derived sizes (``M1: ceil(M / M0)``) and sizes read off arrays.

A cascade declares each rank with one of:

* ``null`` -- a *free* size, bound later (``cascade.bind(M=...)``, ``run(..., M=...)``, or
  read from the shape of an input array);
* an integer -- a *default* size, which those same means may override;
* an expression over other ranks -- a *derived* size, always computed, never set directly.

Precedence when running: explicit keyword sizes, then input array shapes, then defaults.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from accelsim.errors import SpecError
from accelsim.ir.expr import Expr, ExprError, Num, render, size_int, sizes_in


def is_derived(size: Expr | None) -> bool:
    """True when a rank's declared size is computed from other ranks."""
    return size is not None and bool(sizes_in(size))


def check_given(ranks: Mapping[str, Expr | None], given: Mapping[str, object]) -> dict[str, int]:
    """Validate explicitly given sizes: known, not derived, whole numbers >= 1."""
    checked = {}
    for name, value in given.items():
        if name not in ranks:
            known = ", ".join(sorted(ranks)) or "none"
            raise SpecError(f"unknown rank {name!r}; this cascade's ranks are {known}")
        if is_derived(ranks[name]):
            raise SpecError(f"rank {name} is derived ({render(ranks[name])}) and cannot be set")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
                or value < 1:
            raise SpecError(f"size of rank {name} must be a whole number >= 1, got {value!r}")
        checked[name] = int(value)
    return checked


def resolve_sizes(ranks: Mapping[str, Expr | None], given: Mapping[str, int] | None = None,
                  *, required: bool = True) -> dict[str, int]:
    """Integer size of every rank; with ``required=False`` unresolvable ranks are left out."""
    given = check_given(ranks, given or {})
    sizes: dict[str, int] = {}
    missing: set[str] = set()
    for name in ranks:
        _resolve(name, ranks, given, sizes, missing, [])
    if required and missing:
        free = sorted(n for n in missing if ranks.get(n) is None)
        names = ", ".join(free or sorted(missing))
        raise SpecError(f"no size for rank {names}; pass it (e.g. {(free or sorted(missing))[0]}"
                        f"=...) or give a default under ranks:")
    return sizes


def _resolve(name, ranks, given, sizes, missing, stack) -> int | None:
    if name in sizes:
        return sizes[name]
    if name in missing:
        return None
    if name in stack:
        cycle = " -> ".join(stack[stack.index(name):] + [name])
        raise SpecError(f"rank sizes depend on each other in a cycle: {cycle}",
                        path=f"ranks.{name}")
    declared = ranks.get(name)
    if name in given:
        sizes[name] = given[name]
        return sizes[name]
    if declared is None:
        missing.add(name)
        return None
    deps = {}
    for dep in sizes_in(declared):
        if dep not in ranks:
            raise SpecError(f"size {render(declared)} names rank {dep}, which is not declared",
                            path=f"ranks.{name}")
        value = _resolve(dep, ranks, given, sizes, missing, stack + [name])
        if value is None:
            missing.add(name)
            return None
        deps[dep] = value
    try:
        value = size_int(declared, deps)
    except ExprError as exc:
        raise SpecError(f"size {render(declared)}: {exc.message}", path=f"ranks.{name}") from None
    if value < 1:
        shown = ", ".join(f"{k}={v}" for k, v in deps.items())
        raise SpecError(f"size {render(declared)} is {value} ({shown}); sizes must be >= 1",
                        path=f"ranks.{name}")
    sizes[name] = value
    return value


def sizes_from_arrays(ranks: Mapping[str, Expr | None], tensors: Mapping[str, object],
                      shapes: Mapping[str, tuple[int, ...]],
                      given: Mapping[str, int]) -> dict[str, int]:
    """Sizes for a run: explicit ``given`` sizes, then sizes read off input shapes, then defaults.

    ``tensors`` maps names to :class:`accelsim.ir.einsum.Tensor`; every shape must then agree
    exactly with the resolved sizes.
    """
    given = check_given(ranks, given)
    seen: dict[str, tuple[str, int]] = {}
    for name, shape in shapes.items():
        tensor = tensors[name]
        if len(shape) != len(tensor.ranks):
            raise SpecError(f"input {name} has {len(shape)} dimensions {tuple(shape)} but tensor "
                            f"{name} has ranks [{', '.join(tensor.ranks)}]")
        for dim, (rank, extent) in enumerate(zip(tensor.ranks, shape)):
            if rank in given or is_derived(ranks.get(rank)):
                continue
            if rank in seen and seen[rank][1] != extent:
                other, size = seen[rank]
                raise SpecError(f"input {name} dimension {dim} (rank {rank}) has {extent} "
                                f"elements but input {other} gives {rank} = {size}")
            seen[rank] = (name, extent)
    sizes = resolve_sizes(ranks, {**{r: v for r, (_, v) in seen.items()}, **given})
    for name, shape in shapes.items():
        expected = tensors[name].extents(sizes)
        if tuple(shape) != expected:
            shown = ", ".join(f"{r}={sizes[r]}" for r in tensors[name].ranks)
            raise SpecError(f"input {name} has shape {tuple(shape)} but its ranks "
                            f"[{', '.join(tensors[name].ranks)}] give {expected} ({shown})")
    return sizes


def as_size_expr(value) -> Expr | None:
    """A declared size from YAML/Python: None, an int, an expression string or node."""
    from accelsim.ir.grammar import parse_expr
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExprError("a rank size must be a whole number, an expression or null, not a boolean")
    if isinstance(value, (int, np.integer)):
        if value < 1:
            raise ExprError(f"a rank size must be >= 1, got {value}")
        return Num(int(value))
    if isinstance(value, str):
        expr = parse_expr(value)
        if isinstance(expr, Num):
            return as_size_expr(expr.value) if isinstance(expr.value, int) else _not_whole(value)
        return expr
    if isinstance(value, float):
        return _not_whole(value)
    if hasattr(value, "column"):
        return value
    raise ExprError(f"a rank size must be a whole number, an expression or null, "
                    f"not {type(value).__name__}")


def _not_whole(value) -> Expr:
    raise ExprError(f"a rank size must be a whole number, got {value!r}")
