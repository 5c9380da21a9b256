"""``kind: sweep``: a design-space sweep over hardware parameters, workloads and phases."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, model_validator

from accelsim.spec.fields import Count, Name, NonNegCount, SpecModel


class SweepSpec(SpecModel):
    """A grid or random sweep; file paths are relative to the sweep file."""

    kind: Literal["sweep"]
    """Document type."""
    version: Literal[1]
    """Format version."""
    name: Name
    """Sweep name."""
    description: str = ""
    """Free text."""
    hardware: Name
    """Base hardware spec file."""
    workloads: list[Name] = Field(min_length=1)
    """Workload spec files."""
    phases: list[Literal["prefill", "decode"]] = ["prefill"]
    """Phases to evaluate."""
    batch: Count = 1
    """Sequences per batch."""
    seq_len: Optional[Count] = None
    """Prompt length (prefill) or KV-cache length (decode); by default 512, or for a ViT
    workload its patches plus the class token."""
    parameters: dict[Name, list[Union[str, float, int]]] = Field(min_length=1)
    """Hardware fields to vary (dotted paths such as 'levels[1].capacity') and their values."""
    mode: Literal["grid", "random"] = "grid"
    """Every combination, or ``samples`` random ones."""
    samples: Optional[Count] = None
    """Number of random points (mode: random)."""
    seed: NonNegCount = 0
    """Random seed (mode: random)."""
    output: Name = "sweep_results.csv"
    """Results file (.csv or .parquet), written as points finish; a relative name is in the
    working directory."""

    @model_validator(mode="after")
    def _samples(self) -> "SweepSpec":
        if self.mode == "random" and self.samples is None:
            raise ValueError("mode 'random' needs 'samples'")
        for key, values in self.parameters.items():
            if not values:
                raise ValueError(f"parameters.{key}: give at least one value")
        return self
