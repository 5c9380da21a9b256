"""Reports for scripts: JSON and CSV files, and the JSON Schemas of what is written.

JSON is ``report.to_dict()`` wrapped with the schema version; CSV has one row per (level,
tensor) with the columns of :data:`CSV_COLUMNS`, or one row per kernel of a workload result.
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Iterable

from accelsim.model import Report

SCHEMA_VERSION = 1
"""Version of the JSON and CSV layouts; bumped on any incompatible change."""

CSV_COLUMNS = ("einsum", "hardware", "mapping", "level", "tensor", "reads", "fills", "updates",
               "first_touches", "bytes", "energy_pj", "tile_elements", "instances")


def json_schemas() -> dict[str, dict]:
    """JSON Schemas of the documents accelsim writes, generated from the result types
    (docs/schemas/ holds them; a test keeps those files current)."""
    from pydantic import TypeAdapter

    from accelsim.pipeline import WorkloadResult

    def document(name: str, key: str, schema: dict, many: bool) -> dict:
        defs = schema.pop("$defs", {})     # refs are "#/$defs/...": they live at the root
        body = {"type": "array", "items": schema} if many else schema
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": name, "type": "object", "$defs": defs,
                "properties": {"schema_version": {"const": SCHEMA_VERSION}, key: body},
                "required": ["schema_version", key]}

    report = TypeAdapter(Report).json_schema(mode="serialization")
    workload = TypeAdapter(WorkloadResult).json_schema(mode="serialization")
    return {
        "report": document("accelsim report (evaluate on a cascade, search)", "reports",
                           report, many=True),
        "workload": document("accelsim workload result (evaluate on a workload)", "workload",
                             workload, many=False),
    }


def to_json(reports: Iterable[Report], extra: dict | None = None) -> dict:
    """The JSON document: schema version, reports and optional extra fields."""
    out = {"schema_version": SCHEMA_VERSION, "reports": [r.to_dict() for r in reports]}
    out.update(extra or {})
    return out


def write_json(path: str | os.PathLike, document: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, default=_json_default)
        fh.write("\n")


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def write_csv(path: str | os.PathLike, reports: Iterable[Report]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for report in reports:
            for t in report.tensors:
                writer.writerow([report.einsum, report.hardware, report.mapping, t.level, t.tensor,
                                 t.reads, t.fills, t.updates, t.first_touches, t.bytes,
                                 "" if t.energy_pj is None else t.energy_pj, t.tile_elements,
                                 t.instances])


def write_workload_csv(path: str | os.PathLike, result) -> None:
    """One row per Einsum of a workload result."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("workload", "hardware", "phase", "part", "einsum", "count", "latency_s",
                         "energy_pj", "offchip_bytes", "utilization", "bottleneck"))
        for e in result.einsums:
            r = e.report
            writer.writerow((result.workload, result.hardware, result.phase, e.part, e.name,
                             e.count, r.latency_s, r.energy_pj, r.offchip_bytes, r.utilization,
                             r.bottleneck))
