"""A system in working units: device groups (each an Architecture) and links.

Built from a validated :class:`~accelsim.spec.system.SystemSpec`; each device group's
hardware file is read relative to the system file, and a problem in it is reported at the
system's field (``devices[1].hardware``) as well as in the hardware file itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from accelsim.arch import Architecture, load_architecture
from accelsim.errors import AccelsimError, SpecError
from accelsim.system.collectives import Collective, Link, collective


@dataclass(frozen=True)
class DeviceGroup:
    """Identical devices."""

    name: str
    arch: Architecture
    count: int


@dataclass(frozen=True)
class SystemLink:
    """An interconnect joining some groups."""

    name: str
    link: Link
    groups: tuple[str, ...]


@dataclass(frozen=True)
class System:
    """Devices and links (see the module docstring)."""

    name: str
    groups: tuple[DeviceGroup, ...]
    links: tuple[SystemLink, ...]
    file: str | None = None

    @classmethod
    def from_spec(cls, spec, file: str | None = None) -> "System":
        base = os.path.dirname(os.path.abspath(file)) if file else os.getcwd()
        groups = []
        for i, group in enumerate(spec.devices):
            path = os.path.join(base, group.hardware)
            if not os.path.exists(path):
                raise SpecError(f"no hardware spec at {group.hardware!r} (read relative to "
                                "the system file)", file=file, path=f"devices[{i}].hardware")
            try:
                arch = load_architecture(path)
            except AccelsimError as exc:
                raise SpecError(f"its hardware spec is not valid: {exc}", file=file,
                                path=f"devices[{i}].hardware") from None
            groups.append(DeviceGroup(group.name, arch, group.count))
        names = tuple(g.name for g in groups)
        links = tuple(SystemLink(lk.name, Link(lk.kind, lk.topology, lk.bandwidth.value),
                                 tuple(lk.groups) or names) for lk in spec.links)
        return cls(spec.name, tuple(groups), links, file)

    def group(self, name: str | None = None) -> DeviceGroup:
        """The group called ``name`` (None: the first)."""
        if name is None:
            return self.groups[0]
        for group in self.groups:
            if group.name == name:
                return group
        raise SpecError(f"no device group {name!r} in {self.name}; its groups are "
                        f"{', '.join(g.name for g in self.groups)}", file=self.file)

    def index(self, name: str) -> int:
        """Position of group ``name`` in the system file's ``devices`` list."""
        return [g.name for g in self.groups].index(self.group(name).name)

    def link_of(self, *groups: str) -> SystemLink:
        """The link that joins every one of ``groups`` and names the fewest groups (a
        group's own link before a network that joins it to others)."""
        for link in sorted(self.links, key=lambda lk: len(lk.groups)):
            if all(g in link.groups for g in groups):
                return link
        raise SpecError(f"no link of {self.name} joins {', '.join(groups)}", file=self.file,
                        path="links")

    def collective(self, op: str, size_bytes: float, devices: int | None = None,
                   group: str | None = None, algorithm: str = "ring") -> Collective:
        """Time of ``op`` among ``devices`` devices of ``group`` (default: all of it)."""
        found = self.group(group)
        n = found.count if devices is None else devices
        if not 1 <= n <= found.count:
            raise SpecError(f"a collective over {n} devices, but group {found.name!r} has "
                            f"{found.count}", file=self.file, path="devices")
        return collective(op, size_bytes, n, self.link_of(found.name).link, algorithm)


def load_system(path: str) -> System:
    """Read, validate and convert a system spec file."""
    from accelsim.spec.load import load_spec

    return System.from_spec(load_spec(path, kind="system"), file=str(path))
