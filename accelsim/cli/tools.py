"""Commands around the model: ``check``, ``plot``, ``sweep``, ``calibrate`` and
``validate``."""

from __future__ import annotations

import sys

import click

from accelsim.cli.common import (EXIT_BAD_INPUT, EXIT_FAILED, OUTPUT, check_roles, cli,
                                 parse_roles, parse_sizes, request_options, tensors_of,
                                 workload_options)
from accelsim.cli.workload import run_workload


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--quiet", "-q", is_flag=True, help="Print problems only, no summary.")
def check(paths: tuple[str, ...], quiet: bool) -> None:
    """Validate spec files (hardware, workload, cascade, mapping, sweep).

    PATHS may be files, folders (searched for *.yaml / *.yml) or glob patterns.
    Prints one line per problem; exits 2 if any file fails.

    Example: accelsim check hw_configs workloads einsum_cascades mappings
    """
    from accelsim.check import check_paths

    results, path_problems = check_paths(paths)
    problems = list(path_problems) + [p for r in results for p in r.problems]
    for problem in problems:
        click.echo(str(problem))
    if not quiet:
        bad = sum(1 for r in results if not r.ok) + len(path_problems)
        click.echo(f"checked {len(results)} file(s): {bad} with problems, {len(problems)} problem(s)")
    if problems:
        sys.exit(EXIT_BAD_INPUT)


@cli.group()
def plot() -> None:
    """Plots as PNG or SVG: roofline, energy breakdown, Pareto front, traffic lower bound."""


@plot.command("roofline")
@click.argument("hardware", type=click.Path())
@click.argument("workload", type=click.Path())
@workload_options
@click.option("--budget", type=click.IntRange(min=1), default=None)
@click.option("--output", "-o", required=True, type=OUTPUT, help="PNG or SVG file.")
def plot_roofline(hardware, workload, **options) -> None:
    """One point per Einsum of WORKLOAD under HARDWARE's compute and bandwidth roofs.

    Example: accelsim plot roofline hw_configs/h100-sxm5-80gb.yaml workloads/llama-3-8b.yaml --phase decode -o roofline.png
    """
    from accelsim.arch import load_architecture
    from accelsim.lower import Request
    from accelsim.report.plots import roofline

    request = Request.for_workload(workload, **request_options(options))
    result = run_workload(hardware, workload, request, "anneal", options["budget"], True)
    click.echo(roofline(result, load_architecture(hardware), options["output"], request.dtype))


@plot.command("energy")
@click.argument("hardware", type=click.Path())
@click.argument("target", type=click.Path())
@click.option("--mapping", "-m", "mapping_path", required=True, type=click.Path())
@click.option("--size", "sizes", multiple=True, metavar="RANK=SIZE")
@click.option("--output", "-o", required=True, type=OUTPUT, help="PNG or SVG file.")
def plot_energy(hardware, target, mapping_path, sizes, output) -> None:
    """Energy by level and tensor of a cascade under a mapping.

    Example: accelsim plot energy hw_configs/shared-ws-32x32.yaml einsum_cascades/gemm.yaml -m mappings/gemm-ws-32x32.yaml -o energy.png
    """
    from accelsim.model.api import evaluate as run
    from accelsim.report.plots import energy_breakdown

    click.echo(energy_breakdown(run(target, hardware, mapping_path, sizes=parse_sizes(sizes)), output))


@plot.command("pareto")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--x", "x_column", default="model_latency_s", show_default=True)
@click.option("--y", "y_column", default="energy_j", show_default=True)
@click.option("--output", "-o", required=True, type=OUTPUT, help="PNG or SVG file.")
def plot_pareto(results, x_column, y_column, output) -> None:
    """A sweep's design points and their Pareto front (from the sweep's CSV).

    Example: accelsim plot pareto ws-sram-capacity.csv -o pareto.svg
    """
    from accelsim.report.plots import pareto_front

    click.echo(pareto_front(results, output, x_column, y_column))


