"""Systems of several devices joined by links, and the collectives that run over them.

Public API::

    system = load_system("hw_configs/systems/dgx-a100.yaml")
    system.collective("all_reduce", 1 << 30)        # Collective: time_s, algbw, busbw
    collective("all_gather", size, n, Link("nvlink", "switch", 300e9))

The formulas live in :mod:`accelsim.system.collectives`.
"""

from accelsim.system.collectives import ALGORITHMS, OPS, Collective, Link, collective
from accelsim.system.machine import DeviceGroup, System, SystemLink, load_system

__all__ = ["ALGORITHMS", "OPS", "Collective", "DeviceGroup", "Link", "System", "SystemLink",
           "collective", "load_system"]
