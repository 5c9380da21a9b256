"""accelsim: a hardware simulator and design-space explorer for Transformer workloads.

The public API is imported lazily (:mod:`accelsim.public`) so that ``accelsim --version``
and ``accelsim check`` start fast and the core never pays for what it does not use.
"""

from accelsim.public import PUBLIC, __dir__, __getattr__  # noqa: F401  (PEP 562 hooks)

__version__ = "0.1.0"

__all__ = ["__version__", *PUBLIC]
