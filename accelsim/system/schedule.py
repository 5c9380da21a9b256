"""Two streams per device: compute and communication, and when each operation runs.

A tensor-parallel layer is a chain of blocks (attention, FFN), each a compute part followed
by an all-reduce of its output.  Each stream runs its operations in order, one at a time;
an operation starts when its stream is free and what it depends on has finished.

* **Standard** tensor parallelism: block ``k`` reads the residual stream that block
  ``k - 1``'s all-reduce completes, so compute ``k`` waits for all-reduce ``k - 1``; nothing
  overlaps, and a chain of ``K`` blocks takes the sum of every compute and all-reduce.
* **Ladder Residual** (Zhang et al., "Ladder-residual: parallelism-aware architecture for
  accelerating large model inference with communication overlapping", ICML 2025): block
  ``k`` reads the residual stream as it was before block ``k - 1``'s output was added, so
  compute ``k`` waits only for all-reduce ``k - 2``, and all-reduce ``k - 1`` runs while
  block ``k`` computes.  With every compute ``c`` and all-reduce ``a`` equal, ``K`` blocks take
  ``K c + a`` when ``c >= a`` and ``c + K a`` when ``a > c``.

The model itself changes under Ladder Residual (it is a different architecture, trained as
such); its cost is what is modelled here, not its accuracy.
"""

from __future__ import annotations

OVERLAPS = ("none", "ladder")
"""How a layer's all-reduces meet its compute."""


def chain_timeline(compute: list[float], reduce: list[float],
                   overlap: str = "none") -> list[tuple[str, int, float, float]]:
    """(stream, block, start, end) of every compute part and all-reduce of a chain of blocks
    (module docstring): compute ``k`` takes ``compute[k]``, all-reduce ``k`` ``reduce[k]``."""
    if overlap not in OVERLAPS:
        raise ValueError(f"unknown overlap {overlap!r}; expected one of {', '.join(OVERLAPS)}")
    wait = 1 if overlap == "none" else 2   # compute k waits for all-reduce k - wait
    compute_free = comm_free = 0.0
    reduced: list[float] = []              # when each all-reduce ends
    spans = []
    for k, (c, a) in enumerate(zip(compute, reduce)):
        start = max(compute_free, reduced[k - wait] if k >= wait else 0.0)
        compute_free = start + c
        spans.append(("compute", k, start, compute_free))
        begin = max(comm_free, compute_free)
        comm_free = begin + a
        spans.append(("communication", k, begin, comm_free))
        reduced.append(comm_free)
    return spans


def chain_s(compute: list[float], reduce: list[float], overlap: str = "none") -> float:
    """Time of a chain of blocks (:func:`chain_timeline`), from the first compute's start to
    the last operation's end."""
    return max((end for *_, end in chain_timeline(compute, reduce, overlap)), default=0.0)
