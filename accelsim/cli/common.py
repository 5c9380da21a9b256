"""What the ``accelsim`` commands share: the command group, the check of output files,
the options that make a :class:`~accelsim.lower.Request`, and the parsing of
``RANK=SIZE`` and ``TENSOR=ROLE`` pairs."""

from __future__ import annotations

import os

import click

from accelsim import __version__


class OutputFile(click.Path):
    """A file a command will write: checked when the command line is read, before any
    work, so that a missing folder or a folder given as the file is one clear line (exit
    2) instead of a traceback after minutes of work."""

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if os.path.isdir(value):
            self.fail(f"{value!r} is a folder; expected a file name", param, ctx)
        folder = os.path.dirname(value)
        if folder and not os.path.isdir(folder):
            self.fail(f"folder {folder!r} does not exist", param, ctx)
        return value


OUTPUT = OutputFile(dir_okay=False)


EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="accelsim")
def cli() -> None:
    """accelsim: map Transformer Einsum cascades onto hardware and predict their cost."""


def parse_sizes(pairs: tuple[str, ...]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not name or not value.strip().isdigit() or int(value) < 1:
            raise click.BadParameter(f"{pair!r} is not RANK=SIZE with a positive size (e.g. M=4096)",
                                     param_hint="--size")
        sizes[name.strip()] = int(value)
    return sizes


def print_all(tables, lines) -> None:
    """Rich tables, then plain lines (no highlighting of numbers)."""
    from rich.console import Console

    console = Console()
    for table in tables:
        console.print(table)
    for line in lines:
        console.print(line, highlight=False)


REQUEST_OPTIONS = ("phase", "batch", "seq_len", "kv_len", "dtype", "attention", "fuse")
"""Command-line options that are fields of an accelsim.lower.Request."""


def request_options(options: dict) -> dict:
    """The command's options that are request fields, taken out of ``options``.
    ``Request.for_workload(target, **given)`` then applies every default (a prompt of 512
    tokens or a ViT's patches + 1, --kv defaulting to --seq, the attention variant)."""
    return {name: options.pop(name) for name in REQUEST_OPTIONS if name in options}


def workload_options(func):
    """Options shared by commands that lower a workload."""
    options = [
        click.option("--phase", type=click.Choice(["prefill", "decode"]), default="prefill",
                     show_default=True, help="A batch of prompts, or one decode step."),
        click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True),
        click.option("--seq", "seq_len", type=click.IntRange(min=1), default=None,
                     help="Prompt length (prefill; default 512, for a ViT its patches + 1)."),
        click.option("--kv", "kv_len", type=click.IntRange(min=1), default=None,
                     help="KV-cache length (decode; defaults to --seq)."),
        click.option("--dtype", default="bf16", show_default=True,
                     help="One element type, or weights=int8,activations=fp16,kv=fp8."),
        click.option("--attention", default=None, help="3pass, 2pass, 1pass, flash2, splitkv."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def parse_roles(pairs: tuple[str, ...]) -> dict[str, str]:
    from accelsim.dtypes import ROLES

    roles = {}
    for pair in pairs:
        name, _, role = pair.partition("=")
        if not name or role not in ROLES:
            raise click.BadParameter(f"{pair!r} is not TENSOR=ROLE with a role among "
                                     f"{', '.join(ROLES)}", param_hint="--role")
        roles[name] = role
    return roles


def check_roles(roles: dict[str, str], tensors, where: str) -> None:
    """--role names only tensors that ``where`` has."""
    unknown = sorted(set(roles) - set(tensors))
    if unknown:
        raise click.BadParameter(f"no tensor {', '.join(map(repr, unknown))} in {where}; its "
                                 f"tensors are {', '.join(sorted(tensors))}", param_hint="--role")


def tensors_of(bound) -> tuple[str, ...]:
    from accelsim.mapping import einsum_problem

    return einsum_problem(bound).tensor_names
