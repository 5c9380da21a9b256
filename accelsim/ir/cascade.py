"""A cascade of Einsums: a dependence graph of Einsums over named tensors and ranks.

A :class:`Cascade` holds its ranks (with free, default or derived sizes), its tensors (declared,
or inferred for intermediates from the indices that write them), its Einsums in the order they
were written, and its outputs.  Everything else -- inputs, intermediates, the dependence graph,
the execution order, tensor lifetimes -- is derived on demand.

Building a cascade checks nothing beyond syntax; :func:`accelsim.ir.verify` checks the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import networkx as nx
import numpy as np

from accelsim.dtypes import element_bytes
from accelsim.errors import SpecError
from accelsim.ir.einsum import Einsum, Tensor
from accelsim.ir.expr import Expr, ExprError, Num, affine, rank_of, render
from accelsim.ir.schedule import Step, build_schedule, dependence_graph, iteration_dim, writers_of
from accelsim.ir.sizes import as_size_expr, check_given, resolve_sizes

if TYPE_CHECKING:
    from accelsim.ir.counts import OpCounts


@dataclass(frozen=True)
class Origin:
    """Where a cascade was read from, to point errors at lines and columns of the file."""

    file: str | None
    positions: Mapping[tuple, tuple[int, int, bool]]
    """Path tuple (``("einsums", 3)``) -> (line, column, whether string columns map onto the
    file's columns, i.e. the string is a one-line scalar)."""

    def relocate(self, error: SpecError) -> SpecError:
        """A copy of ``error`` pointing into the file (column inside strings made file columns)."""
        loc = error.location
        path = loc.path or ""
        key = _path_tuple(path)
        while key and key not in self.positions:
            key = key[:-1]
        if not key:
            return SpecError(error.message, file=loc.file or self.file, path=loc.path)
        line, column, inline = self.positions[key]
        if loc.column is not None and inline and key == _path_tuple(path):
            column = column + loc.column - 1
        return SpecError(error.message, file=loc.file or self.file, path=loc.path, line=line,
                         column=column)


def _path_tuple(path: str) -> tuple:
    parts: list[Any] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


@dataclass(frozen=True)
class Cascade:
    """A named, cited cascade of Einsums (see the module docstring)."""

    name: str
    """Short identifier, e.g. ``attention-1pass``."""
    einsums: tuple[Einsum, ...]
    """The Einsums, in the order they were written (see :attr:`order` for execution order)."""
    ranks: dict[str, Expr | None] = field(default_factory=dict)
    """Rank name -> declared size: None (free), a number (default) or an expression (derived)."""
    tensors: dict[str, Tensor] = field(default_factory=dict)
    """Every tensor by name: the declared ones plus intermediates inferred from their writers."""
    outputs: tuple[str, ...] = ()
    """Tensors the cascade produces; by default those no other Einsum reads."""
    source: str = ""
    """Citation: paper, section, equation or algorithm this cascade transcribes."""
    description: str = ""
    """What the cascade computes, in a sentence or two."""
    dtype: str = "fp32"
    """Element type of tensors that are not declared."""
    origin: Origin | None = field(default=None, compare=False, repr=False)
    """The file and positions this cascade was read from, if any."""

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "einsums", tuple(_as_einsum(e) for e in self.einsums))
        set_(self, "ranks", {str(k): as_size_expr(v) for k, v in dict(self.ranks).items()})
        set_(self, "tensors", self._complete_tensors(_as_tensors(self.tensors, self.dtype)))
        outputs = tuple(self.outputs)
        if not outputs:  # written and read by no other Einsum (an iteration reads itself)
            read = {t for e in self.einsums for t in e.inputs if t != e.name}
            outputs = tuple(dict.fromkeys(e.name for e in self.einsums if e.name not in read))
            outputs = outputs or tuple(e.name for e in self.einsums[-1:])
        set_(self, "outputs", outputs)

    def __hash__(self) -> int:  # equal cascades have equal names and Einsums
        return hash((self.name, self.einsums))

    def _complete_tensors(self, declared: dict[str, Tensor]) -> dict[str, Tensor]:
        tensors = dict(declared)
        for e in self.einsums:
            if e.name not in tensors:
                ranks = _inferred_ranks(e)
                if ranks is None:
                    continue
                tensors[e.name] = Tensor(e.name, ranks, self.dtype)
            state = iteration_dim(e, e.iterate) if e.iterate else None
            if tensors[e.name].state_dim != state:
                tensors[e.name] = replace(tensors[e.name], state_dim=state)
        return tensors

    # ----------------------------------------------------------------- structure
    def einsum(self, name: str) -> Einsum:
        """The Einsum writing tensor ``name``."""
        for e in self.einsums:
            if e.name == name:
                return e
        raise SpecError(f"cascade {self.name} has no Einsum writing {name!r}; it writes "
                        f"{', '.join(e.name for e in self.einsums)}")

    @cached_property
    def writers(self) -> dict[str, int]:
        """Index (into :attr:`einsums`) of the Einsum writing each tensor."""
        return writers_of(self.einsums)

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """Tensors read and never written, in order of first use."""
        read = dict.fromkeys(t for e in self.einsums for t in e.inputs)
        return tuple(t for t in read if t not in self.writers)

    @cached_property
    def intermediates(self) -> tuple[str, ...]:
        """Tensors written by one Einsum for others, that are not outputs."""
        return tuple(e.name for e in self.einsums if e.name not in self.outputs)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """Dependence graph: nodes are Einsum indices, edge ``i -> j`` when j reads i's output
        (edge attribute ``tensors``).  Cycles occur only through declared iterations."""
        return dependence_graph(self.einsums)

    @cached_property
    def schedule(self) -> tuple[Step, ...]:
        """Execution steps: single Einsums and iteration groups, in dependence order."""
        return build_schedule(self.einsums, self.graph)

    @cached_property
    def order(self) -> tuple[int, ...]:
        """A topological order of the Einsums (indices), loop-carried reads aside."""
        return tuple(i for step in self.schedule for i in step.einsums)

    @cached_property
    def lifetimes(self) -> dict[str, tuple[int, int]]:
        """Tensor -> (first, last) position in :attr:`order` of an Einsum reading or writing it."""
        spans: dict[str, tuple[int, int]] = {}
        for position, i in enumerate(self.order):
            e = self.einsums[i]
            for tensor in (e.name, *e.inputs):
                first, _ = spans.get(tensor, (position, position))
                spans[tensor] = (first, position)
        return spans

    # ----------------------------------------------------------------- sizes
    def sizes(self, **given: int) -> dict[str, int]:
        """Integer size of every rank (defaults, then ``given``, then derived sizes)."""
        return resolve_sizes(self.ranks, given)

    def bind(self, **sizes: int) -> "Cascade":
        """A copy with these rank sizes fixed as the new defaults."""
        checked = check_given(self.ranks, sizes)
        ranks = {**self.ranks, **{k: Num(v) for k, v in checked.items()}}
        return replace(self, ranks=ranks)

    def shape(self, tensor: str, **sizes: int) -> tuple[int, ...]:
        """Extent of each dimension of ``tensor`` (a carried rank has one extra element)."""
        return self.tensors[tensor].extents(self.sizes(**sizes))

    # ----------------------------------------------------------------- analyses
    def op_counts(self, **sizes: int) -> OpCounts:
        """Total operation counts by class (see :mod:`accelsim.ir.counts`)."""
        from accelsim.ir.counts import OpCounts
        return sum(self.einsum_op_counts(**sizes), OpCounts())

    def einsum_op_counts(self, **sizes: int) -> list[OpCounts]:
        """Operation counts of each Einsum, in :attr:`einsums` order."""
        resolved = self.sizes(**sizes)
        return [e.op_counts(resolved) for e in self.einsums]

    def compulsory_bytes(self, **sizes: int) -> dict[str, float]:
        """Bytes that must move for the whole cascade: each input read once and each output
        written once (whole tensors); intermediates need not leave the chip and count 0."""
        resolved = self.sizes(**sizes)
        return {t: self.tensors[t].bytes(resolved) for t in (*self.inputs, *self.outputs)}

    def einsum_bytes(self, einsum: int | str, **sizes: int) -> dict[str, float]:
        """Compulsory bytes of one Einsum run alone: every element it reads, once, and every
        element it writes, once (see :func:`accelsim.ir.counts.einsum_footprints`)."""
        from accelsim.ir.counts import einsum_footprints
        index = einsum if isinstance(einsum, int) else self.writers[einsum]
        resolved = self.sizes(**sizes)
        footprints = einsum_footprints(self.einsums[index], self.tensors, resolved)
        return {t: n * element_bytes(self.tensors[t].dtype) for t, n in footprints.items()}

    # ----------------------------------------------------------------- execution and text
    def run(self, inputs: Mapping[str, Any], *, dtype=np.float64, **sizes: int) -> dict:
        """Execute with numpy; returns every tensor the cascade computes (see
        :func:`accelsim.ir.interpret.run`)."""
        from accelsim.ir.interpret import run
        return run(self, inputs, dtype=dtype, **sizes)

    @classmethod
    def from_yaml(cls, path_or_text, *, verify: bool = True) -> "Cascade":
        """Read a cascade from a YAML file path or YAML text (:mod:`accelsim.ir.yaml_format`)."""
        from accelsim.ir.yaml_format import cascade_from_yaml
        return cascade_from_yaml(path_or_text, verify=verify)

    def to_yaml(self) -> str:
        """YAML text that :meth:`from_yaml` reads back to an equal cascade."""
        from accelsim.ir.yaml_format import cascade_to_yaml
        return cascade_to_yaml(self)

    def describe(self) -> str:
        """The Einsums, one per line, in execution order."""
        lines = []
        for step in self.schedule:
            for i in step.einsums:
                e = self.einsums[i]
                note = f"    (iterate {e.iterate}, initial {render(e.initial)})" if e.iterate \
                    else (f"    (in the iteration over {step.iterate})" if step.iterate else "")
                lines.append(f"{e.text}{note}")
        return "\n".join(lines)


