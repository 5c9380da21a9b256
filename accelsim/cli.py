"""The ``accelsim`` command line: each command parses arguments and calls a library function.

One error boundary (:func:`main`) turns every :class:`~accelsim.errors.AccelsimError`
into one line on stderr and exit code 2; no traceback reaches the user for bad input.
"""

from __future__ import annotations

import sys

import click

from accelsim import __version__
from accelsim.errors import AccelsimError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="accelsim")
def cli() -> None:
    """accelsim: map Transformer Einsum cascades onto hardware and predict their cost."""


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


def _sizes(pairs: tuple[str, ...]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not name or not value.strip().isdigit() or int(value) < 1:
            raise click.BadParameter(f"{pair!r} is not RANK=SIZE with a positive size (e.g. M=4096)",
                                     param_hint="--size")
        sizes[name.strip()] = int(value)
    return sizes


@cli.command()
@click.argument("hardware", type=click.Path())
@click.argument("target", type=click.Path())
@click.option("--phase", type=click.Choice(["prefill", "decode"]), default="prefill",
              show_default=True, help="Workloads: a batch of prompts, or one decode step.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seq", "seq_len", type=click.IntRange(min=1), default=512, show_default=True,
              help="Prompt length (prefill).")
@click.option("--kv", "kv_len", type=click.IntRange(min=1), default=None,
              help="KV-cache length (decode; defaults to --seq).")
@click.option("--dtype", default="bf16", show_default=True, help="Element type of everything.")
@click.option("--attention", default=None,
              help="Attention variant: 3pass, 2pass, 1pass, flash2, splitkv "
                   "(default flash2 for prefill, splitkv for decode).")
@click.option("--mapping", "-m", "mapping_path", type=click.Path(),
              help="Cascades: the mapping file (one Einsum, or a fused group).")
@click.option("--search", "strategy", default="anneal", show_default=True,
              help="Workloads: the mapper's strategy for every Einsum.")
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Workloads: mappings evaluated per Einsum (default 600).")
@click.option("--size", "sizes", multiple=True, metavar="RANK=SIZE",
              help="Cascades: set a rank size, e.g. --size M=4096 (repeatable).")
@click.option("--json", "json_path", type=click.Path(), help="Write the result as JSON.")
@click.option("--csv", "csv_path", type=click.Path(), help="Write a CSV (per Einsum or per level).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; exit status only.")
def evaluate(hardware, target, phase, batch, seq_len, kv_len, dtype, attention, mapping_path,
             strategy, budget, sizes, json_path, csv_path, quiet) -> None:
    """Evaluate a workload (or a cascade under a mapping) on HARDWARE.

    A workload (workloads/*.yaml or a Hugging Face config.json) is lowered, every Einsum is
    mapped by the mapper and evaluated; the table lists each Einsum's latency, energy,
    off-chip traffic, utilization and bottleneck, then per-layer and per-model time,
    tokens/s, energy per token, peak tile memory per level and whether the model fits.

    Examples:

      accelsim evaluate hw_configs/h100-sxm5-80gb.yaml workloads/llama-3-8b.yaml --phase decode --kv 4096

      accelsim evaluate hw_configs/shared-ws-32x32.yaml einsum_cascades/gemm.yaml -m mappings/gemm-ws-32x32.yaml
    """
    from accelsim import report as out
    from accelsim.spec.load import read_document

    is_workload = str(target).endswith(".json") or read_document(target)[1] == "workload"
    if is_workload:
        result = _evaluate_workload(hardware, target, phase, batch, seq_len, kv_len, dtype,
                                    attention, strategy, budget, quiet)
        if json_path:
            out.write_json(json_path, {"schema_version": out.SCHEMA_VERSION,
                                       "workload": result.to_dict()})
        if csv_path:
            out.write_workload_csv(csv_path, result)
        tables, lines = [out.workload_table(result)], out.workload_lines(result)
    else:
        if not mapping_path:
            raise click.UsageError("a cascade needs --mapping FILE")
        from accelsim.model.api import evaluate as run

        report = run(target, hardware, mapping_path, sizes=_sizes(sizes))
        if json_path:
            out.write_json(json_path, out.to_json([report]))
        if csv_path:
            out.write_csv(csv_path, [report])
        tables, lines = [out.traffic_table(report)], out.summary_lines(report)
    if not quiet:
        from rich.console import Console

        console = Console()
        for table in tables:
            console.print(table)
        for line in lines:
            console.print(line, highlight=False)


def _evaluate_workload(hardware, target, phase, batch, seq_len, kv_len, dtype, attention,
                       strategy, budget, quiet):
    from accelsim.pipeline import evaluate_workload

    options = dict(phase=phase, batch=batch, seq_len=seq_len if phase == "prefill" else None,
                   kv_len=(kv_len or seq_len) if phase == "decode" else None, dtype=dtype,
                   attention=attention, strategy=strategy, budget=budget)
    if quiet:
        return evaluate_workload(hardware, target, **options)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("mapping Einsums", total=None)
        result = evaluate_workload(hardware, target, **options,
                                   on_einsum=lambda name, done, total: bar.update(
                                       task, completed=done, total=total,
                                       description=f"mapping {name}"))
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI inside the error boundary and return the exit code."""
    try:
        cli.main(args=argv, prog_name="accelsim", standalone_mode=False)
    except AccelsimError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    return EXIT_OK


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
