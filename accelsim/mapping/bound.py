"""An Einsum bound to sizes, element types and roles, and its loop-analysis problem.

Projections are translated for the loop analysis: offsets are dropped (they shift a tile,
not its size); a blocked index ``c*m1 + m0`` whose inner rank never reaches ``c`` is one
index split in two, so it becomes two dimensions; guards (``where``) are not modelled:
guarded-out points are counted as if they moved data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping as TMapping

from accelsim.cost.nest import Problem, Projection
from accelsim.cost.nest import Tensor as NestTensor
from accelsim.dtypes import BYTES_PER_ELEMENT
from accelsim.ir import Einsum


@dataclass(frozen=True)
class BoundEinsum:
    """An Einsum with its rank sizes, element types and tensor roles fixed."""

    einsum: Einsum
    sizes: TMapping[str, int]
    dtypes: TMapping[str, str]
    """Tensor name -> element type."""
    roles: TMapping[str, str]
    """Tensor name -> input | weight | output | intermediate."""

    @property
    def ranks(self) -> dict[str, int]:
        return self.einsum.space(self.sizes)

    def bytes_per_element(self, tensor: str) -> float:
        return BYTES_PER_ELEMENT[self.dtypes.get(tensor, "fp32")]


def einsum_problem(bound: BoundEinsum) -> Problem:
    """The loop-analysis problem of an Einsum: its ranks and each tensor's projections."""
    ranks = bound.ranks
    tensors = []
    for access in bound.einsum.accesses(bound.sizes):
        dims: list[Projection] = []
        for proj in access.dims:
            dims.extend(_split_blocked(proj, ranks))
        read_write = access.mode != "read"
        tensors.append(NestTensor(access.tensor, tuple(dims), read_write=read_write,
                                  bytes_per_element=bound.bytes_per_element(access.tensor)))
    merged: dict[str, NestTensor] = {}
    for tensor in tensors:       # a tensor both read and written (iterations) is one read-write
        old = merged.get(tensor.name)
        merged[tensor.name] = tensor if old is None or tensor.read_write else old
    return Problem(ranks, tuple(merged.values()))


def _split_blocked(proj, ranks: dict[str, int]) -> list[Projection]:
    terms = [(int(c), r) for c, r in proj.terms if int(c) != 0]
    if len(terms) == 2:
        (c0, r0), (c1, r1) = sorted(terms, key=lambda t: -t[0])
        if c1 == 1 and c0 >= ranks[r1] and c0 > 1:
            return [Projection(((1, r0),)), Projection(((1, r1),))]
    return [Projection(tuple(terms))]
