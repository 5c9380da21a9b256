"""``generate_summary``: the work of generating N tokens, prefill plus N - 1 decode steps.

The prefill of the prompt yields the first new token; each further token is one decode step
whose KV cache holds every earlier token (limited to W - 1 keys under a sliding window W).
Decode steps differ only in their cache length L, so they are summed without building N
cascades: one decode cascade is lowered, and over each run of steps whose derived rank sizes
(key blocks, chunks) do not change, counts and bytes are affine in L -- they are evaluated at
the run's ends (and checked at its middle) and summed in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any, Callable

from accelsim.errors import LoweringError
from accelsim.ir import OpCounts
from accelsim.lower.lowered import Lowered
from accelsim.lower.phases import load_workload, lower


@dataclass(frozen=True)
class GenerationSummary:
    """Work of a prefill and the decode steps after it (every layer, ends included)."""

    prefill: Lowered
    """The lowered prefill."""
    decode: Lowered | None
    """The first decode step (the others differ only in cache length); None for one token."""
    prompt_len: int
    new_tokens: int
    cache_lengths: tuple[int, ...]
    """Keys in the cache at each decode step (after any sliding-window limit)."""
    prefill_ops: OpCounts
    decode_ops: OpCounts
    """Summed over every decode step."""
    prefill_bytes: float
    decode_bytes: float
    """Compulsory bytes summed over every decode step."""
    kv_cache_bytes: float
    """Bytes of the KV cache after the last step, every layer and sequence."""

    @property
    def ops(self) -> OpCounts:
        """Operations of the whole generation."""
        return self.prefill_ops + self.decode_ops

    @property
    def flops(self) -> int:
        """Matmul FLOPs of the whole generation (2 per multiply-accumulate)."""
        return 2 * self.ops.mac

    @property
    def compulsory_bytes(self) -> float:
        """Compulsory bytes of the whole generation."""
        return self.prefill_bytes + self.decode_bytes


def generate_summary(workload: Any, prompt_len: int, new_tokens: int, *, batch: int = 1,
                     decode_attention: str | None = None, **options: Any) -> GenerationSummary:
    """Summarize generating ``new_tokens`` tokens after a prompt of ``prompt_len`` (see the
    module docstring).  ``options`` go to :func:`accelsim.lower.lower` for both phases
    (``dtype``, ``attention``, ``block``, ``embeddings``, ``lm_head`` ...);
    ``decode_attention`` picks another variant for the decode steps."""
    for value, what in ((prompt_len, "prompt_len"), (new_tokens, "new_tokens")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LoweringError(f"{what} must be a whole number >= 1, got {value!r}")
    prefill = lower(workload, "prefill", batch=batch, seq_len=prompt_len, **options)
    decode_options = dict(options)
    if decode_attention is not None:
        decode_options["attention"] = decode_attention
    decode, lengths = None, []
    window = load_workload(workload).model.sliding_window
    cap = None if window is None else window - 1
    if new_tokens > 1:
        decode = lower(workload, "decode", batch=batch, kv_len=prompt_len, **decode_options)
        lengths = [prompt_len + i if cap is None else min(prompt_len + i, cap)
                   for i in range(new_tokens - 1)]
    ops, moved = (_sum_steps(decode, lengths) if decode else (OpCounts(), 0.0))
    entries = prompt_len + new_tokens - 1
    kv_bytes = _cache_bytes(prefill, entries if cap is None else min(entries, cap))
    return GenerationSummary(prefill, decode, prompt_len, new_tokens, tuple(lengths),
                             prefill.op_counts(), ops, prefill.compulsory_bytes(), moved,
                             kv_bytes)


def _cache_bytes(prefill: Lowered, entries: int) -> float:
    """KV-cache bytes of ``entries`` tokens per sequence, every layer and sequence, from the
    keys and values a prefill of ``prompt`` tokens writes."""
    layer = prefill.layer
    sizes = layer.sizes()
    written = sum(layer.tensors[n].bytes(sizes) for n in layer.outputs
                  if n.startswith(("KNEW", "VNEW")))
    tokens = sum(v for k, v in sizes.items() if k == "T" or k.startswith("T_"))
    return prefill.layers * written / tokens * entries if tokens else 0.0


def _vector(lowered: Lowered, length: int) -> tuple:
    counts = lowered.op_counts(L=length)
    return (*(getattr(counts, f.name) for f in fields(counts)),
            lowered.compulsory_bytes(L=length))


def _sum_steps(lowered: Lowered, lengths: list[int]) -> tuple[OpCounts, float]:
    """Counts and bytes summed over decode steps with these cache lengths."""
    signature = _signature(lowered)
    total = [0] * (len(fields(OpCounts)) + 1)
    for run in _runs(lengths, signature):
        for k, value in enumerate(_run_total(lambda n: _vector(lowered, n), run)):
            total[k] += value
    counts = OpCounts(**{f.name: int(total[k]) for k, f in enumerate(fields(OpCounts))})
    return counts, float(total[-1])


def _signature(lowered: Lowered) -> Callable[[int], tuple]:
    """Sizes of the ranks derived from the cache length other than M = L + 1."""
    layer = lowered.layer

    def of(length: int) -> tuple:
        sizes = layer.sizes(L=length)
        return tuple(v for k, v in sorted(sizes.items()) if k not in ("L", "M"))
    return of


def _runs(lengths: list[int], signature: Callable[[int], tuple]) -> list[list[int]]:
    """Consecutive steps with one signature whose lengths grow by 1 (or stay the same)."""
    runs: list[list[int]] = []
    keys: list[tuple] = []
    for length in lengths:
        key = signature(length)
        if runs and key == keys[-1] and _steady(runs[-1], length):
            runs[-1].append(length)
        else:
            runs.append([length])
            keys.append(key)
    return runs


def _steady(run: list[int], length: int) -> bool:
    step = length - run[-1]
    return step in (0, 1) and (len(run) == 1 or run[-1] - run[-2] == step)


def _run_total(f: Callable[[int], tuple], run: list[int]) -> list:
    """Sum of f over a run, from its ends when f is affine there (checked at the middle)."""
    n, first, last = len(run), run[0], run[-1]
    start = f(first)
    if first == last:
        return [n * v for v in start]
    end = f(last)
    if n > 2:
        middle = run[n // 2]
        expected = [Fraction(a) + (Fraction(z) - Fraction(a)) * (middle - first) / (last - first)
                    for a, z in zip(start, end)]
        if any(abs(float(e) - m) > 1e-9 * max(1.0, abs(m)) for e, m in zip(expected, f(middle))):
            return [sum(col) for col in zip(*(f(length) for length in run))]
    return [Fraction(n) * (Fraction(a) + Fraction(z)) / 2 for a, z in zip(start, end)]
