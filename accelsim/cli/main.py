"""The ``accelsim`` command line: each command parses arguments and calls a library function.

One error boundary (:func:`main`) turns every :class:`~accelsim.errors.AccelsimError`
into one line on stderr and exit code 2; no traceback reaches the user for bad input.
"""

from __future__ import annotations

import sys

import click

from accelsim.cli import system, tools, workload  # noqa: F401  (they add their commands to cli)
from accelsim.cli.common import EXIT_FAILED, EXIT_OK, cli
from accelsim.errors import AccelsimError


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI inside the error boundary and return the exit code; an
    AccelsimWarning is printed as one ``warning:`` line."""
    import warnings

    from accelsim.errors import AccelsimWarning

    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, *args, **kwargs):
            if issubclass(category, AccelsimWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        return _run(argv)


def _run(argv: list[str] | None) -> int:
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
