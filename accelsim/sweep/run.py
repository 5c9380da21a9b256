"""Run a sweep's points on Dask workers and stream one result row per point to disk.

* Where: a ``LocalCluster`` of ``workers`` processes (one thread each) by default, or an
  existing Dask scheduler at ``scheduler="tcp://host:port"``.
* Retries: each point is submitted with ``retries=2``; a worker that dies is restarted by its
  nanny and the scheduler reruns its tasks elsewhere (up to Dask's
  ``distributed.scheduler.allowed-failures``).
* Streaming and resume: rows are written as points finish (``as_completed``); a rerun reads
  the output, skips the ids already there and runs only the rest.  A row's id
  (:func:`run_id`) hashes everything that changes it: the point, its machine, the mapper's
  budget and seed, so a rerun at another budget runs every point again.
* Ctrl-C: stops submitting, cancels the pending futures, closes the client and cluster and
  re-raises; every row already written stays on disk.

A point whose evaluation raises an :class:`AccelsimError` (say a tile that no longer fits a
smaller buffer) is a result, recorded with the message as its ``status``.  Any other
exception after the retries is left out of the file (so a rerun tries again) and listed in
:attr:`SweepSummary.failed`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

from accelsim.errors import AccelsimError
from accelsim.pipeline import evaluate_workload
from accelsim.sweep.output import open_results
from accelsim.sweep.points import SweepPoint, load_sweep

DEFAULT_WORKERS = 2
"""Local worker processes when the caller names neither a scheduler nor a count."""

RETRIES = 2
"""Times Dask reruns a point whose task raised (worker deaths are counted separately)."""


@dataclass(frozen=True)
class SweepSummary:
    """What one :func:`run_sweep` call did."""

    name: str
    output: str
    points: int
    """Points in the sweep."""
    skipped: int
    """Points already in the output file when the run started."""
    completed: int
    """Rows written by this run."""
    errors: int
    """Rows written by this run whose status is not 'ok'."""
    failed: dict[str, str] = field(default_factory=dict)
    """Point id -> exception text, for points that could not be evaluated (not written)."""
    elapsed_s: float = 0.0


def run_id(point: SweepPoint, budget: int | None) -> str:
    """The id of a point's row: a hash of everything that changes the row -- the point
    (parameters, workload, request), its whole machine after the overrides (so an edited
    base hardware file runs again), the mapper's budget and seed."""
    text = json.dumps({"point": point.id, "request": asdict(point.request),
                       "machine": asdict(replace(point.arch, file=None)), "budget": budget,
                       "seed": point.seed}, sort_keys=True, default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    """JSON for what json.dumps cannot write: sets sorted (their order varies between
    processes), anything else as its repr."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def evaluate_point(point: SweepPoint, budget: int | None = None) -> dict[str, Any]:
    """Evaluate one point on this process and return its result row."""
    row: dict[str, Any] = {"id": point.id, "workload": point.workload,
                           "phase": point.request.phase, **point.parameters}
    try:
        result = evaluate_workload(point.arch, point.workload_file, point.request,
                                   budget=budget, seed=point.seed)
    except AccelsimError as exc:
        return {**row, "status": str(exc) or type(exc).__name__}
    offchip = sum(e.report.offchip_bytes * e.count for e in result.einsums)
    known = result.energy_known          # empty, not 0, where no figure counted anything
    return {**row, "model_latency_s": result.model_latency_s,
            "tokens_per_s": result.tokens_per_s, "energy_j": result.energy_j if known else None,
            "energy_per_token_j": result.energy_per_token_j if known else None,
            "offchip_bytes": offchip,
            "fits": result.fits, "status": "ok"}


def run_sweep(sweep_path: str | os.PathLike, *, scheduler: str | None = None,
              output: str | os.PathLike | None = None, workers: int | None = None,
              progress: bool = True, on_point: Callable[[dict], None] | None = None,
              budget: int | None = None,
              evaluate: Callable[..., dict] = evaluate_point) -> SweepSummary:
    """Run every point of the sweep file not already in the output (module docstring).

    ``output`` overrides the spec's file (which is relative to the sweep file); ``budget``
    is the mapper's budget per Einsum; ``on_point(row)`` is called after each row is on
    disk; ``evaluate(point, budget)`` computes a row on a worker (tests swap it).
    """
    start = time.perf_counter()
    sweep = load_sweep(sweep_path)
    out = os.fspath(output) if output is not None else sweep.output
    results = open_results(out, list(sweep.spec.parameters))
    points = [replace(p, id=run_id(p, budget)) for p in sweep.points]
    todo = [p for p in points if p.id not in results.done]
    skipped = len(sweep.points) - len(todo)
    tally = _Tally(results, _printer(progress), on_point, skipped, len(sweep.points))
    tally.say(f"sweep {sweep.spec.name}: {len(sweep.points)} points, {skipped} already in "
              f"{out}, {len(todo)} to run")
    try:
        if todo:
            with _client(scheduler, workers) as client:
                _gather(client, todo, evaluate, budget, tally)
    finally:
        results.close()
    errors = sum(1 for row in tally.written if row.get("status") != "ok")
    return SweepSummary(name=sweep.spec.name, output=out, points=len(sweep.points),
                        skipped=skipped, completed=len(tally.written), errors=errors,
                        failed=tally.failed, elapsed_s=time.perf_counter() - start)


@dataclass
class _Tally:
    """Where finished points go: their rows to the results file (then ``on_point``), their
    failures to ``failed``, and a progress line each to ``say``."""

    results: Any
    say: Callable[[str], None]
    on_point: Callable[[dict], None] | None
    skipped: int
    """Points already in the results file when the run started."""
    total: int
    written: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def row(self, row: dict) -> None:
        self.results.write(row)
        self.written.append(row)
        self.say(f"[{self.skipped + len(self.written)}/{self.total}] {_describe(row)}")
        if self.on_point is not None:
            self.on_point(row)

    def failure(self, point_id: str, exc: Exception) -> None:
        self.failed[point_id] = f"{type(exc).__name__}: {exc}"
        self.say(f"[{self.skipped + len(self.written)}/{self.total}] {point_id} FAILED: "
                 f"{self.failed[point_id]}")


def _gather(client, todo, evaluate, budget, tally: _Tally) -> None:
    """Submit every point, hand each row to ``tally`` as its future finishes; cancel all on
    Ctrl-C."""
    from distributed import as_completed

    futures = []
    try:
        for point in todo:
            futures.append(client.submit(evaluate, point, budget, key=f"sweep-point-{point.id}",
                                         retries=RETRIES, pure=False))
        by_key = {f.key: p for f, p in zip(futures, todo)}
        for future in as_completed(futures):
            point = by_key[future.key]
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - a point's failure is not the sweep's
                tally.failure(point.id, exc)
                continue
            finally:
                future.release()
            tally.row(row)
    except BaseException:
        client.cancel(futures, force=True)
        raise


class _client:
    """A Dask client on the given scheduler, or on a new LocalCluster that it closes."""

    def __init__(self, scheduler: str | None, workers: int | None):
        self.scheduler, self.workers = scheduler, workers
        self.cluster = self.client = None

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise AccelsimError("sweeps run on Dask: pip install 'accelsim[dist]' "
                                "(dask[distributed], pyarrow)") from None

        if self.scheduler:
            self.client = Client(self.scheduler)
        else:
            self.cluster = LocalCluster(n_workers=self.workers or DEFAULT_WORKERS,
                                        threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _describe(row: dict) -> str:
    params = ", ".join(f"{k}={row[k]}" for k in row if k not in _FIXED)
    if row.get("status") != "ok":
        return f"{row['workload']} {row['phase']} {params}: {row.get('status')}"
    return (f"{row['workload']} {row['phase']} {params}: {row['model_latency_s']:.4g} s, "
            f"{row['tokens_per_s']:.4g} tokens/s, {row['energy_per_token_j']:.4g} J/token")


_FIXED = {"id", "workload", "phase", "model_latency_s", "tokens_per_s", "energy_j",
          "energy_per_token_j", "offchip_bytes", "fits", "status"}


def _printer(progress: bool) -> Callable[[str], None]:
    if not progress:
        return lambda text: None
    return lambda text: print(text, file=sys.stderr, flush=True)
