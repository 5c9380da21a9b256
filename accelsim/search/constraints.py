"""User constraints on the mapspace, as a small ``kind: constraints`` document or dict.

Example (the weight-stationary dataflow ZigZag's shared case fixes, leaving the temporal
mapping free)::

    kind: constraints
    version: 1
    levels:
      - level: O_SRAM
        spatial: [{rank: n, factor: 32, axis: x}]   # this level's spatial loops, exactly
        factors: {m: 4}                             # fixed temporal factors
        order: [m, k]                               # temporal order, outer to inner
        keep: [Z]                                   # exactly the tensors kept here
      - level: O_acc
        spatial: [{rank: k, factor: 32, axis: y}]
    min_utilization: 0.9
    imperfect: false

Ranks are matched case-insensitively (``m`` is rank ``M``); tensors by name.
"""

from __future__ import annotations

import os
from typing import Any, Literal, Optional, Union

from pydantic import Field, ValidationError

from accelsim.errors import SpecError, SpecErrors, format_path
from accelsim.spec.fields import Count, Name, SpecModel
from accelsim.spec.mapping import SpatialLoop
from accelsim.yamlio import read_yaml


class LevelConstraint(SpecModel):
    """What the search must respect at one storage level."""

    level: Name
    """Storage level name, as in the hardware spec."""
    factors: dict[Name, Count] = {}
    """Fixed temporal loop factors by rank (a rank not listed is searched)."""
    spatial: Optional[list[SpatialLoop]] = None
    """This level's spatial loops exactly (an empty list: none); omit to search them."""
    order: Optional[list[Name]] = None
    """Temporal loop order, outer to inner; the listed ranks keep this relative order."""
    keep: Optional[list[Name]] = None
    """Exactly the tensors this level keeps; omit to search keep/bypass choices."""


class Constraints(SpecModel):
    """Constraints on the mapspace of one Einsum."""

    kind: Literal["constraints"] = "constraints"
    """Document type."""
    version: Literal[1] = 1
    """Format version."""
    levels: list[LevelConstraint] = []
    """Per-level constraints (any order)."""
    min_utilization: float = Field(default=0.0, ge=0.0, le=1.0)
    """Smallest share of the main compute unit's instances a mapping keeps busy (its
    operations over its busy cycles at peak, as Timeloop's utilization constraint), not
    the Report's utilization over the whole kernel time."""
    imperfect: bool = False
    """Also search imperfect factorizations (ranks padded to a rounder size, partial tiles)."""


def load_constraints(source: Union[None, str, os.PathLike, dict, Constraints]) -> Constraints:
    """Constraints from None (none), a dict, a YAML file path or a Constraints object."""
    if source is None:
        return Constraints()
    if isinstance(source, Constraints):
        return source
    file = None
    data: Any = source
    if not isinstance(source, dict):
        file = str(source)
        data = read_yaml(source).data
        if not isinstance(data, dict):
            raise SpecError("expected a YAML mapping (kind: constraints)", file=file)
    try:
        return Constraints.model_validate(data)
    except ValidationError as exc:
        raise SpecErrors([SpecError(str(err.get("msg", "invalid value")).removeprefix(
            "Value error, "), file=file, path=format_path(tuple(err.get("loc", ()))) or None)
            for err in exc.errors()]) from None
