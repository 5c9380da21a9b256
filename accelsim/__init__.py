"""accelsim: a hardware simulator and design-space explorer for Transformer workloads.

The public API is imported lazily so that ``accelsim --version`` and ``accelsim check``
start fast and the core never pays for what it does not use.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
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
}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'accelsim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_PUBLIC))


__all__ = ["__version__", *_PUBLIC]
