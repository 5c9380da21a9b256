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
