"""The dependence graph of a cascade and the order its Einsums execute in.

Einsum ``j`` depends on Einsum ``i`` when ``j`` reads the tensor ``i`` writes.  The graph may
contain cycles only through a declared iteration: in FuseMax's 1-pass cascade ``SPD[m1,p]``
reads ``RD[m1,p]`` and ``RD[m1+1,p]`` reads ``SPD[m1,p]``.  Such a strongly connected group is
executed *step by step* along the iterated rank variable: at step ``t`` every member is
evaluated at ``m1 = t``.  A read inside the group is either *loop-carried* (it reads a value
written at an earlier step, or the initial value) or *same-step* (written earlier in the same
step); same-step reads order the members inside a step and must not form a cycle.  Reading a
value of a later step is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import networkx as nx

from accelsim.errors import SpecError
from accelsim.ir.einsum import Einsum
from accelsim.ir.expr import ExprError, Num, affine, render


@dataclass(frozen=True)
class Step:
    """A unit of execution: one Einsum, or an iteration group stepped along ``iterate``."""

    einsums: tuple[int, ...]
    """Indices into ``cascade.einsums``, in the order they run (within one step for groups)."""
    iterate: str | None = None
    """Rank variable stepped through, for an iteration group; None for a single Einsum."""


def writers_of(einsums: Sequence[Einsum]) -> dict[str, int]:
    """Index of the (first) Einsum writing each tensor."""
    found: dict[str, int] = {}
    for i, e in enumerate(einsums):
        found.setdefault(e.name, i)
    return found


def dependence_graph(einsums: Sequence[Einsum]) -> nx.DiGraph:
    """Nodes are Einsum indices; an edge i -> j lists the tensors j reads from i."""
    graph = nx.DiGraph()
    writers = writers_of(einsums)
    for i, e in enumerate(einsums):
        graph.add_node(i, einsum=e, name=e.name)
    for j, e in enumerate(einsums):
        for tensor in e.inputs:
            i = writers.get(tensor)
            if i is None:
                continue
            if graph.has_edge(i, j):
                graph.edges[i, j]["tensors"].append(tensor)
            else:
                graph.add_edge(i, j, tensors=[tensor])
    return graph


def build_schedule(einsums: Sequence[Einsum], graph: nx.DiGraph) -> tuple[Step, ...]:
    """Execution steps in dependence order; raises :class:`SpecError` on an illegal cycle."""
    components = list(nx.strongly_connected_components(graph))
    condensed = nx.condensation(graph, components)
    steps = []
    for node in nx.lexicographical_topological_sort(
            condensed, key=lambda n: min(condensed.nodes[n]["members"])):
        members = sorted(condensed.nodes[node]["members"])
        cyclic = len(members) > 1 or graph.has_edge(members[0], members[0])
        if cyclic:
            steps.append(_iteration_step(einsums, graph, members))
        elif einsums[members[0]].iterate:
            steps.append(Step((members[0],), einsums[members[0]].iterate))
        else:
            steps.append(Step((members[0],)))
    return tuple(steps)


def iteration_dim(einsum: Einsum, variable: str) -> int | None:
    """Output dimension carried by an iteration over ``variable``: the one indexed ``v+1`` if
    the Einsum is iterative, else the one indexed ``v``."""
    wanted_offset = 1 if einsum.iterate == variable else 0
    for d, index in enumerate(einsum.output.indices):
        try:
            form = affine(index)
        except ExprError:
            continue
        if len(form.terms) == 1 and form.terms[0][0] == variable and form.terms[0][1] == Num(1) \
                and form.offset == Num(wanted_offset):
            return d
    return None


def _names(einsums, members) -> str:
    return ", ".join(einsums[i].name for i in members)


def _iteration_step(einsums, graph, members) -> Step:
    iterative = [i for i in members if einsums[i].iterate]
    if not iterative:
        cycle = nx.find_cycle(graph.subgraph(members))
        path = " -> ".join(einsums[a].name for a, _ in cycle) + f" -> {einsums[cycle[0][0]].name}"
        raise SpecError(f"Einsums {_names(einsums, members)} form a dependence cycle ({path}) "
                        "that no declared iteration breaks; declare the recurrence with "
                        "'iterate:' and 'initial:'", path=f"einsums[{members[0]}]")
    variables = sorted({einsums[i].iterate for i in iterative})
    if len(variables) > 1:
        raise SpecError(f"Einsums {_names(einsums, members)} depend on each other but iterate "
                        f"over different ranks ({', '.join(variables)})",
                        path=f"einsums[{iterative[0]}]")
    v = variables[0]
    dims = {}
    for i in members:
        dims[i] = iteration_dim(einsums[i], v)
        if dims[i] is None:
            want = f"{v}+1" if einsums[i].iterate else v
            raise SpecError(f"Einsum {einsums[i].name} is part of the iteration over {v} (with "
                            f"{_names(einsums, [m for m in members if m != i]) or 'itself'}) but "
                            f"no output index is {want}", path=f"einsums[{i}]")
    same_step = nx.DiGraph()
    same_step.add_nodes_from(members)
    for j in members:
        for access in einsums[j].reads:
            producers = [i for i in members if einsums[i].name == access.tensor]
            if producers:
                _classify_read(einsums, producers[0], j, access, dims[producers[0]], v, same_step)
    if not nx.is_directed_acyclic_graph(same_step):
        cycle = nx.find_cycle(same_step)
        names = " -> ".join(einsums[a].name for a, _ in cycle)
        raise SpecError(f"Einsums {names} read each other within the same step of the iteration "
                        f"over {v}; one of the reads must be of the previous step",
                        path=f"einsums[{cycle[0][0]}]")
    order = tuple(nx.lexicographical_topological_sort(same_step))
    return Step(order, v)


def _classify_read(einsums, i, j, access, dim, v, same_step) -> None:
    producer, consumer = einsums[i], einsums[j]
    where = f"Einsum {consumer.name}, column {access.column} of {consumer.text!r}"
    if dim >= len(access.indices):
        return  # wrong number of indices: reported by verify
    index = access.indices[dim]
    try:
        form = affine(index)
    except ExprError:
        return  # reported by verify
    ok = (len(form.terms) == 1 and form.terms[0][0] == v and form.terms[0][1] == Num(1)
          and isinstance(form.offset, Num) and isinstance(form.offset.value, int))
    if not ok:
        raise SpecError(f"{where}: index {dim} of {access.tensor} is {render(index, True)}; "
                        f"inside the iteration over {v} it must be {v} plus a constant",
                        path=f"einsums[{j}]", column=access.column)
    written_at = form.offset.value - (1 if producer.iterate else 0)
    if written_at > 0:
        raise SpecError(f"{where}: {render(access)} reads a value the iteration over {v} "
                        f"computes {written_at} step(s) later", path=f"einsums[{j}]",
                        column=access.column)
    if written_at == 0:
        if i == j:
            raise SpecError(f"{where}: {render(access)} reads the element this Einsum is "
                            "writing", path=f"einsums[{j}]", column=access.column)
        same_step.add_edge(i, j)
