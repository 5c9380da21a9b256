"""The JSON that accelsim writes follows the schemas in docs/schemas/, and those files are
what the code generates (regenerate with the snippet in docs/schemas/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from accelsim.model import Report
from accelsim.pipeline import WorkloadResult
from accelsim.report import SCHEMA_VERSION, json_schemas

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schemas_are_current():
    for name, schema in json_schemas().items():
        committed = json.loads((ROOT / "docs" / "schemas" / f"{name}.schema.json").read_text())
        assert committed == json.loads(json.dumps(schema)), name


def test_written_documents_validate(run_cli, tmp_path):
    hw = str(ROOT / "hw_configs" / "shared-ws-32x32.yaml")
    code, _, err = run_cli("evaluate", hw, str(ROOT / "einsum_cascades" / "gemm.yaml"), "-m",
                           str(ROOT / "mappings" / "gemm-ws-32x32.yaml"), "-q", "--json",
                           str(tmp_path / "r.json"))
    assert code == 0, err
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    for report in document["reports"]:
        TypeAdapter(Report).validate_python(report)
    code, _, err = run_cli("evaluate", str(ROOT / "hw_configs" / "h100-sxm5-80gb.yaml"),
                           str(ROOT / "workloads" / "gpt2.yaml"), "--seq", "32", "--budget", "20",
                           "-q", "--json", str(tmp_path / "w.json"))
    assert code == 0, err
    TypeAdapter(WorkloadResult).validate_python(json.loads((tmp_path / "w.json").read_text())["workload"])
