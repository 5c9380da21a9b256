"""Einsums over views: element-wise maps, reductions, matrix products and concatenation.

Each function takes the lowering context ``lw`` (anything with ``program``, a
:class:`~accelsim.lower.views.Program`, and ``fresh(node, what)``, which names a new tensor),
emits one Einsum and returns the view of its result.  Operands are broadcast as in numpy:
aligned from the right, a size-1 dimension is read at index 0.  Where two operands meet in a
dimension, both are split into their common factors (:func:`~accelsim.lower.views.
common_sizes`) and each factor's families are merged, so one variable indexes both.
"""

from __future__ import annotations

import math
from typing import Callable

from accelsim.errors import LoweringError
from accelsim.lower.views import Family, View, common_sizes, unify


def literal(value) -> str:
    """A Python number as Einsum text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LoweringError(f"expected a number or a tensor, got {type(value).__name__}")
    if math.isinf(value):
        return "inf" if value > 0 else "(-inf)"
    text = repr(float(value)) if isinstance(value, float) else str(value)
    return f"({text})" if value < 0 else text


def _padded(views: dict[int, View], rank: int) -> dict[int, View]:
    padded = {}
    for k, view in views.items():
        while len(view.dims) < rank:
            view = view.unsqueeze(0)
        padded[k] = view
    return padded


def _broadcast(views: dict[int, View], dims: range, what: str) -> tuple[dict, list[int]]:
    """Refine ``dims`` of every view to common factors; returns the views and the sizes."""
    shape = []
    for d in dims:
        sizes = {k: v.shape[d] for k, v in views.items()}
        target = max(sizes.values())
        if any(s not in (1, target) for s in sizes.values()):
            raise LoweringError(f"{what}: shapes {[v.shape for v in views.values()]} do not "
                                "broadcast")
        shape.append(target)
        members = [k for k, s in sizes.items() if s == target and target != 1]
        common = None
        for k in members:
            own = [views[k].factors[f].size for f in views[k].dims[d]]
            common = own if common is None else common_sizes(common, own)
        for k in members:
            views[k] = views[k].refine(d, common)
    return views, shape


class _Space:
    """Slots of one Einsum and, per operand, which slot each of its factors is."""

    def __init__(self, operands):
        self.slots: list[Family] = []
        self.maps: dict[int, dict[int, int]] = {k: {} for k in operands}

    def shared(self, views: dict[int, View], d: int, members=None) -> list[int]:
        """One slot per factor of dimension ``d``, shared by the views of full size there."""
        members = [k for k, v in views.items() if v.shape[d] > 1] if members is None \
            else members
        if not members:
            return []
        created = []
        for j in range(len(views[members[0]].dims[d])):
            family = views[members[0]].factors[views[members[0]].dims[d][j]]
            for k in members[1:]:
                family = unify(family, views[k].factors[views[k].dims[d][j]])
            self.slots.append(family)
            created.append(len(self.slots) - 1)
            for k in members:
                self.maps[k][views[k].dims[d][j]] = created[-1]
        return created

    def reads(self, lw, views: dict[int, View]) -> tuple[list, dict[int, str]]:
        """The reads, and the template field of each operand (``{a<i>}``)."""
        reads, fields = [], {}
        for k in sorted(views):
            reads.append(lw.program.read(views[k], self._slot_of(views[k], self.maps[k])))
            fields[f"x{k}"] = "{a%d}" % (len(reads) - 1)
        return reads, fields

    @staticmethod
    def _slot_of(view: View, mapping: dict[int, int]) -> Callable[[int], int | None]:
        def slot(f: int):
            if f not in mapping and view.factors[f].size != 1:
                raise LoweringError("a factor of a view has no variable (internal error)")
            return mapping.get(f)
        return slot


def index_of(slots: list[int], space: _Space) -> str:
    """The linear index of a dimension whose factors are ``slots`` (outer first)."""
    terms, stride = [], 1
    for s in reversed(slots):
        terms.append("{s%d}" % s if stride == 1 else "%d*{s%d}" % (stride, s))
        stride *= space.slots[s].size
    return "+".join(reversed(terms)) or "0"


def elementwise(lw, node, operands: list, expr: str, what: str = "") -> View:
    """``expr`` over operands ``{x0}``, ``{x1}``...: views broadcast, numbers written inline."""
    views = {k: v for k, v in enumerate(operands) if isinstance(v, View)}
    if not views:
        raise LoweringError(f"{getattr(node, 'name', node)}: no tensor operand")
    rank = max(len(v.dims) for v in views.values())
    views, shape = _broadcast(_padded(views, rank), range(rank), getattr(node, "name", node))
    space = _Space(views)
    out_slots = [s for d in range(rank) for s in space.shared(views, d)]
    reads, fields = space.reads(lw, views)
    fields.update({f"x{k}": literal(v) for k, v in enumerate(operands) if k not in views})
    out = lw.program.emit(lw.fresh(node, what), space.slots, out_slots, reads,
                          "{out} = " + expr.format(**fields))
    return out.reshape(shape)


def copy(lw, node, view: View) -> View:
    """A stored copy of ``view`` (no operation)."""
    return elementwise(lw, node, [view], "{x0}")


def reduce(lw, node, view: View, dims, op: str, expr: str = "{x0}", keepdim: bool = False,
           what: str = "") -> View:
    """``op`` (sum, max) of ``expr`` over dimensions ``dims`` of ``view``."""
    dims = sorted({d % len(view.dims) for d in dims})
    space = _Space([0])
    out_slots, reduced = [], []
    for d in range(len(view.dims)):
        created = space.shared({0: view}, d, [0] if view.shape[d] > 1 else [])
        (reduced if d in dims else out_slots).extend(created)
    reads, fields = space.reads(lw, {0: view})
    body = expr.format(**fields)
    if reduced:
        body = f"{op}({', '.join('{s%d}' % s for s in reduced)}) {body}"
    out = lw.program.emit(lw.fresh(node, what), space.slots, out_slots, reads, "{out} = " + body)
    shape = [1 if d in dims else n for d, n in enumerate(view.shape)] if keepdim \
        else [n for d, n in enumerate(view.shape) if d not in dims]
    return out.reshape(shape)


def contract(lw, node, a: View, b: View, guard: Callable | None = None,
             what: str = "") -> View:
    """The matrix product ``a [..., n, k] @ b [..., k, m]`` with broadcast batch dimensions;
    ``guard(n_index, m_index)`` may return a ``where`` clause (e.g. a causal mask)."""
    if len(a.dims) < 2 or len(b.dims) < 2:
        raise LoweringError(f"{node.name}: matrix products of vectors are not supported")
    batch = max(len(a.dims), len(b.dims)) - 2
    views = _padded({0: a, 1: b}, batch + 2)
    views, batch_shape = _broadcast(views, range(batch), node.name)
    inner = [views[0].factors[f].size for f in views[0].dims[batch + 1]]
    other = [views[1].factors[f].size for f in views[1].dims[batch]]
    if views[0].shape[batch + 1] != views[1].shape[batch]:
        raise LoweringError(f"{node.name}: inner dimensions {views[0].shape} @ "
                            f"{views[1].shape} differ")
    common = common_sizes(inner, other)
    views[0] = views[0].refine(batch + 1, common)
    views[1] = views[1].refine(batch, common)
    space = _Space(views)
    out_slots = [s for d in range(batch) for s in space.shared(views, d)]
    rows = space.shared(views, batch, [0] if views[0].shape[batch] > 1 else [])
    cols = space.shared(views, batch + 1, [1] if views[1].shape[batch + 1] > 1 else [])
    _shared_inner(space, views, batch)
    reads, fields = space.reads(lw, views)
    text = "{out} = " + "{x0} * {x1}".format(**fields)
    if guard is not None:
        text += guard(index_of(rows, space), index_of(cols, space))
    out = lw.program.emit(lw.fresh(node, what), space.slots, out_slots + rows + cols, reads,
                          text, matmul=True)
    return out.reshape([*batch_shape, views[0].shape[batch], views[1].shape[batch + 1]])


def _shared_inner(space: _Space, views: dict[int, View], batch: int) -> None:
    a, b = views[0], views[1]
    for fa, fb in zip(a.dims[batch + 1], b.dims[batch]):
        space.slots.append(unify(a.factors[fa], b.factors[fb]))
        space.maps[0][fa] = space.maps[1][fb] = len(space.slots) - 1


def cat(lw, node, parts: list[View], dim: int) -> View:
    """Concatenation of equal-sized ``parts`` along ``dim``: a part slot selects the part."""
    rank = len(parts[0].dims)
    dim %= rank
    shapes = {p.shape[:dim] + p.shape[dim + 1:] for p in parts}
    if len(shapes) > 1 or len({p.shape[dim] for p in parts}) > 1 or \
            any(len(p.dims) != rank for p in parts):
        raise LoweringError(f"{node.name}: cat supports parts of equal shapes only, got "
                            f"{[p.shape for p in parts]}")
    views = dict(enumerate(parts))
    views, _ = _broadcast(views, range(rank), node.name)
    space = _Space(views)
    out_slots = []
    for d in range(rank):
        if d == dim:
            space.slots.append(Family(len(parts)))
            which = len(space.slots) - 1
            out_slots.append(which)
        out_slots += space.shared(views, d, list(views) if parts[0].shape[d] > 1 else [])
    reads, fields = space.reads(lw, views)
    expr = "{x%d}" % (len(parts) - 1)
    for k in reversed(range(len(parts) - 1)):
        expr = "select({s%d} == %d, {x%d}, %s)" % (which, k, k, expr)
    fields.update({f"s{which}": "{s%d}" % which})
    out = lw.program.emit(lw.fresh(node), space.slots, out_slots, reads,
                          "{out} = " + expr.format(**fields))
    shape = list(parts[0].shape)
    shape[dim] *= len(parts)
    return out.reshape(shape)