@plot.command("bound")
@click.argument("hardware", type=click.Path())
@click.argument("target", type=click.Path())
@click.option("--einsum", "einsum_name", required=True)
@click.option("--size", "sizes", multiple=True, metavar="RANK=SIZE")
@click.option("--role", "roles", multiple=True, metavar="TENSOR=ROLE")
@click.option("--output", "-o", required=True, type=OUTPUT, help="PNG or SVG file.")
def plot_bound(hardware, target, einsum_name, sizes, roles, output) -> None:
    """Least off-chip traffic of a GEMM-like Einsum against on-chip capacity (the ski
    slope), with the mapping the mapper finds on HARDWARE.

    Example: accelsim plot bound hw_configs/shared-ws-32x32.yaml einsum_cascades/gemm.yaml --einsum Z -o bound.png
    """
    import numpy as np

    from accelsim.arch import load_architecture
    from accelsim.report.plots import lower_bound_curve
    from accelsim.search import onchip_capacity, search as run

    from accelsim.lower import Request
    from accelsim.pipeline import bound_einsum_of

    bound = bound_einsum_of(target, einsum_name, parse_sizes(sizes),
                            Request.for_workload(target, fuse=False))
    check_roles(parse_roles(roles), tensors_of(bound), f"Einsum {einsum_name}")
    bound = bound.__class__(bound.einsum, bound.sizes, bound.dtypes,
                            {**bound.roles, **parse_roles(roles)})
    arch = load_architecture(hardware)
    capacity = onchip_capacity(arch)
    found = run(bound, arch, objective="traffic", budget=2000, progress=False, bound=False)
    capacities = np.geomspace(64, max(capacity, 1024) * 16, 40)
    click.echo(lower_bound_curve(bound, capacities, output,
                                 found=(capacity, found.report.offchip_bytes)))


@cli.command("sweep")
@click.argument("sweep_file", type=click.Path())
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="An existing Dask scheduler, e.g. tcp://host:8786; default: local processes.")
@click.option("--output", "-o", default=None, type=OUTPUT,
              help=".csv or .parquet; default: the sweep's 'output', in the working directory.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default 2).")
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Mappings evaluated per Einsum (default 400).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sweep_cmd(sweep_file, scheduler, output, workers, budget, quiet) -> None:
    """Run a design-space sweep (kind: sweep): every point's totals stream to the output as
    it finishes; a rerun resumes and skips finished points; Ctrl-C loses nothing written.

    Example: accelsim sweep hw_configs/sweeps/ws-sram-capacity.yaml --workers 2
    """
    from accelsim.sweep import run_sweep

    s = run_sweep(sweep_file, scheduler=scheduler, output=output, workers=workers,
                  budget=budget, progress=not quiet)
    click.echo(f"{s.name}: {s.completed} points run, {s.skipped} already done, {s.errors} with "
               f"errors, {len(s.failed)} failed -> {s.output} ({s.elapsed_s:.1f} s)")
    if s.failed:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option("--device", type=click.Choice(["cpu"]), default="cpu", show_default=True,
              help="The device to measure (the GPU path needs CUDA; see accelsim.validate.gpu).")
@click.option("--out", "out_path", type=OUTPUT, default=None,
              help="Hardware YAML to write (default cpu-HOST.yaml here).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads torch may use while measuring (default: all).")
@click.option("--quick", is_flag=True, help="Smaller measurements (seconds, noisier).")
def calibrate(device, out_path, threads, quick) -> None:
    """Measure this machine (peak FLOP/s, memory bandwidth, cache sizes) and write a
    hardware YAML that `accelsim check` accepts, each number sourced as a measurement.

    Each figure is the median of repeated measurements; the YAML records their spread, a
    noisy figure is named in a warning, and figures no CPU could produce are measured again
    (then refused).

    Example: accelsim calibrate --device cpu --out my-cpu.yaml
    """
    from rich.console import Console

    from accelsim.validate.cpu import calibrate as run

    with Console(stderr=True).status("calibrating") as status:
        path = run(out_path, quick=quick, threads=threads,
                   progress=lambda step: status.update(f"calibrating: {step}"))
    click.echo(path)


@cli.command()
@click.argument("hardware", type=click.Path(), required=False)
@click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True)
@click.option("--quick", is_flag=True, help="Fewer, smaller cases.")
@click.option("--published", is_flag=False, flag_value="", default=None, metavar="[FILE]",
              help="Compare with runtimes published in papers instead of timing this machine: "
                   "every file in tests/data/published, or FILE; HARDWARE, if given, replaces "
                   "the preset each file names.")
@click.option("--measured", "measured", type=click.Path(), multiple=True, metavar="FILE",
              help="Compare with measured GPU operator latencies in FILE (NeuSight's CSV "
                   "format, gzipped or not; repeat for several files): per operator family "
                   "and GPU, the MAPE and median signed error of accelsim's library-kernel "
                   "mode (the launched kernel), its best-kernel mode (the mapper) and a "
                   "roofline. Fitted figures come from the files' other GPUs only.")
