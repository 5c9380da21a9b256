"""``lower_module(module, example_inputs)``: a PyTorch module traced with torch.fx, as a cascade.

The module is traced with ``torch.fx.symbolic_trace`` (arguments of ``forward`` past the
example inputs keep their defaults, e.g. ``past_k=None``), then run once on the example
inputs to learn every shape and every non-tensor value (``x.shape``, ``x.size(-1) // 2``).
Each node becomes Einsums over views of stored tensors (:mod:`accelsim.lower.views`):

* matrix products -- ``nn.Linear``/``F.linear``, ``matmul``/``@``, ``bmm``, and
  ``scaled_dot_product_attention`` (scaled queries, scores with the causal mask as a guard or
  an additive/boolean mask, a 3-pass softmax, the product with V; grouped-query attention
  through ``enable_gqa``);
* ``softmax`` (3-pass), ``layer_norm``/``LayerNorm``, ``rms_norm``/``RMSNorm``, ``gelu``
  (erf or tanh), ``silu``, ``relu``, ``tanh``, ``sigmoid``, ``exp``, ``sqrt``, ``rsqrt``,
  ``pow`` by 2 / 0.5 / -0.5, ``mean``, ``sum``, ``+ - * /``, negation;
* views, which compute nothing: ``view``, ``reshape``, ``flatten``, ``transpose``,
  ``permute``, ``contiguous``, ``unsqueeze``, ``expand``, slicing and integer indexing,
  ``split``/``chunk``; ``cat`` selects among its parts (one ``select`` per part boundary);
  dropout in eval mode and dtype casts are identities.

Any other operator is a :class:`~accelsim.errors.LoweringError` naming it: nothing is dropped
silently.  Placeholders are inputs, parameters and buffers weights, the returned tensors
outputs.  torch is imported inside the functions only.
"""

from __future__ import annotations

import inspect

from accelsim.errors import LoweringError
from accelsim.lower.builder import CascadeBuilder
from accelsim.lower.lowered import Lowered
from accelsim.lower.precision import precision
from accelsim.lower.torch_ops import HANDLERS, module_as_function, op_name
from accelsim.lower.view_ops import copy
from accelsim.lower.views import Family, Program, View, identity

TORCH_DTYPES = {"float64": "fp64", "float32": "fp32", "float16": "fp16", "bfloat16": "bf16",
                "int8": "int8", "int32": "int32"}
"""torch dtype name -> accelsim element type."""


def lower_module(module, example_inputs, *, dtype=None, name: str | None = None) -> Lowered:
    """Lower ``module`` called on ``example_inputs`` (a tensor or a tuple) to a
    :class:`Lowered` with one cascade (``layers = 1``); see the module docstring.

    ``dtype`` sets element types as in :func:`accelsim.lower.lower`; by default every tensor
    takes the type of the first floating-point example input.
    """
    import torch

    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) \
        else (example_inputs,)
    graph_module, values = _trace(module, args)
    lowering = _Lowering(graph_module, values)
    for node in graph_module.graph.nodes:
        lowering.visit(node)
    if dtype is None:
        floats = [a for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
        dtype = TORCH_DTYPES.get(str(floats[0].dtype).removeprefix("torch."), "fp32") \
            if floats else "fp32"
    return lowering.lowered(precision(dtype), name or type(module).__name__)


def module_inputs(lowered: Lowered, module, example_inputs) -> dict:
    """Numpy values of the inputs of a :func:`lower_module` cascade: the example inputs
    (``IN_<argument>``) and the module's parameters and buffers (``W_<qualified_name>``)."""
    args = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) \
        else (example_inputs,)
    names = list(inspect.signature(module.forward).parameters)
    found = {f"IN_{n}": a for n, a in zip(names, args)}
    found.update({"W_" + q.replace(".", "_"): t for q, t in
                  (*module.named_parameters(), *module.named_buffers())})
    return {n: found[n].detach().cpu().numpy() for n in lowered.layer.inputs}


def _trace(module, args: tuple):
    """The fx graph and each node's value on ``args``."""
    import torch
    import torch.fx

    if not isinstance(module, torch.nn.Module):
        raise LoweringError(f"lower_module needs a torch.nn.Module, got {type(module).__name__}")
    parameters = list(inspect.signature(module.forward).parameters.values())
    concrete = {p.name: p.default for p in parameters[len(args):]
                if p.default is not inspect.Parameter.empty}
    try:
        graph_module = torch.fx.symbolic_trace(module, concrete_args=concrete or None)
    except Exception as exc:  # tracing failures come in many types
        raise LoweringError(f"torch.fx cannot trace {type(module).__name__}: {exc}") from None
    values: dict = {}

    class Recorder(torch.fx.Interpreter):
        """An fx interpreter that records every node's value."""

        def run_node(self, node):
            """Run ``node`` and keep its value."""
            values[node] = super().run_node(node)
            return values[node]

    try:
        with torch.no_grad():
            Recorder(graph_module).run(*args)
    except Exception as exc:
        raise LoweringError(f"running {type(module).__name__} on the example inputs failed: "
                            f"{exc}") from None
    return graph_module, values


