"""Reports for people and scripts: rich tables and lines of totals
(:mod:`accelsim.report.tables`), JSON and CSV files (:mod:`accelsim.report.files`) and plots
(:mod:`accelsim.report.plots`, imported on its own: it needs matplotlib).
"""

from accelsim.report.files import (CSV_COLUMNS, SCHEMA_VERSION, json_schemas, to_json,
                                   write_csv, write_json, write_workload_csv)
from accelsim.report.tables import (cascade_search_lines, cascade_search_table, compare_table,
                                    kernel_label, offload_lines, search_lines, summary_lines,
                                    system_lines, traffic_table, workload_lines,
                                    workload_table)

__all__ = [
    "CSV_COLUMNS", "SCHEMA_VERSION", "cascade_search_lines", "cascade_search_table",
    "compare_table", "json_schemas", "kernel_label", "offload_lines", "search_lines",
    "summary_lines", "system_lines", "to_json", "traffic_table", "workload_lines",
    "workload_table", "write_csv", "write_json", "write_workload_csv",
]
