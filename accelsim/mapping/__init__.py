"""Bind an Einsum, a hardware description and a mapping into a :class:`LoopNest`.

The bridge between the IR (what is computed), the architecture (where data can live) and the
mapping spec (the loop nest the user or a mapper chose).  Every problem a user can cause is
a :class:`~accelsim.errors.SpecError` that names the mapping file and the field, e.g.
``mappings/x.yaml: levels[3].spatial[0].factor: 64 instances along x, O_acc has 32``.

Public API::

    bound = BoundEinsum(einsum, sizes, dtypes, roles)     # accelsim.mapping.bound
    einsum_problem(bound)                 # the loop-analysis Problem: ranks, projections
    nest = build_nest(bound, arch, mapping_spec, file)    # accelsim.mapping.nest
    precheck_capacity(nest, arch, file)   # CapacityError before counting (mapping.capacity)
    tile_elements(nest, level, tensor)    # largest tile of a tensor at a level

Fused groups (several Einsums under shared loops) are built by
:func:`accelsim.mapping.group.build_group_nests`.
"""

from accelsim.mapping.bound import BoundEinsum, einsum_problem
from accelsim.mapping.capacity import precheck_capacity, tile_elements
from accelsim.mapping.nest import build_nest

__all__ = ["BoundEinsum", "build_nest", "einsum_problem", "precheck_capacity", "tile_elements"]