def _has_tensor(value) -> bool:
    import torch
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_tensor(v) for v in value)
    return False


class _Lowering:
    """Walks the fx graph, turning each node into views and Einsums."""

    def __init__(self, graph_module, values: dict):
        self.graph_module, self.values = graph_module, values
        self.modules = dict(graph_module.named_modules())
        self.program = Program()
        self.env: dict = {}
        self.roles: dict[str, str] = {}
        self.outputs: list[View] = []
        self.counter = 0

    # ----------------------------------------------------------------- helpers for handlers
    def fresh(self, node, what: str = "") -> str:
        """A new stored tensor name for a result of ``node`` (a node or a name)."""
        self.counter += 1
        stem = getattr(node, "name", node)
        return f"N{self.counter}_{stem}{'_' + what if what else ''}"

    def stored(self, tensor_name: str, shape, role: str) -> View:
        """A new stored input or weight of ``shape``."""
        families = tuple(Family(int(s)) for s in shape)
        self.program.stored[tensor_name] = families
        self.roles[tensor_name] = role
        return identity(tensor_name, families)

    def weight(self, qualified: str) -> View:
        """The parameter or buffer ``qualified`` (one stored weight however often used)."""
        tensor_name = "W_" + qualified.replace(".", "_")
        if tensor_name not in self.program.stored:
            value = self.graph_module.get_parameter(qualified) \
                if qualified in dict(self.graph_module.named_parameters()) \
                else self.graph_module.get_buffer(qualified)
            return self.stored(tensor_name, tuple(value.shape), "weight")
        return identity(tensor_name, self.program.stored[tensor_name])

    # ----------------------------------------------------------------- the walk
    def visit(self, node) -> None:
        """Lower one fx node: its value goes to ``env``."""
        from torch.fx.node import map_arg
        if node.op == "placeholder":
            value = self.values.get(node)
            self.env[node] = self.stored(f"IN_{node.name}", tuple(value.shape), "input") \
                if _has_tensor(value) else value
            return
        if node.op == "get_attr":
            self.env[node] = self.weight(node.target) if _has_tensor(self.values.get(node)) \
                else self.values.get(node)
            return
        args = map_arg(node.args, lambda n: self.env[n])
        kwargs = map_arg(node.kwargs, lambda n: self.env[n])
        if node.op == "output":
            self.outputs = [v for v in _flatten(args[0]) if isinstance(v, View)]
            return
        if not _has_tensor(self.values.get(node)):
            self.env[node] = self.values.get(node)  # sizes and arithmetic on them
            return
        name = op_name(node, self.modules)
        if node.op == "call_module" and name in HANDLERS:
            name, args, kwargs = module_as_function(self, node, name, args, kwargs)
        handler = HANDLERS.get(name)
        if handler is None:
            raise LoweringError(f"unsupported operator {name!r} (fx node {node.name!r}); "
                                f"supported: {', '.join(sorted(HANDLERS))}")
        self.env[node] = handler(self, node, *args, **kwargs)

    # ----------------------------------------------------------------- the result
    def lowered(self, types, name: str) -> Lowered:
        """Name the ranks, declare the tensors and build the verified cascade."""
        outputs = [self._materialized(v, k) for k, v in enumerate(self.outputs)]
        ranks, ranks_of, einsums, texts = self.program.render()
        used = {read.tensor for e in einsums for read in e.reads}
        b = CascadeBuilder(types)
        for rank, size in ranks.items():
            b.rank(rank, size)
        for tensor_name, role in self.roles.items():
            if tensor_name in used:
                if role == "weight":
                    b.weight(tensor_name, ranks_of[tensor_name])
                else:
                    b.input(tensor_name, ranks_of[tensor_name])
        for e, text in zip(einsums, texts):
            b.add(text, matmul=e.matmul)
        for out in dict.fromkeys(outputs):
            b.output(out, ranks_of[out])
        built = b.build(name.replace(" ", "-"), source=f"torch.fx trace of {name}",
                        description=f"{name} traced with torch.fx and lowered by "
                                    "accelsim.lower.lower_module")
        return Lowered(name=name, phase="module", layer=built.cascade, layers=1,
                       roles=built.roles, dtypes=built.dtypes, matmuls=built.matmuls)

    def _materialized(self, view: View, k: int) -> str:
        """The stored tensor holding output ``view`` (a copy unless it is one already)."""
        stored = self.program.stored[view.tensor]
        if self.roles.get(view.tensor) is None and view == identity(view.tensor, stored):
            return view.tensor
        return copy(self, f"OUT{k}", view).tensor


def _flatten(value) -> list:
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _flatten(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    return [value]
