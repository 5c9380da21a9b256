"""Exact global-memory traffic of Triton kernels, counted in Triton's CPU interpreter.

With ``TRITON_INTERPRET=1`` Triton runs a kernel's programs one after another in Python,
and every ``tl.load`` / ``tl.store`` reaches the interpreter's builder as
``create_masked_load(ptrs, mask, other, ...)`` / ``create_masked_store(ptrs, value, mask, ...)``
with the pointers of every lane (unmasked loads and stores are routed through the masked ones
with an all-true mask; atomics through ``create_atomic_cas`` / ``create_atomic_rmw``).
:class:`TrafficCounter` wraps those builder methods for the duration of a ``with`` block:

* a lane counts when its mask is true (masked-off lanes move nothing), as
  ``element bits / 8`` bytes of the pointer's element type;
* a lane's address is attributed to the registered tensor whose storage contains it (the
  interpreter hands CPU tensors to the kernel by their own ``data_ptr``), so counts come out
  per tensor, under the names the caller gives (the Einsum's tensor names);
* counts are kept per program (the builder's grid index) and in total; atomics are kept
  apart (``atomics``), since they synchronize programs rather than move operands.

Tensor-descriptor loads and stores bypass those paths; they raise instead of going uncounted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

UNKNOWN = "?"
"""Name under which lanes outside every registered tensor are counted."""

_ACTIVE: list["TrafficCounter"] = []


def name_tensors(**tensors) -> None:
    """Name tensors a launcher allocates itself (outputs, workspaces) for the active counter;
    does nothing when no :class:`TrafficCounter` is counting."""
    for counter in _ACTIVE:
        for name, tensor in tensors.items():
            counter.register(name, tensor)


@dataclass
class Traffic:
    """Bytes moved between global memory and a kernel's programs, by tensor."""

    loads: dict[str, int] = field(default_factory=dict)
    stores: dict[str, int] = field(default_factory=dict)
    atomics: dict[str, int] = field(default_factory=dict)
    """Bytes touched by atomic operations (each lane counted once), by tensor."""
    per_program: dict[tuple[int, int, int], dict[str, list[int]]] = field(default_factory=dict)
    """Grid index -> tensor -> [load bytes, store bytes]."""

    def add(self, other: "Traffic") -> "Traffic":
        """The sum of two counts (two launches of one computation); per-program is dropped."""
        out = Traffic()
        for name in ("loads", "stores", "atomics"):
            merged = dict(getattr(self, name))
            for k, v in getattr(other, name).items():
                merged[k] = merged.get(k, 0) + v
            setattr(out, name, merged)
        return out

    @property
    def total(self) -> int:
        """Load + store bytes of every tensor (atomics excluded)."""
        return sum(self.loads.values()) + sum(self.stores.values())

    def by_tensor(self) -> dict[str, tuple[int, int]]:
        """Tensor -> (load bytes, store bytes)."""
        names = sorted(set(self.loads) | set(self.stores))
        return {t: (self.loads.get(t, 0), self.stores.get(t, 0)) for t in names}


class TrafficCounter:
    """Count the global-memory bytes of interpreted Triton launches (see the module docstring).

    ``tensors`` maps names to the torch tensors a launch reads and writes; use it as
    ``with TrafficCounter({"A": a, "B": b, "Z": z}) as counter: kernel[grid](...)`` and read
    ``counter.traffic``.  Needs ``TRITON_INTERPRET=1`` when the kernel was decorated.
    """

    def __init__(self, tensors: Mapping[str, object] | None = None):
        self._spans: list[tuple[int, int, str]] = []
        for name, tensor in (tensors or {}).items():
            self.register(name, tensor)
        self.traffic = Traffic()
        self._builder = None

    def register(self, name: str, tensor) -> None:
        """Count lanes inside ``tensor``'s storage under ``name``."""
        start = int(tensor.untyped_storage().data_ptr())
        self._spans.append((start, start + int(tensor.untyped_storage().nbytes()), name))
        self._spans.sort()
        self._starts = np.array([s[0] for s in self._spans], dtype=np.uint64)
        self._ends = np.array([s[1] for s in self._spans], dtype=np.uint64)
        self._names = [s[2] for s in self._spans]

    # -------------------------------------------------------------- attribution
    def _attribute(self, ptrs: np.ndarray, mask: np.ndarray | None) -> dict[str, int]:
        """Active lanes per tensor name."""
        addr = np.asarray(ptrs, dtype=np.uint64).ravel()
        if mask is not None:
            active = np.broadcast_to(np.asarray(mask, dtype=bool), np.shape(ptrs)).ravel()
            addr = addr[active]
        if addr.size == 0:
            return {}
        if not self._spans:
            return {UNKNOWN: int(addr.size)}
        index = np.searchsorted(self._starts, addr, side="right").astype(np.int64) - 1
        inside = (index >= 0) & (addr < self._ends[np.maximum(index, 0)])
        counts: dict[str, int] = defaultdict(int)
        outside = int(np.count_nonzero(~inside))
        if outside:
            counts[UNKNOWN] += outside
        for i, n in zip(*np.unique(index[inside], return_counts=True)):
            counts[self._names[int(i)]] += int(n)
        return counts

    def _record(self, kind: str, ptrs, mask) -> None:
        width = ptrs.get_element_ty().primitive_bitwidth // 8
        lanes = self._attribute(ptrs.data, None if mask is None else mask.data)
        totals = getattr(self.traffic, kind)
        program = self.traffic.per_program.setdefault(tuple(self._builder.grid_idx), {})
        for name, n in lanes.items():
            totals[name] = totals.get(name, 0) + n * width
            if kind != "atomics":
                row = program.setdefault(name, [0, 0])
                row[0 if kind == "loads" else 1] += n * width

    # -------------------------------------------------------------- patching
    def __enter__(self) -> "TrafficCounter":
        import accelsim.validate.kernels  # noqa: F401  (chooses the interpreter before triton loads)
        from triton.runtime import interpreter

        builder = interpreter.interpreter_builder
        self._builder = builder
        cls = type(builder)
        counter = self

        def masked_load(ptrs, mask, other, cache_policy, is_volatile):
            counter._record("loads", ptrs, mask)
            return cls.create_masked_load(builder, ptrs, mask, other, cache_policy, is_volatile)

        def masked_store(ptrs, value, mask, cache_policy):
            counter._record("stores", ptrs, mask)
            return cls.create_masked_store(builder, ptrs, value, mask, cache_policy)

        def atomic_cas(ptr, cmp, val, sem, scope):
            counter._record("atomics", ptr, None)
            return cls.create_atomic_cas(builder, ptr, cmp, val, sem, scope)

        def atomic_rmw(rmw_op, ptr, val, mask, sem, scope):
            counter._record("atomics", ptr, mask)
            return cls.create_atomic_rmw(builder, rmw_op, ptr, val, mask, sem, scope)

        def uncounted(*_args, **_kwargs):
            raise NotImplementedError("tensor-descriptor loads and stores are not counted by "
                                      "accelsim.validate.traffic; use pointer loads")

        patches = {"create_masked_load": masked_load, "create_masked_store": masked_store,
                   "create_atomic_cas": atomic_cas, "create_atomic_rmw": atomic_rmw,
                   "create_descriptor_load": uncounted, "create_descriptor_store": uncounted,
                   "create_descriptor_gather": uncounted, "create_descriptor_scatter": uncounted}
        for name, fn in patches.items():
            setattr(builder, name, fn)
        self._patched = list(patches)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.remove(self)
        for name in self._patched:
            self._builder.__dict__.pop(name, None)
