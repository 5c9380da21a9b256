"""Calibrate this machine, time PyTorch CPU operators and compare them with accelsim.

    .venv/bin/python benchmarks/validate_cpu.py [--threads N] [--out DIR]

Prints the table; writes DIR/validate_cpu.json and DIR/validate_cpu.png (default: a temporary
folder); the last line is ``validate_cpu_mape: X %``.  --threads defaults to 1: on a machine
shared with other jobs a multi-threaded operator stalls whenever one of its threads is
descheduled (see accelsim.validate.cpu.calibrate).
"""

from __future__ import annotations

import argparse
import os
import tempfile

from accelsim.validate import cpu, output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="accelsim-validate-")
    os.makedirs(out, exist_ok=True)
    hardware = cpu.calibrate(os.path.join(out, "cpu.yaml"), quick=args.quick, threads=args.threads)
    rows, mape = cpu.validate(hardware, quick=args.quick)
    output.print_table(rows, title=f"accelsim vs PyTorch CPU ({args.threads} thread(s))")
    output.write_json(rows, os.path.join(out, "validate_cpu.json"), hardware=hardware)
    output.scatter(rows, os.path.join(out, "validate_cpu.png"), title="accelsim vs PyTorch CPU")
    print(f"hardware spec and outputs in {out}")
    print(f"validate_cpu_mape: {mape:.1f} %")


if __name__ == "__main__":
    main()