@click.option("--gpu", default=None, help="With --measured: only this device (name or preset).")
@click.option("--per-group", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --measured: rows sampled per (operator family, GPU), seed 0.")
@click.option("--budget", type=click.IntRange(min=1), default=300, show_default=True,
              help="With --measured: mappings evaluated per search.")
@click.option("--json", "json_path", type=OUTPUT, help="Write the rows and MAPE as JSON.")
@click.option("--plot", "plot_path", type=OUTPUT, help="Predicted-vs-measured scatter (PNG).")
def validate(hardware, **options) -> None:
    """Time real PyTorch operators (CPU) or the Triton reference kernels (GPU) and compare
    them with accelsim's predictions on HARDWARE: predicted, measured, error and
    bottleneck per case, and the mean absolute percentage error.  With --published, compare
    with published measurements instead (rows accelsim has no model for are listed as
    skipped, with the reason).

    Examples: accelsim calibrate --device cpu --out cpu.yaml && accelsim validate cpu.yaml;
    accelsim validate --published --plot published.png
    """
    from accelsim.errors import ValidationRunError

    json_path, plot_path = options["json_path"], options["plot_path"]
    if options["measured"]:
        _validate_measured(options)
        return
    device, published = options["device"], options["published"]
    skipped: list[tuple[str, str]] = []
    if published is not None:
        from accelsim.validate.published import compare

        rows, error, skipped = compare([published] if published else None, hardware)
        source, title = "published", "accelsim vs published measurements"
        meta = {"skipped": [{"case": case, "reason": why} for case, why in skipped]}
    else:
        if hardware is None:
            raise click.UsageError("missing argument HARDWARE (or pass --published)")
        try:
            if device == "cpu":
                from accelsim.validate.cpu import validate as run
            else:
                from accelsim.validate.gpu import validate as run
        except ImportError as exc:
            raise ValidationRunError(f"validation needs torch and triton ({exc.name} is missing):"
                                     " pip install torch==2.13.0 -e '.[validate]'") from None
        if device == "cpu":
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("timing operators", total=None)
                rows, error = run(hardware, quick=options["quick"], progress=lambda done, total:
                                  bar.update(task, completed=done, total=total))
        else:
            rows, error = run(hardware, quick=options["quick"])
        source, title, meta = device, f"accelsim on {device}", {}
    from accelsim.validate.output import print_table, scatter, write_json

    print_table(rows, *([title] if published is not None else []))
    for case, reason in skipped:
        click.echo(f"skipped {case}: {reason}")
    click.echo(f"MAPE {error:.1f}% over {len(rows)} cases"
               + (f" ({len(skipped)} skipped)" if skipped else ""))
    if json_path:
        write_json(rows, json_path, device=source, hardware=str(hardware or "per file"), **meta)
    if plot_path:
        scatter(rows, plot_path, title=title)


def _validate_measured(options: dict) -> None:
    """``accelsim validate --measured``: the accuracy table per operator family and GPU."""
    from dataclasses import asdict

    from rich.progress import Progress

    from accelsim.validate.measured import compare, format_summary, summarize
    from accelsim.validate.output import scatter, write_json

    paths, json_path, plot_path = options["measured"], options["json_path"], options["plot_path"]
    with Progress(transient=True) as bar:
        task = bar.add_task("predicting measured rows", total=None)
        rows = compare(paths, options["gpu"], options["per_group"], options["budget"],
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    cells = summarize(rows)
    click.echo(format_summary(cells))
    click.echo(f"{len(rows)} rows of {', '.join(paths)}; MAPE and median signed error in "
               "percent, (predicted - measured) / measured; lib: the launched kernel "
               "(closed-form launch model); best: the mapper's best mapping; both plus the "
               "per-call host time fitted on the other GPUs; roofline: max(FLOPs / fp32 "
               "peak, compulsory bytes / DRAM bandwidth)")
    for gpu, cal in sorted({r.extra["gpu"]: r.extra["calibration"] for r in rows}.items()):
        click.echo(f"{gpu}: fitted on the other GPUs: DRAM efficiency "
                   f"{cal['dram_efficiency']:.2f}, memory latency "
                   f"{cal['memory_latency_s'] * 1e9:.0f} ns, FMA efficiency "
                   f"{cal['fma_efficiency']:.2f}")
    if json_path:
        write_json(rows, json_path, device="measured", hardware="per row",
                   summary=[asdict(c) for c in cells])
    if plot_path:
        scatter(rows, plot_path, title="accelsim vs measured", by=lambda r: r.extra["gpu"])
