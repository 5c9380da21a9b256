"""Result files written as points finish: CSV (a row appended and flushed per point) or
Parquet (one part file per point, merged into the output file at the end of a run).

Both writers read back the ids already on disk, so a rerun skips finished points.  A CSV
whose last line was cut off by a kill is trimmed to its last complete row; a Parquet sweep
that was killed before merging keeps its part files in ``<output>.parts/`` and the next
run (or :meth:`ParquetResults.close`) merges them.
"""

from __future__ import annotations

import csv
import glob
import os
from typing import Any, Iterable

from accelsim.errors import SpecError

METRICS = ("model_latency_s", "tokens_per_s", "energy_j", "energy_per_token_j",
           "offchip_bytes", "fits", "status")
"""Columns after the parameter columns."""


def columns(parameters: Iterable[str]) -> list[str]:
    """Every column of a result row, in order: id, workload, phase, one per parameter, metrics."""
    return ["id", "workload", "phase", *parameters, *METRICS]


def open_results(path: str, parameters: Iterable[str]) -> "CsvResults | ParquetResults":
    """The writer for ``path``: Parquet when the name ends in .parquet, CSV otherwise."""
    cols = columns(parameters)
    if path.endswith(".parquet"):
        return ParquetResults(path, cols)
    return CsvResults(path, cols)


class CsvResults:
    """Append-only CSV: the header once, then a row per finished point, flushed at once."""

    def __init__(self, path: str, cols: list[str]):
        self.path, self.columns = path, cols
        self.done = self._read_done()
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._fh = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=cols)
        if new:
            self._writer.writeheader()
            self._fh.flush()

    def _read_done(self) -> set[str]:
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return set()
        _trim_partial_line(self.path)
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != self.columns:
                raise SpecError(f"has columns {reader.fieldnames}, but this sweep writes "
                                f"{self.columns}; name another output file", file=self.path)
            return {row["id"] for row in reader}

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _csv_value(row.get(k)) for k in self.columns})
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done.add(row["id"])

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


class ParquetResults:
    """One Parquet part file per finished point, merged into ``path`` by :meth:`close`."""

    def __init__(self, path: str, cols: list[str]):
        try:
            import pyarrow as pa  # the 'dist' extra
        except ImportError:
            raise SpecError("writing Parquet needs pyarrow: pip install 'accelsim[dist]', or "
                            "name a .csv output", file=path) from None

        self.path, self.columns = path, cols
        self.parts = path + ".parts"
        self.schema = pa.schema([(c, _arrow_type(pa, c)) for c in cols])
        os.makedirs(self.parts, exist_ok=True)
        self.done = self._read_done()

    def _read_done(self) -> set[str]:
        import pyarrow.parquet as pq

        done: set[str] = set()
        if os.path.exists(self.path):
            table = pq.read_table(self.path)
            if table.column_names != self.columns:
                raise SpecError(f"has columns {table.column_names}, but this sweep writes "
                                f"{self.columns}; name another output file", file=self.path)
            done.update(table.column("id").to_pylist())
        for part in self._part_files():
            done.add(os.path.basename(part)[: -len(".parquet")])
        return done

    def _part_files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.parts, "*.parquet")))

    def write(self, row: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        values = {c: [_arrow_value(c, row.get(c))] for c in self.columns}
        table = pa.Table.from_pydict(values, schema=self.schema)
        final = os.path.join(self.parts, f"{row['id']}.parquet")
        pq.write_table(table, final + ".tmp")
        os.replace(final + ".tmp", final)
        self.done.add(row["id"])

    def close(self) -> None:
        """Merge the existing output and every part file into ``path``, then drop the parts."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = self._part_files()
        if not parts:
            _remove_empty_dir(self.parts)
            return
        tables = [pq.read_table(self.path)] if os.path.exists(self.path) else []
        tables += [pq.read_table(p, schema=self.schema) for p in parts]
        merged = pa.concat_tables(tables)
        pq.write_table(merged, self.path + ".tmp")
        os.replace(self.path + ".tmp", self.path)
        for part in parts:
            os.remove(part)
        _remove_empty_dir(self.parts)


def read_rows(path: str) -> list[dict[str, Any]]:
    """Every row of a results file (CSV values come back as text)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist() if os.path.exists(path) else []
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _trim_partial_line(path: str) -> None:
    """Cut a last line left half-written by a kill, so appends start on a fresh line."""
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return value


def _arrow_type(pa: Any, column: str) -> Any:
    if column in ("model_latency_s", "tokens_per_s", "energy_j", "energy_per_token_j",
                  "offchip_bytes"):
        return pa.float64()
    if column == "fits":
        return pa.bool_()
    return pa.string()


def _arrow_value(column: str, value: Any) -> Any:
    if value is None or column in ("model_latency_s", "tokens_per_s", "energy_j",
                                   "energy_per_token_j", "offchip_bytes", "fits"):
        return value
    return str(value)


def _remove_empty_dir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass
