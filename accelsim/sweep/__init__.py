"""Design-space sweeps: expand a ``kind: sweep`` spec into points and run them on Dask.

``run_sweep(SWEEP.yaml)`` is what ``accelsim sweep SWEEP.yaml`` runs; Dask and pyarrow (the
``dist`` extra) are imported only when a sweep runs or writes Parquet.
"""

from accelsim.sweep.output import columns, read_rows
from accelsim.sweep.points import Sweep, SweepPoint, load_sweep, point_id
from accelsim.sweep.run import SweepSummary, evaluate_point, run_sweep

__all__ = ["Sweep", "SweepPoint", "SweepSummary", "columns", "evaluate_point", "load_sweep",
           "point_id", "read_rows", "run_sweep"]
