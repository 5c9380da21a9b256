"""The PyTorch operators ``lower_module`` supports, by canonical name, and their lowering.

Every handler has the signature ``handler(lw, node, *args, **kwargs) -> value`` with the
operator's own arguments (views for tensors, Python values otherwise); ``nn.Module`` calls
are first turned into their functional form (:func:`module_as_function`).  How each
operator becomes Einsums is written beside it; the non-matmul ones mirror the blocks of
:mod:`accelsim.lower.blocks`, so a traced layer counts the same work as a lowered workload.
torch is imported inside functions only.
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache

from accelsim.errors import LoweringError
from accelsim.lower.view_ops import cat, contract, elementwise, literal, reduce
from accelsim.lower.views import View

METHODS = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "neg": "neg", "pow": "pow",
           "transpose": "transpose", "permute": "permute", "view": "reshape",
           "reshape": "reshape", "contiguous": "identity", "split": "split", "chunk": "chunk",
           "unsqueeze": "unsqueeze", "softmax": "softmax", "mean": "mean", "sum": "sum",
           "rsqrt": "rsqrt", "sqrt": "sqrt", "exp": "exp", "tanh": "tanh",
           "sigmoid": "sigmoid", "float": "identity", "double": "identity", "to": "identity",
           "type_as": "identity", "flatten": "flatten", "expand": "expand", "relu": "relu"}
"""Tensor method -> canonical operator."""

MODULES = {"Linear": "linear", "LayerNorm": "layer_norm", "RMSNorm": "rms_norm",
           "GELU": "gelu", "SiLU": "silu", "ReLU": "relu", "Tanh": "tanh",
           "Sigmoid": "sigmoid", "Dropout": "dropout", "Identity": "identity",
           "Softmax": "softmax"}
"""nn.Module class name -> canonical operator."""


@lru_cache(maxsize=1)
def _functions() -> dict:
    import torch
    import torch.nn.functional as F
    return {F.linear: "linear", torch.matmul: "matmul", operator.matmul: "matmul",
            torch.bmm: "matmul", F.softmax: "softmax", torch.softmax: "softmax",
            F.scaled_dot_product_attention: "scaled_dot_product_attention",
            F.layer_norm: "layer_norm", F.rms_norm: "rms_norm", F.gelu: "gelu",
            F.silu: "silu", F.relu: "relu", torch.relu: "relu", torch.tanh: "tanh",
            torch.sigmoid: "sigmoid", torch.exp: "exp", torch.rsqrt: "rsqrt",
            torch.sqrt: "sqrt", operator.add: "add", torch.add: "add", operator.sub: "sub",
            torch.sub: "sub", operator.mul: "mul", torch.mul: "mul", operator.truediv: "div",
            torch.div: "div", operator.neg: "neg", torch.neg: "neg", operator.pow: "pow",
            torch.pow: "pow", operator.getitem: "getitem", torch.cat: "cat",
            torch.concat: "cat", torch.transpose: "transpose", torch.permute: "permute",
            torch.reshape: "reshape", torch.flatten: "flatten", torch.unsqueeze: "unsqueeze",
            torch.split: "split", torch.chunk: "chunk", torch.mean: "mean", torch.sum: "sum",
            F.dropout: "dropout"}


def op_name(node, modules: dict) -> str:
    """Canonical operator name of an fx node (its own name when unsupported)."""
    if node.op == "call_module":
        kind = type(modules[node.target]).__name__
        return MODULES.get(kind, f"{kind} (module)")
    if node.op == "call_method":
        return METHODS.get(node.target, f"Tensor.{node.target}")
    found = _functions().get(node.target)
    return found or getattr(node.target, "__qualname__", str(node.target))


def module_as_function(lw, node, name: str, args: tuple, kwargs: dict):
    """A module call as (operator, args, kwargs) of its functional form."""
    module, x = lw.modules[node.target], args[0]
    weight = (lambda attr: lw.weight(f"{node.target}.{attr}")
              if getattr(module, attr, None) is not None else None)
    if name == "linear":
        return name, (x, weight("weight"), weight("bias")), {}
    if name == "layer_norm":
        return name, (x, module.normalized_shape, weight("weight"), weight("bias"),
                      module.eps), {}
    if name == "rms_norm":
        return name, (x, module.normalized_shape, weight("weight"), module.eps), {}
    if name == "gelu":
        return name, (x,), {"approximate": module.approximate}
    if name == "dropout":
        return name, (x,), {"p": module.p, "training": module.training}
    if name == "softmax":
        return name, (x, module.dim), {}
    return name, (x,), {}


# ----------------------------------------------------------------------------- views

def _identity(lw, node, x, *_, **__):
    return x


def _dropout(lw, node, x, p=0.5, training=True, inplace=False):
    if training and p:
        raise LoweringError(f"{node.name}: dropout in training mode; call module.eval()")
    return x


def _sizes(sizes) -> list[int]:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) or \
            (len(sizes) == 1 and type(sizes[0]).__name__ == "Size"):
        sizes = sizes[0]
    return [int(s) for s in sizes]


def _reshape(lw, node, x: View, *shape):
    return x.reshape(_sizes(shape))


def _flatten(lw, node, x: View, start_dim=0, end_dim=-1):
    shape = list(x.shape)
    start, end = start_dim % len(shape), end_dim % len(shape)
    return x.reshape(shape[:start] + [math.prod(shape[start:end + 1])] + shape[end + 1:])


def _transpose(lw, node, x: View, a, b):
    return x.transpose(a, b)


def _permute(lw, node, x: View, *dims):
    return x.permute(_sizes(dims))


def _unsqueeze(lw, node, x: View, dim):
    return x.unsqueeze(dim)


def _expand(lw, node, x: View, *sizes):
    return x.expand(_sizes(sizes))


def _getitem(lw, node, x, index):
    if not isinstance(x, View):
        return x[index]
    items = list(index) if isinstance(index, tuple) else [index]
    if any(i is Ellipsis for i in items):
        at = items.index(Ellipsis)
        present = sum(1 for i in items if i is not None and i is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(x.dims) - present)
    dim = 0
    for item in items:
        if item is None:
            x, dim = x.unsqueeze(dim), dim + 1
        elif isinstance(item, int):
            x = x.select(dim, item)
        elif isinstance(item, slice) and item.step in (None, 1):
            start = 0 if item.start is None else int(item.start)
            stop = x.shape[dim] if item.stop is None else int(item.stop)
            x, dim = x.slice(dim, start, stop), dim + 1
        else:
            raise LoweringError(f"{node.name}: indexing with {item!r} is not supported")
    return x


def _split(lw, node, x: View, size, dim=0):
    extent = x.shape[dim % len(x.dims)]
    sizes = [size] * (extent // size) + ([extent % size] if extent % size else []) \
        if isinstance(size, int) else list(size)
    parts, start = [], 0
    for s in sizes:
        parts.append(x.slice(dim, start, start + s))
        start += s
    return parts


def _chunk(lw, node, x: View, chunks, dim=0):
    extent = x.shape[dim % len(x.dims)]
    return _split(lw, node, x, -(-extent // chunks), dim)


def _cat(lw, node, tensors, dim=0):
    return cat(lw, node, list(tensors), dim)


# ----------------------------------------------------------------------------- arithmetic

def _binary(symbol: str):
    def handler(lw, node, a, b, alpha=1, rounding_mode=None):
        if alpha != 1 or rounding_mode is not None:
            raise LoweringError(f"{node.name}: alpha/rounding_mode are not supported")
        return elementwise(lw, node, [a, b], "{x0} %s {x1}" % symbol)
    return handler


def _unary(expr: str):
    def handler(lw, node, x, *_, **__):
        return elementwise(lw, node, [x], expr)
    return handler


def _pow(lw, node, x, exponent):
    forms = {2: "{x0} * {x0}", 0.5: "sqrt({x0})", -0.5: "rsqrt({x0})", -1: "reciprocal({x0})"}
    if isinstance(exponent, View) or exponent not in forms and exponent != 1:
        raise LoweringError(f"{node.name}: pow supports the exponents 1, 2, 0.5, -0.5 and -1")
    return x if exponent == 1 else elementwise(lw, node, [x], forms[exponent])


def _gelu(lw, node, x, approximate="none"):
    return elementwise(lw, node, [x], "gelu_tanh({x0})" if approximate == "tanh"
                       else "gelu({x0})")


def _reduction(op: str, mean: bool):
    def handler(lw, node, x: View, dim=None, keepdim=False, dtype=None):
        dims = range(len(x.dims)) if dim is None else \
            ([dim] if isinstance(dim, int) else list(dim))
        total = reduce(lw, node, x, dims, op, keepdim=keepdim, what=op)
        if not mean:
            return total
        count = math.prod(x.shape[d % len(x.dims)] for d in dims)
        return elementwise(lw, node, [total], "{x0} / %d" % count)
    return handler


def _softmax(lw, node, x: View, dim=-1, *_, **__):
    """3-pass softmax: max, exp and sum, divide (as the 3pass attention variant)."""
    peak = reduce(lw, node, x, [dim], "max", keepdim=True, what="max")
    numerator = elementwise(lw, node, [x, peak], "exp({x0} - {x1})", "exp")
    denominator = reduce(lw, node, numerator, [dim], "sum", keepdim=True, what="sum")
    return elementwise(lw, node, [numerator, denominator], "{x0} / {x1}")


# ----------------------------------------------------------------------------- layers

def _linear(lw, node, x: View, weight: View, bias=None):
    y = contract(lw, node, x, weight.transpose(0, 1))
    return y if bias is None else elementwise(lw, node, [y, bias], "{x0} + {x1}", "bias")


def _matmul(lw, node, a: View, b: View):
    return contract(lw, node, a, b)


def _layer_norm(lw, node, x: View, shape, weight=None, bias=None, eps=1e-5, *_):
    """As accelsim.lower.blocks.layer_norm: mean, centred values, their sum of squares."""
    if len(shape) != 1:
        raise LoweringError(f"{node.name}: layer_norm over more than the last dimension")
    n = int(shape[0])
    total = reduce(lw, node, x, [-1], "sum", keepdim=True, what="sum")
    mean = elementwise(lw, node, [total], "{x0} / %d" % n, "mean")
    centred = elementwise(lw, node, [x, mean], "{x0} - {x1}", "centred")
    squares = reduce(lw, node, centred, [-1], "sum", "{x0} * {x0}", keepdim=True, what="sq")
    scale = elementwise(lw, node, [squares], "rsqrt({x0} / %d + %s)" % (n, literal(eps)), "rs")
    return _affine(lw, node, [centred, scale], weight, bias)


def _rms_norm(lw, node, x: View, shape, weight=None, eps=None):
    """As accelsim.lower.blocks.rms_norm: sum of squares, reciprocal root, gain."""
    if len(shape) != 1:
        raise LoweringError(f"{node.name}: rms_norm over more than the last dimension")
    if eps is None:
        import torch
        eps = torch.finfo(lw.values[node.args[0]].dtype).eps
    n = int(shape[0])
    squares = reduce(lw, node, x, [-1], "sum", "{x0} * {x0}", keepdim=True, what="sq")
    scale = elementwise(lw, node, [squares], "rsqrt({x0} / %d + %s)" % (n, literal(eps)), "rs")
    return _affine(lw, node, [x, scale], weight, None)


def _affine(lw, node, operands: list, weight, bias) -> View:
    expr = "{x0} * {x1}"
    for extra, form in ((weight, " * {x%d}"), (bias, " + {x%d}")):
        if extra is not None:
            operands.append(extra)
            expr += form % (len(operands) - 1)
    return elementwise(lw, node, operands, expr)


SDPA_ARGUMENTS = ("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
"""scaled_dot_product_attention's arguments after query, key and value, in torch's order."""


def _attention(lw, node, q: View, k: View, v: View, *args, **kwargs):
    """scaled_dot_product_attention as the 3pass variant: scaled queries, scores (causal mask
    as a guard, top-left aligned like torch), an additive float mask, softmax, values.
    ``args``/``kwargs`` are torch's later arguments (:data:`SDPA_ARGUMENTS`)."""
    given = {**dict(zip(SDPA_ARGUMENTS, args)), **kwargs}
    unknown = sorted(set(given) - set(SDPA_ARGUMENTS))
    if unknown or len(args) > len(SDPA_ARGUMENTS):
        raise LoweringError(f"{node.name}: scaled_dot_product_attention takes "
                            f"{', '.join(SDPA_ARGUMENTS)} after q, k, v; got {unknown or args}")
    attn_mask, scale = given.get("attn_mask"), given.get("scale")
    if given.get("dropout_p", 0.0):
        raise LoweringError(f"{node.name}: attention dropout is not supported")
    heads, kv_heads = q.shape[-3], k.shape[-3]
    grouped = heads != kv_heads
    if grouped:
        if not given.get("enable_gqa", False) or heads % kv_heads:
            raise LoweringError(f"{node.name}: {heads} query heads and {kv_heads} key heads "
                                "need enable_gqa=True and a whole group size")
        q = q.reshape([*q.shape[:-3], kv_heads, heads // kv_heads, *q.shape[-2:]])
        k, v = k.unsqueeze(-3), v.unsqueeze(-3)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scaled = elementwise(lw, node, [q, scale], "{x0} * {x1}", "qs")
    guard = ((lambda row, col: f" where {col} <= {row} else -inf")
             if given.get("is_causal", False) else None)
    scores = contract(lw, node, scaled, k.transpose(-1, -2), guard, "scores")
    if isinstance(attn_mask, View):
        mask_node = node.kwargs.get("attn_mask", node.args[3] if len(node.args) > 3 else None)
        if not lw.values[mask_node].is_floating_point():
            raise LoweringError(f"{node.name}: boolean attention masks are not supported; "
                                "pass an additive float mask")
        if grouped and len(attn_mask.dims) >= 3:
            attn_mask = attn_mask.unsqueeze(-3)
        scores = elementwise(lw, node, [scores, attn_mask], "{x0} + {x1}", "masked")
    out = contract(lw, node, _softmax(lw, node, scores), v, None, "values")
    return out.reshape([*out.shape[:-4], heads, *out.shape[-2:]]) if grouped else out


HANDLERS = {
    "identity": _identity, "dropout": _dropout, "reshape": _reshape, "flatten": _flatten,
    "transpose": _transpose, "permute": _permute, "unsqueeze": _unsqueeze, "expand": _expand,
    "getitem": _getitem, "split": _split, "chunk": _chunk, "cat": _cat,
    "add": _binary("+"), "sub": _binary("-"), "mul": _binary("*"), "div": _binary("/"),
    "neg": _unary("-{x0}"), "pow": _pow, "rsqrt": _unary("rsqrt({x0})"),
    "sqrt": _unary("sqrt({x0})"), "exp": _unary("exp({x0})"), "tanh": _unary("tanh({x0})"),
    "sigmoid": _unary("sigmoid({x0})"), "silu": _unary("silu({x0})"),
    "relu": _unary("max({x0}, 0)"), "gelu": _gelu, "softmax": _softmax,
    "mean": _reduction("sum", mean=True), "sum": _reduction("sum", mean=False),
    "linear": _linear, "matmul": _matmul, "layer_norm": _layer_norm, "rms_norm": _rms_norm,
    "scaled_dot_product_attention": _attention,
}
"""Canonical operator -> handler."""
