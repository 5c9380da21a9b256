"""``kind: system``: several devices (hardware presets) joined by links.

A system names groups of identical devices (``devices``: a hardware spec file, relative to
the system file, and how many) and the links that join them (``links``): each with the
kind of link (its per-step latencies, see :mod:`accelsim.system.collectives`), the
topology it forms and its bandwidth per device and direction.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from accelsim.spec.fields import Bandwidth, Count, Name, SpecModel


class DeviceGroupSpec(SpecModel):
    """Identical devices of one hardware spec."""

    name: Name
    """Group name, referenced by links (e.g. 'gpu', 'attention')."""
    hardware: Name
    """Hardware spec file of one device, relative to the system file."""
    count: Count = Field(le=1 << 16)
    """Devices in the group."""


class LinkSpec(SpecModel):
    """One interconnect joining some device groups."""

    name: Name
    """Link name (e.g. 'nvlink3')."""
    kind: Literal["nvlink", "pcie", "network"]
    """The kind of link: it sets the per-step latencies of a collective over it."""
    topology: Literal["ring", "fully_connected", "switch"]
    """ring: each device to its two neighbours; fully_connected: a link between every pair;
    switch: each device to one port of a switch that joins them all."""
    bandwidth: Bandwidth
    """Bandwidth per direction of one link between two devices (ring, fully_connected) or of
    one device's switch port (switch), e.g. '300 GB/s'."""
    groups: list[Name] = Field(default_factory=list)
    """Device groups the link joins; empty: every group."""


class SystemSpec(SpecModel):
    """Devices and the links between them."""

    kind: Literal["system"]
    """Document type."""
    version: Literal[1]
    """Format version."""
    name: Name
    """System name."""
    description: str = ""
    """Free text; sources of every number."""
    devices: list[DeviceGroupSpec] = Field(min_length=1)
    """Groups of identical devices."""
    links: list[LinkSpec] = Field(min_length=1)
    """Interconnects."""

    @model_validator(mode="after")
    def _names(self) -> "SystemSpec":
        groups = [d.name for d in self.devices]
        if len(set(groups)) != len(groups):
            raise ValueError(f"device group names must differ, got {groups}")
        links = [lk.name for lk in self.links]
        if len(set(links)) != len(links):
            raise ValueError(f"link names must differ, got {links}")
        for i, link in enumerate(self.links):
            unknown = [g for g in link.groups if g not in groups]
            if unknown:
                raise ValueError(f"links[{i}].groups names unknown device group(s) "
                                 f"{', '.join(unknown)}; the groups are {', '.join(groups)}")
        return self
