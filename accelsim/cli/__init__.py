"""The ``accelsim`` command line (:mod:`accelsim.cli.main`); commands live in
:mod:`accelsim.cli.workload` and :mod:`accelsim.cli.tools`."""

from accelsim.cli.main import cli, entry, main

__all__ = ["cli", "entry", "main"]