def _as_einsum(item) -> Einsum:
    if isinstance(item, Einsum):
        return item
    if isinstance(item, str):
        return Einsum.parse(item)
    raise SpecError(f"an Einsum must be an Einsum or a string, not {type(item).__name__}")


def _as_tensors(tensors, dtype: str) -> dict[str, Tensor]:
    items = tensors.items() if isinstance(tensors, Mapping) else ((t.name, t) for t in tensors)
    result = {}
    for name, spec in items:
        if isinstance(spec, Tensor):
            result[name] = spec
        elif isinstance(spec, Mapping) and "ranks" in spec:
            result[name] = Tensor(name, tuple(spec["ranks"]), spec.get("dtype", dtype))
        elif isinstance(spec, Sequence) and not isinstance(spec, str):
            result[name] = Tensor(name, tuple(spec), dtype)
        else:
            raise SpecError(f"tensor {name}: expected a Tensor, a list of ranks or "
                            f"{{ranks: [...], dtype: ...}}, got {spec!r}")
    return result


def _inferred_ranks(e: Einsum) -> tuple[str, ...] | None:
    ranks = []
    for index in e.output.indices:
        try:
            form = affine(index)
        except ExprError:
            return None
        if len(form.terms) != 1 or form.terms[0][1] != Num(1):
            return None
        ranks.append(rank_of(form.terms[0][0]))
    return tuple(ranks)

