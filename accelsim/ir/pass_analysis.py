"""How many passes a cascade must make over one rank's data (FuseMax, Nayak et al., Section 3).

A *pass* over rank ``R`` is a traversal of R's elements.  A cascade needs another pass when a
reduction over *all* of R feeds an Einsum that again iterates over R's elements: the reduced
value is not known until the previous traversal has ended.  The count is derived from the
dependence structure, never from a label:

* R's *element variables* are ``r`` itself plus every variable of an index into a dimension of
  rank R (``m1`` and ``m0`` in ``K[e,m1*M0+m0]``); each such index gives one *decomposition*
  of R (``{m}``, or ``{m1, m0}``).
* An Einsum *traverses* R if its iteration space contains a whole decomposition.
* A tensor is *ready* in the first pass in which a traversal may consume it at the element it
  is traversing.  Inputs are ready from the start.  An Einsum runs in the latest pass any of
  its reads is ready in (at least pass 1 if it traverses).  Its output is ready in the same
  pass if it still has a dimension indexed by an element variable (streamed along with the
  traversal: blockwise partial reductions such as ``LM[m1,p] = max(m0) ...`` and iterations
  carried along ``m1`` are of this kind), and in the *next* pass if it reduced every element
  variable away (a full reduction such as ``GM[p] = max(m) QK[m,p]``).
* Reading a tensor at a constant index along one of its element dimensions (the final state
  ``RNV[f,M1,p]`` of an iteration) waits for the traversal that produced it to end: next pass.

The number of passes is the latest pass of any traversing Einsum: 3 for the 3-pass softmax
cascade, 2 for the deferred-division cascade, 1 for FuseMax's and FlashAttention-2's.
"""

from __future__ import annotations

from accelsim.errors import SpecError
from accelsim.ir.cascade import Cascade
from accelsim.ir.expr import ExprError, affine, variable_of


def element_decompositions(cascade: Cascade, rank: str) -> list[frozenset[str]]:
    """Sets of rank variables that together enumerate the elements of ``rank``."""
    found: list[frozenset[str]] = []
    var = variable_of(rank)
    if any(var in e.variables for e in cascade.einsums):
        found.append(frozenset({var}))
    for e in cascade.einsums:
        for access in (e.output, *e.reads):
            tensor = cascade.tensors.get(access.tensor)
            if tensor is None:
                continue
            for index, dim_rank in zip(access.indices, tensor.ranks):
                if dim_rank != rank:
                    continue
                try:
                    variables = frozenset(affine(index).variables)
                except ExprError:
                    continue
                if variables and variables not in found:
                    found.append(variables)
    return found


def passes(cascade: Cascade, rank: str) -> int:
    """Number of passes ``cascade`` must make over the data of ``rank`` (e.g. ``"M"``)."""
    if rank not in cascade.ranks:
        raise SpecError(f"unknown rank {rank!r}; cascade {cascade.name} has ranks "
                        f"{', '.join(cascade.ranks)}")
    decompositions = element_decompositions(cascade, rank)
    if not decompositions:
        raise SpecError(f"no Einsum of cascade {cascade.name} iterates over the elements of "
                        f"rank {rank}")
    element_vars = frozenset().union(*decompositions)
    ready: dict[str, int] = {}
    deepest = 0
    for step in cascade.schedule:
        rounds = 2 if step.iterate else 1  # a second round sees loop-carried reads
        for _ in range(rounds):
            for i in step.einsums:
                deepest = max(deepest, _place(cascade, i, decompositions, element_vars, ready))
    return deepest


def _place(cascade, i, decompositions, element_vars, ready) -> int:
    """Record when Einsum ``i``'s output is ready; return its pass if it traverses, else 0."""
    e = cascade.einsums[i]
    space = set(e.variables)
    traverses = any(d <= space for d in decompositions)
    need = max((_read_ready(cascade, a, element_vars, ready) for a in e.reads), default=0)
    current = max(1, need) if traverses else need
    keeps_elements = bool(set(e.output_variables) & element_vars)
    reduces_elements = bool(space & element_vars) and not keeps_elements
    ready[e.name] = max(1, current) + 1 if reduces_elements else current
    return current if traverses else 0


def _read_ready(cascade, access, element_vars, ready) -> int:
    base = ready.get(access.tensor, 0)
    tensor = cascade.tensors.get(access.tensor)
    if tensor is None or access.tensor not in cascade.writers:
        return base
    for index, dim_rank in zip(access.indices, tensor.ranks):
        if variable_of(dim_rank) not in element_vars:
            continue
        try:
            variables = set(affine(index).variables)
        except ExprError:
            continue
        if not variables:
            return max(1, base) + 1  # the final value of a traversal along this dimension
    return base

