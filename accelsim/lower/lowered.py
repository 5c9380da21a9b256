"""The result of a lowering: one layer cascade counted ``layers`` times, plus optional ends.

Identical layers are counted, not duplicated: a 32-layer model holds one layer cascade and
``layers = 32``; totals multiply.  Tensor names are distinct across the three cascades, so
``roles`` and ``dtypes`` map every tensor of the model's cascades at once, and ``carry`` says
which output feeds which input from one cascade to the next.

How work is counted (see :mod:`accelsim.ir.counts` for the per-Einsum rules):

* :meth:`Lowered.flops` are matmul FLOPs: 2 per multiply-accumulate of the Einsums that are
  matrix products (:attr:`Lowered.matmuls`: projections, attention scores and their product
  with V, the LM head, the patch embedding), the convention of
  ``torch.utils.flop_counter.FlopCounterMode``, which counts only matmul-like operators (mm,
  addmm, bmm, baddbmm, convolutions, attention kernels);
* every operation, matmuls included, is in :meth:`Lowered.op_counts` by class (``mac``,
  ``add``, ``mul``, ``max``, ``exp``, ``divide``, ``other``).  Besides the matmuls these are
  bias adds, residuals, norms (their sums of squares are MACs, not matmul FLOPs), softmax,
  activations, rotary embedding, the split-KV combine, and the adds that append to a KV
  cache; FlopCounterMode counts none of them;
* counts are dense: masked attention scores and padded blocks count like the others.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from accelsim.errors import LoweringError
from accelsim.ir import Cascade, OpCounts


def scaled(counts: OpCounts, factor: int) -> OpCounts:
    """``counts`` times a whole number."""
    return OpCounts(**{f.name: getattr(counts, f.name) * factor for f in fields(counts)})


@dataclass(frozen=True)
class Lowered:
    """A lowered workload (see the module docstring)."""

    name: str
    """Workload name and phase, e.g. ``llama-3-8b decode``."""
    phase: str
    """``prefill`` or ``decode`` (``module`` for :func:`accelsim.lower.lower_module`)."""
    layer: Cascade
    """The cascade of one layer."""
    layers: int
    """How many times the layer runs."""
    roles: dict[str, str]
    """Tensor -> ``input``, ``weight``, ``output`` or ``intermediate``, for every cascade."""
    dtypes: dict[str, str]
    """Tensor -> element type, for every cascade."""
    pre: Cascade | None = None
    """Embeddings before the first layer, if lowered."""
    post: Cascade | None = None
    """Final norm and LM head after the last layer, if lowered."""
    matmuls: frozenset = frozenset()
    """Tensors written by matrix products, whose MACs are the FLOPs (module docstring)."""
    carry: tuple[tuple[str, str], ...] = ()
    """(output of one cascade, input of the next) pairs: ``(EMB, X)`` (pre to layer),
    ``(Y, X)`` (layer to layer) and ``(Y, HID)`` (layer to post), one per group."""
    appends: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(cache after the step, the layer's Einsums that assemble it): a decode step's keys
    and values, the stored cache with the new token appended.  The cascade builds them as
    copies so that it runs; a kernel writes the new entry into the cache in place and
    reads the cache once (:meth:`in_place`)."""

    kernel_ends: frozenset = frozenset()
    """Einsums after which a kernel must end (their output leaves the device: the
    all-reduces of tensor parallelism), from :attr:`accelsim.lower.Request.kernel_ends`."""

    def in_place(self) -> "Lowered":
        """The model as kernels run it, for costing: each appended cache (:attr:`appends`)
        is read where it is stored, with the new entry already written there (the new
        keys and values are outputs of the step, written once), so the Einsums that
        assemble it are no kernels and the tensor is an input of the layer.  Its bytes,
        cache length + 1 entries, are the stored cache's plus the new entry's."""
        if not self.appends:
            return self
        layer, dropped = self.layer, {e for _, names in self.appends for e in names}
        einsums = tuple(e for e in layer.einsums if e.name not in dropped)
        used = {t for e in einsums for t in (e.name, *e.inputs)} | set(layer.outputs)
        costed = replace(layer, einsums=einsums,
                         tensors={n: t for n, t in layer.tensors.items() if n in used})
        roles = {**self.roles, **{tensor: "input" for tensor, _ in self.appends}}
        return replace(self, layer=costed, roles=roles, appends=())

    @property
    def cascades(self) -> tuple[Cascade, ...]:
        """The cascades present, in execution order (the layer once)."""
        return tuple(c for c in (self.pre, self.layer, self.post) if c is not None)

    @property
    def sizes(self) -> dict[str, int]:
        """Size of every rank of every cascade (rank names agree across cascades)."""
        found: dict[str, int] = {}
        for cascade in self.cascades:
            found.update(cascade.sizes())
        return found

    # ----------------------------------------------------------------- totals
    def op_counts(self, **sizes: int) -> OpCounts:
        """Operations of the whole model: ends once, the layer ``layers`` times.  ``sizes``
        override rank sizes (each cascade takes the ones it has)."""
        total = scaled(self.layer.op_counts(**_own(self.layer, sizes)), self.layers)
        for end in (self.pre, self.post):
            if end is not None:
                total = total + end.op_counts(**_own(end, sizes))
        return total

    def flops(self, **sizes: int) -> int:
        """Matmul FLOPs of the whole model: 2 per multiply-accumulate of a matrix product
        (FlopCounterMode's convention; see the module docstring)."""
        total = self.layers * self._matmul_macs(self.layer, sizes)
        for end in (self.pre, self.post):
            if end is not None:
                total += self._matmul_macs(end, sizes)
        return 2 * total

    def _matmul_macs(self, cascade: Cascade, sizes: Mapping[str, int]) -> int:
        counts = cascade.einsum_op_counts(**_own(cascade, sizes))
        return sum(c.mac for e, c in zip(cascade.einsums, counts) if e.name in self.matmuls)

    def compulsory_bytes(self, **sizes: int) -> float:
        """Bytes every cascade must move (inputs read once, outputs written once), the layer's
        counted ``layers`` times."""
        total = self.layers * sum(self.layer.compulsory_bytes(**_own(self.layer, sizes)).values())
        for end in (self.pre, self.post):
            if end is not None:
                total += sum(end.compulsory_bytes(**_own(end, sizes)).values())
        return total

    def tensors(self, role: str) -> tuple[str, ...]:
        """Names of the tensors playing ``role`` (input, weight, output, intermediate)."""
        return tuple(n for n, r in self.roles.items() if r == role)

    # ----------------------------------------------------------------- execution
    def run(self, inputs: Mapping[str, Any], layer_inputs: Sequence[Mapping[str, Any]], *,
            pre_inputs: Mapping[str, Any] | None = None,
            post_inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the model with the float64 interpreter, layer after layer.

        ``inputs`` holds what the first cascade reads (``X`` or the embedding inputs) and
        inputs shared by every layer (``COS``/``SIN``, ``MASK``); ``layer_inputs[i]`` holds
        layer i's own inputs (weights, KV cache).  Returns the last cascade's outputs, and under
        ``"layers"`` each layer's outputs (new keys and values included).
        """
        if len(layer_inputs) != self.layers:
            raise LoweringError(f"run: {len(layer_inputs)} sets of layer inputs for "
                                f"{self.layers} layers")
        state = dict(inputs)
        if self.pre is not None:
            state.update(self._step(self.pre, {**state, **(pre_inputs or {})}))
        per_layer = []
        for own in layer_inputs:
            result = self._step(self.layer, {**state, **own})
            per_layer.append(result)
            state.update(result)
        final = per_layer[-1]
        if self.post is not None:
            final = self._step(self.post, {**state, **(post_inputs or {})})
        last = self.post or self.layer
        return {**{name: final[name] for name in last.outputs}, "layers": per_layer}

    def _step(self, cascade: Cascade, available: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run one cascade; its outputs come back under their own names and under the input
        names they are carried to."""
        missing = [n for n in cascade.inputs if n not in available]
        if missing:
            raise LoweringError(f"run: no value for input(s) {', '.join(missing)} of "
                                f"{cascade.name}")
        result = cascade.run({n: available[n] for n in cascade.inputs})
        produced = {name: result[name] for name in cascade.outputs}
        produced.update({into: produced[out] for out, into in self.carry if out in produced})
        return produced


def _own(cascade: Cascade, sizes: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in sizes.items() if k in cascade.ranks}
