"""Validation: accelsim's predictions against kernels that really run.

* :mod:`accelsim.validate.traffic` counts the bytes Triton kernels move between global memory
  and their programs, exactly, by running them in Triton's CPU interpreter with the load and
  store paths instrumented; :mod:`accelsim.validate.cases` compares those counts with the
  off-chip traffic accelsim predicts for the equivalent mappings
  (:mod:`accelsim.validate.kernels` holds the kernels and their mappings).
* :mod:`accelsim.validate.cpu` measures this machine (``calibrate``) and compares accelsim's
  latency predictions with timed PyTorch CPU operators (``validate``).
* :mod:`accelsim.validate.gpu` is the same harness with CUDA events (and Nsight Compute DRAM
  bytes where ``ncu`` is installed).
* :mod:`accelsim.validate.published` compares accelsim with measurements published in papers
  (``tests/data/published``).
* :mod:`accelsim.validate.output` renders every comparison as a table, JSON and a scatter plot.

torch and triton are imported lazily, inside the functions that need them (and at module level
only in :mod:`accelsim.validate.kernels`' modules, which nothing in the core imports), so
``import accelsim`` and ``import accelsim.validate`` work on a machine without them.
"""

from __future__ import annotations
