"""What a search takes and what it gives back.

* Targets: a BoundEinsum (accelsim.mapping) for one Einsum, a :class:`FusedGroup` (Einsums
  of a cascade run as one fused kernel) or a :class:`BoundCascade` (a whole cascade, to be
  partitioned into fused groups).
* :data:`Objective` and :class:`SearchOptions`: what a search minimizes and how it runs.
* Results: :class:`SearchResult` (one Einsum or one group, with its :class:`ParetoPoint`
  front), :class:`GroupResult` (one kernel of a partition) and :class:`CascadeResult`
  (the best partition of a cascade).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, Callable, Mapping, NamedTuple, Union

from accelsim.ir import Cascade, Einsum
from accelsim.ir.sizes import is_derived
from accelsim.mapping import BoundEinsum
from accelsim.model import Report, default_roles
from accelsim.spec.mapping import MappingSpec

Objective = Union[str, Mapping[str, float]]
"""A named objective (accelsim.search.driver.OBJECTIVES) or weights of log(metric)."""


class Progress(NamedTuple):
    """What a single-Einsum search's callback sees after each batch."""

    evaluated: int
    considered: int
    elapsed_s: float
    best_score: float


@dataclass(frozen=True)
class SearchOptions:
    """How a search runs, besides its target, machine and objective."""

    strategy: str = "anneal"
    """A strategy of accelsim.search.strategies.STRATEGIES."""
    budget: int | None = None
    """Mappings evaluated (per member search for a group or a cascade); None: the default
    of the target's search."""
    budget_seconds: float | None = None
    """Seconds a single-Einsum search may run."""
    seed: int = 0
    progress: bool = True
    """Show a progress bar."""
    callback: Callable[[Progress], None] | None = None
    """Called after every batch of a single-Einsum search; KeyboardInterrupt raised from it
    ends the search with the best mapping so far."""
    bound: bool = True
    """Compute the off-chip traffic lower bound of the result."""

    @classmethod
    def merge(cls, options: SearchOptions | None, knobs: Mapping[str, Any]) -> SearchOptions:
        """``options`` (or the defaults) with the fields named in ``knobs`` replaced; an
        unknown name is a TypeError that lists the valid ones."""
        names = [f.name for f in fields(cls)]
        unknown = [k for k in knobs if k not in names]
        if unknown:
            raise TypeError(f"unknown search option{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))}; expected among "
                            f"{', '.join(names)}")
        return replace(options or cls(), **knobs)


@dataclass(frozen=True)
class FusedGroup:
    """Einsums of a cascade (by output name, in cascade order) to run as one fused kernel."""

    cascade: Cascade
    members: tuple[str, ...]
    sizes: Mapping[str, int]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    def einsums(self) -> list[Einsum]:
        return list(self._einsums)

    @cached_property
    def _einsums(self) -> tuple[Einsum, ...]:
        return tuple(self.cascade.einsum(name) for name in self.members)

    @cached_property
    def given(self) -> dict[str, int]:
        """The sizes of the cascade's free ranks (derived ones follow from them)."""
        ranks = self.cascade.ranks
        return {k: int(v) for k, v in self.sizes.items()
                if k in ranks and not is_derived(ranks[k])}

    @cached_property
    def full_sizes(self) -> dict[str, int]:
        return self.cascade.sizes(**self.given)

    def bound(self, einsum: Einsum, sizes: Mapping[str, int] | None = None) -> BoundEinsum:
        return BoundEinsum(einsum, dict(sizes or self.full_sizes), self.all_dtypes,
                           self.all_roles)

    @cached_property
    def all_dtypes(self) -> dict[str, str]:
        return {t: x.dtype for t, x in self.cascade.tensors.items()} | dict(self.dtypes)

    @cached_property
    def all_roles(self) -> dict[str, str]:
        return default_roles(self.cascade) | dict(self.roles)

    def internal(self) -> tuple[str, ...]:
        """Tensors written and read inside the group and nowhere else: kept on chip."""
        return self._internal

    @cached_property
    def _internal(self) -> tuple[str, ...]:
        written = set(self.members)
        outside = {t for e in self.cascade.einsums if e.name not in written for t in e.inputs}
        return tuple(name for name in self.members
                     if name not in self.cascade.outputs and name not in outside
                     and any(name in e.inputs for e in self.einsums()))

    def held(self, einsum: Einsum) -> frozenset[str]:
        """Tensors of a member the group keeps on chip: the group's intermediates and what
        the member reads that another member writes."""
        written = set(self.members) - {einsum.name}
        return frozenset(set(self.internal()) | (set(einsum.inputs) & written))

    def read_before(self, einsum: Einsum) -> frozenset[str]:
        """Group inputs (written by no member) that a member before ``einsum`` reads: a
        mapping may keep them on chip for it (accelsim.mapping.group), so a bound on any
        mapping counts them once."""
        earlier = self.members[:self.members.index(einsum.name)]
        return frozenset(t for name in earlier for t in self.cascade.einsum(name).inputs
                         if t not in self.members and t in einsum.inputs)

    def row_ranks(self) -> tuple[str, ...]:
        """Ranks every member has in its output, in the last member's output order."""
        return self._row_ranks

    @cached_property
    def _row_ranks(self) -> tuple[str, ...]:
        out_ranks = [set(_output_ranks(e)) for e in self.einsums()]
        common = set.intersection(*out_ranks) if out_ranks else set()
        return tuple(r for r in _output_ranks(self.einsums()[-1]) if r in common)

    @cached_property
    def block_rank(self) -> str | None:
        """The rank an iterative member carries its state along (the key blocks m1 of a
        1-pass attention cascade), when it is not a row rank: a shared loop over it, inside
        the row loops, streams the blocks through the group one at a time."""
        for einsum in self.einsums():
            if einsum.iterate is None:
                continue
            for rank in einsum.ranks:
                if rank.lower() == einsum.iterate.lower() and rank not in self.row_ranks():
                    return rank
        return None

    @cached_property
    def stream_ranks(self) -> tuple[str, ...]:
        """With a block rank: the other ranks of the carried state's output that the group
        writes out (the query rows p of attention), though not every member has them.  A
        shared loop over them sits outside the block loop; members without them (the
        blocked copies of K and V) run again for each of their tiles, as FlashAttention
        streams K and V once per block of queries."""
        if self.block_rank is None:
            return ()
        carried = [e for e in self.einsums() if e.iterate is not None]
        last = _output_ranks(self.einsums()[-1])
        return tuple(r for r in last if r not in self.row_ranks() and r != self.block_rank
                     and all(r in _output_ranks(e) for e in carried))


