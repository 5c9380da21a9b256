"""The machine in working units, built from a validated :class:`~accelsim.spec.HardwareSpec`.

Public API::

    arch = load_architecture("hw_configs/h100-sxm5-80gb.yaml")   # read, validate, convert
    arch = Architecture.from_spec(spec, file=path)
    arch.levels[i]            # ArchLevel: bytes, bytes per cycle, pJ per block access
    arch.level_index("L2"); arch.unit_for("mac"); arch.keepers(tensor, role)

The conversions from quantities with units to plain numbers live in
:mod:`accelsim.arch.machine`.  A level's keep and bypass lists may name tensors or roles
(:data:`ROLES`).
"""

from accelsim.arch.machine import (LAUNCH_MODES, ArchLevel, Architecture, ComputeUnit,
                                   load_architecture)
from accelsim.dtypes import ROLES

__all__ = ["LAUNCH_MODES", "ArchLevel", "Architecture", "ComputeUnit", "ROLES",
           "load_architecture"]
