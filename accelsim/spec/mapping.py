"""``kind: mapping``: a loop nest for one Einsum or a fused group of Einsums."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from accelsim.dtypes import ROLES
from accelsim.spec.fields import Count, Name, SpecModel


class TemporalLoop(SpecModel):
    """A temporal loop: ``rank`` iterated ``factor`` times at this level."""

    rank: Name
    """Rank variable of the Einsum (e.g. 'm')."""
    factor: Count
    """Trip count; need not divide the rank (the last tile is then partial)."""


class SpatialLoop(SpecModel):
    """A spatial loop: ``rank`` spread over ``factor`` instances along a mesh axis."""

    rank: Name
    """Rank variable spread across instances."""
    factor: Count
    """Number of instances used."""
    axis: Literal["x", "y"] = "x"
    """Mesh axis of the child level's instances."""


class LevelMapping(SpecModel):
    """The loops a storage level owns and the tensors it keeps."""

    level: Name
    """Storage level name, as in the hardware spec."""
    temporal: list[TemporalLoop] = []
    """Temporal loops, outer to inner."""
    spatial: list[SpatialLoop] = []
    """Spatial loops fanning out to the instances below this level."""
    keep: Optional[list[Name]] = None
    """Tensors held at this level; omit to keep every tensor the hardware allows."""


class MappingSpec(SpecModel):
    """A mapping of one Einsum (``einsum`` + ``levels``) or of a fused group."""

    kind: Literal["mapping"]
    """Document type."""
    version: Literal[1]
    """Format version."""
    name: Name
    """Mapping name."""
    description: str = ""
    """What this mapping represents (e.g. 'FlashAttention-2, Br=Bc=64')."""
    einsum: Optional[Name] = None
    """The Einsum (by output tensor name) this mapping applies to."""
    levels: list[LevelMapping] = []
    """Per-level loops, outer to inner (single-Einsum mappings)."""
    group: Optional[list[Name]] = Field(default=None, min_length=1)
    """Einsums fused under shared loops (fused mappings)."""
    shared: list[LevelMapping] = []
    """Loops shared by every Einsum of the group, outer to inner."""
    einsums: dict[Name, list[LevelMapping]] = {}
    """Each group member's own inner loops, below the shared ones."""
    roles: dict[Name, Literal[ROLES]] = {}
    """Roles of tensors, for hardware levels that keep or bypass by role (e.g. B: weight);
    by default an Einsum's output is 'output' and what it reads is 'input'."""

    @model_validator(mode="after")
    def _one_form(self) -> "MappingSpec":
        if (self.einsum is None) == (self.group is None):
            raise ValueError("give either 'einsum' with 'levels' or 'group' with 'shared' and 'einsums'")
        if self.group is not None:
            extra = set(self.einsums) - set(self.group)
            if extra:
                raise ValueError(f"einsums: {sorted(extra)} are not in the group {self.group}")
        return self