def _output_ranks(einsum: Einsum) -> list[str]:
    out = einsum.accesses()[0]
    ranks = []
    for proj in out.dims:
        for _, r in proj.terms:
            if r not in ranks:
                ranks.append(r)
    return ranks


@dataclass(frozen=True)
class BoundCascade:
    """A cascade with its rank sizes, element types and tensor roles fixed."""

    cascade: Cascade
    sizes: Mapping[str, int]
    dtypes: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    kernel_ends: frozenset = frozenset()
    """Einsums whose output must leave the chip (a tensor-parallel all-reduce follows them):
    a fused group may end with one, never continue past it."""

    def group(self, members) -> FusedGroup:
        return FusedGroup(self.cascade, tuple(members), self.sizes, self.dtypes, self.roles)


@dataclass(frozen=True)
class ParetoPoint:
    """One mapping of the energy/latency Pareto front of the evaluated mappings."""

    energy_pj: float
    latency_s: float
    offchip_bytes: float
    mapping: MappingSpec


@dataclass(frozen=True)
class SearchResult:
    """The outcome of searching one Einsum or one fused group."""

    mapping: MappingSpec
    """The best mapping found."""
    report: Report
    """Its full evaluation (accelsim.model.evaluate)."""
    objective: dict[str, float]
    """The objective as weights of log(energy), log(latency), log(traffic)."""
    pareto: tuple[ParetoPoint, ...]
    """Energy/latency Pareto front of the evaluated mappings, by increasing energy."""
    evaluated: int
    """Mappings counted by the kernels (the budget counts these)."""
    considered: int
    """Candidates proposed, including those the capacity pre-check pruned."""
    elapsed_s: float
    """Seconds spent searching (the bound is computed afterwards)."""
    strategy: str
    seed: int
    interrupted: bool
    """True when Ctrl-C (KeyboardInterrupt) ended the search early."""
    offchip_bound_bytes: float | None
    """The least off-chip traffic of any mapping with this machine's on-chip capacity
    (accelsim.search.bound); None when the Einsum is not GEMM-like."""
    bound_note: str

    @property
    def found_over_bound(self) -> float | None:
        """The best mapping's off-chip traffic / the lower bound (>= 1)."""
        if not self.offchip_bound_bytes:
            return None
        return self.report.offchip_bytes / self.offchip_bound_bytes


@dataclass(frozen=True)
class GroupResult:
    """The best mapping found for one fused group (or one Einsum, when unfused)."""

    members: tuple[str, ...]
    mapping: MappingSpec
    report: Report
    on_chip: tuple[str, ...]
    """Intermediates that never leave the chip."""
    tiles: dict[str, int]
    """Row rank -> the tile of the shared loops (empty when unfused)."""
    tried: tuple[tuple[Report, MappingSpec], ...] = ()
    """Every group mapping evaluated exactly (for the Pareto front)."""


@dataclass(frozen=True)
class CascadeResult:
    """The best partition of a cascade into fused groups, with each group's mapping."""

    groups: tuple[GroupResult, ...]
    energy_pj: float
    latency_s: float
    offchip_bytes: float
    unfused_energy_pj: float
    unfused_latency_s: float
    unfused_offchip_bytes: float
    evaluated: int
    candidates: int
    """Candidate groups evaluated (besides the Einsums alone)."""
    elapsed_s: float
    interrupted: bool
    offchip_bound_bytes: float | None = None
    """Least off-chip bytes of the cascade under any fusion
    (accelsim.search.group_bound.cascade_bound)."""

    @property
    def found_over_bound(self) -> float | None:
        if not self.offchip_bound_bytes:
            return None
        return self.offchip_bytes / self.offchip_bound_bytes

    @property
    def on_chip(self) -> tuple[str, ...]:
        return tuple(t for g in self.groups for t in g.on_chip)
