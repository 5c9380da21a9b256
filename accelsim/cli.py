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
@click.option("--mapping", "-m", "mapping_path", type=click.Path(), required=True,
              help="Mapping file (one Einsum, or a fused group with 'group:').")
@click.option("--size", "sizes", multiple=True, metavar="RANK=SIZE",
              help="Set a rank size of the cascade, e.g. --size M=4096 (repeatable).")
@click.option("--json", "json_path", type=click.Path(), help="Write the report as JSON.")
@click.option("--csv", "csv_path", type=click.Path(), help="Write per-level traffic as CSV.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; exit status only.")
def evaluate(hardware: str, target: str, mapping_path: str, sizes: tuple[str, ...],
             json_path: str | None, csv_path: str | None, quiet: bool) -> None:
    """Evaluate a cascade (or one of its Einsums) on HARDWARE under a mapping.

    Prints per level and tensor the reads, fills, updates, bytes and energy, then latency,
    energy, off-chip traffic, utilization and the bottleneck.

    Example: accelsim evaluate hw_configs/shared-ws-32x32.yaml einsum_cascades/gemm.yaml
    --mapping mappings/gemm-ws-32x32.yaml --size M=512 --size N=512 --size K=512
    """
    from accelsim.model.api import evaluate as run
    from accelsim.report import summary_lines, to_json, traffic_table, write_csv, write_json

    report = run(target, hardware, mapping_path, sizes=_sizes(sizes))
    if json_path:
        write_json(json_path, to_json([report]))
    if csv_path:
        write_csv(csv_path, [report])
    if not quiet:
        from rich.console import Console

        console = Console()
        console.print(traffic_table(report))
        for line in summary_lines(report):
            console.print(line, highlight=False)


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
