"""The package's top-level names, resolved lazily.

``accelsim.evaluate`` and the others are looked up in :data:`PUBLIC` and imported on first
use, so that ``accelsim --version`` and ``accelsim check`` start fast and the core never pays
for what it does not use.  :mod:`accelsim` installs :func:`__getattr__` and :func:`__dir__`
as its own (PEP 562).
"""

from __future__ import annotations

import importlib
import sys

PUBLIC = {
    "AccelsimError": "accelsim.errors",
    "SpecError": "accelsim.errors",
    "load_spec": "accelsim.spec",
    "check_paths": "accelsim.check",
    "Cascade": "accelsim.ir",
    "Einsum": "accelsim.ir",
    "Tensor": "accelsim.ir",
    "load_cascade": "accelsim.ir",
    "verify": "accelsim.ir",
    "passes": "accelsim.ir",
    "Architecture": "accelsim.arch",
    "load_architecture": "accelsim.arch",
    "Request": "accelsim.lower",
    "BoundEinsum": "accelsim.mapping",
    "Report": "accelsim.model",
    "evaluate": "accelsim.model.api",
    "evaluate_workload": "accelsim.pipeline",
    "load_system": "accelsim.system",
    "Parallelism": "accelsim.system.parallel",
    "evaluate_system": "accelsim.system.parallel",
    "evaluate_offload": "accelsim.system.offload",
}
"""Top-level name -> the module that defines it."""


def __getattr__(name: str):
    module = PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'accelsim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(vars(sys.modules["accelsim"])) | set(PUBLIC))
