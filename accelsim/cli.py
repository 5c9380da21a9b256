"""The ``accelsim`` command line: each command parses arguments and calls a library function.

One error boundary (:func:`main`) turns every :class:`~accelsim.errors.AccelsimError`
into one line on stderr and exit code 2; no traceback reaches the user for bad input.
"""

from __future__ import annotations

import os
import sys

import click

from accelsim import __version__
from accelsim.errors import AccelsimError


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
@click.option("--seq", "seq_len", type=click.IntRange(min=1), default=None,
              help="Prompt length (prefill; default 512, for a ViT its patches + 1).")
@click.option("--kv", "kv_len", type=click.IntRange(min=1), default=None,
              help="KV-cache length (decode; defaults to --seq).")
@click.option("--dtype", default="bf16", show_default=True, help="Element type of everything.")
@click.option("--attention", default=None,
              help="Attention variant: 3pass, 2pass, 1pass, flash2, splitkv "
                   "(default 3pass, fused by the search; with --no-fuse flash2 for "
                   "prefill, splitkv for decode).")
@click.option("--fuse/--no-fuse", default=True, show_default=True,
              help="Workloads: search which Einsums to fuse (intermediates on chip), or map "
                   "every Einsum as its own kernel.")
@click.option("--mapping", "-m", "mapping_path", type=click.Path(),
              help="Cascades: the mapping file (one Einsum, or a fused group).")
@click.option("--search", "strategy", default="anneal", show_default=True,
              help="Workloads: the mapper's strategy for every Einsum.")
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Workloads: mappings evaluated per Einsum (default 400).")
@click.option("--size", "sizes", multiple=True, metavar="RANK=SIZE",
              help="Cascades: set a rank size, e.g. --size M=4096 (repeatable).")
@click.option("--json", "json_path", type=OUTPUT, help="Write the result as JSON.")
@click.option("--csv", "csv_path", type=OUTPUT, help="Write a CSV (per Einsum or per level).")
@click.option("--ends/--no-ends", default=None,
              help="Workloads: also evaluate the embeddings and the final norm + LM head "
                   "(default: when the workload has a vocabulary).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; exit status only.")
def evaluate(hardware, target, **options) -> None:
    """Evaluate a workload (or a cascade under a mapping) on HARDWARE.

    A workload (workloads/*.yaml or a Hugging Face config.json) is lowered and searched end
    to end: which Einsums run fused (their intermediates on chip) and every kernel's
    mapping; the table lists each kernel's latency, energy, off-chip traffic, utilization,
    bottleneck and on-chip tensors, then per-layer and per-model time,
    tokens/s, energy per token, peak tile memory per level and whether the model fits.

    Examples:

      accelsim evaluate hw_configs/h100-sxm5-80gb.yaml workloads/llama-3-8b.yaml --phase decode --kv 4096

      accelsim evaluate hw_configs/shared-ws-32x32.yaml einsum_cascades/gemm.yaml -m mappings/gemm-ws-32x32.yaml
    """
    from accelsim import report as out
    from accelsim.lower import Request, is_workload

    given = _request_options(options)
    json_path, csv_path, quiet = options["json_path"], options["csv_path"], options["quiet"]
    if is_workload(target):
        ends, left_out = _ends(target, options["ends"])
        request = Request.for_workload(target, **given, embeddings=ends, lm_head=ends)
        result = _evaluate_workload(hardware, target, request, options["strategy"],
                                    options["budget"], quiet)
        if json_path:
            out.write_json(json_path, {"schema_version": out.SCHEMA_VERSION,
                                       "workload": result.to_dict()})
        if csv_path:
            out.write_workload_csv(csv_path, result)
        tables, lines = [out.workload_table(result)], out.workload_lines(result)
        lines += [f"leaves out  {left_out}"] if left_out else []
        lines += _sram_lines(hardware, target, given)
    else:
        if not options["mapping_path"]:
            raise click.UsageError("a cascade needs --mapping FILE")
        from accelsim.model.api import evaluate as run

        report = run(target, hardware, options["mapping_path"], sizes=_sizes(options["sizes"]))
        if json_path:
            out.write_json(json_path, out.to_json([report]))
        if csv_path:
            out.write_csv(csv_path, [report])
        tables, lines = [out.traffic_table(report)], out.summary_lines(report)
    if not quiet:
        _print(tables, lines)


def _print(tables, lines) -> None:
    """Rich tables, then plain lines (no highlighting of numbers)."""
    from rich.console import Console

    console = Console()
    for table in tables:
        console.print(table)
    for line in lines:
        console.print(line, highlight=False)


def _sram_lines(hardware, target, given: dict) -> list[str]:
    """Microcontrollers: the schedule's peak SRAM from tensor lifetimes, and whether it fits.
    ``given`` are the request's options; the cascade is the fused evaluation's (--attention,
    else 3pass), also under --no-fuse."""
    from accelsim.arch import load_architecture
    from accelsim.lower import Request
    from accelsim.model.lifetimes import sram_fit

    arch = load_architecture(str(hardware))
    if arch.family != "mcu":
        return []
    request = Request.for_workload(target, **{**given, "fuse": True})
    # activations may live in the system SRAM and the core-coupled data RAM (DTCM)
    ram = tuple(lv.name for lv in arch.levels if lv.name.upper() in ("SRAM", "DTCM")) or None
    fit = sram_fit(arch, target, request, level=ram)
    plain = sram_fit(arch, target, request, level=ram, in_place=False, overwrite=False)
    return [f"SRAM        {'fits' if fit.fits else 'does NOT fit'}: {fit.note}",
            f"SRAM        without in-place operators or token overwriting: "
            f"{plain.peak_bytes:,.0f} B at {plain.einsum}"]


def _evaluate_workload(hardware, target, request, strategy, budget, quiet):
    from accelsim.pipeline import evaluate_workload

    options = dict(strategy=strategy, budget=budget)
    if quiet:
        return evaluate_workload(hardware, target, request, **options)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("mapping Einsums", total=None)
        result = evaluate_workload(hardware, target, request, **options,
                                   on_einsum=lambda name, done, total: bar.update(
                                       task, completed=done, total=total,
                                       description=f"mapping {name}"))
    return result


REQUEST_OPTIONS = ("phase", "batch", "seq_len", "kv_len", "dtype", "attention", "fuse")
"""Command-line options that are fields of an accelsim.lower.Request."""


def _ends(target, wanted: bool | None) -> tuple[bool, str]:
    """Whether to lower a workload's embeddings and LM head (``wanted`` None: when it has a
    vocabulary), and what the evaluation then leaves out, said in words."""
    from accelsim.lower import load_workload

    vocab = load_workload(target).model.vocab
    if wanted and not vocab:
        raise click.BadParameter(f"{target} has no vocabulary: no embeddings or LM head to "
                                 "evaluate", param_hint="--ends")
    ends = bool(vocab) if wanted is None else wanted
    if ends:
        return True, ""
    if vocab:
        return False, "the embeddings and the final norm + LM head (--ends includes them)"
    return False, "the model's head (the workload gives no vocabulary)"


def _request_options(options: dict) -> dict:
    """The command's options that are request fields, taken out of ``options``.
    ``Request.for_workload(target, **given)`` then applies every default (a prompt of 512
    tokens or a ViT's patches + 1, --kv defaulting to --seq, the attention variant)."""
    return {name: options.pop(name) for name in REQUEST_OPTIONS if name in options}


def _workload_options(func):
    """Options shared by commands that lower a workload."""
    options = [
        click.option("--phase", type=click.Choice(["prefill", "decode"]), default="prefill",
                     show_default=True, help="A batch of prompts, or one decode step."),
        click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True),
        click.option("--seq", "seq_len", type=click.IntRange(min=1), default=None,
                     help="Prompt length (prefill; default 512, for a ViT its patches + 1)."),
        click.option("--kv", "kv_len", type=click.IntRange(min=1), default=None,
                     help="KV-cache length (decode; defaults to --seq)."),
        click.option("--dtype", default="bf16", show_default=True),
        click.option("--attention", default=None, help="3pass, 2pass, 1pass, flash2, splitkv."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.argument("hardware", type=click.Path())
@click.argument("target", type=click.Path())
@click.option("--einsum", "einsum_name", default=None,
              help="The Einsum to map (its output name), or a fused group: A+B+C.")
@click.option("--fuse", is_flag=True,
              help="Search the whole cascade (a workload's layer): which Einsums to fuse, "
                   "and every kernel's mapping.")
@_workload_options
@click.option("--size", "sizes", multiple=True, metavar="RANK=SIZE",
              help="Cascades: set a rank size (repeatable).")
@click.option("--objective", default="energy", show_default=True,
              help="energy, latency, edp or traffic.")
@click.option("--strategy", default="anneal", show_default=True,
              help="exhaustive, random, anneal or genetic.")
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Mappings to evaluate (default 20,000; exhaustive: the whole space).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--role", "roles", multiple=True, metavar="TENSOR=ROLE",
              help="Cascades: a tensor's role for keep/bypass by role, e.g. --role B=weight.")
@click.option("--save-mapping", "save_path", type=OUTPUT,
              help="Write the best mapping as a mapping YAML file.")
@click.option("--json", "json_path", type=OUTPUT, help="Write the best report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
def search(hardware, target, **options) -> None:
    """Search mappings of one Einsum, a fused group or a whole cascade on HARDWARE.

    One Einsum (--einsum Z) or a fused group (--einsum QK+GM+SN): prints the best mapping's
    traffic table, the mappings evaluated, the Pareto front's size and the found /
    lower-bound off-chip traffic; Ctrl-C stops early and keeps the best.  --fuse: the
    kernels chosen for the whole cascade (a workload's layer), fused and unfused totals and
    the tensors kept on chip.

    Examples:

      accelsim search hw_configs/shared-ws-32x32.yaml einsum_cascades/gemm.yaml --einsum Z

      accelsim search hw_configs/fusemax.yaml einsum_cascades/attention_3pass.yaml --fuse
    """
    from accelsim.lower import Request
    from accelsim.search import search as run

    name, whole = options.pop("einsum_name"), options.pop("fuse")
    fused = whole or "+" in (name or "")    # a workload's attention then defaults to 3pass
    request = Request.for_workload(target, **_request_options(options), fuse=fused)
    if not whole and not name:
        raise click.UsageError("give --einsum NAME (or A+B+C for a fused group), or --fuse")
    problem = _search_problem(target, None if whole else name, request,
                              _sizes(options["sizes"]), _roles(options["roles"]))
    quiet = options["quiet"]
    result = run(problem, hardware, objective=options["objective"],
                 strategy=options["strategy"], budget=options["budget"], seed=options["seed"],
                 progress=not quiet)
    if whole:
        _show_cascade_search(result, options["json_path"], quiet, options["objective"])
        return
    if options["save_path"]:
        mapping = result.mapping
        if not fused:       # one Einsum: the roles of the tensors it touches
            touched = {problem.einsum.name, *problem.einsum.inputs}
            mapping = mapping.model_copy(update={"roles": {
                t: r for t, r in problem.roles.items() if t in touched}})
        _save_mapping(options["save_path"], mapping)
    _show_search(result, options["json_path"], quiet, options["objective"])


def _roles(pairs: tuple[str, ...]) -> dict[str, str]:
    from accelsim.dtypes import ROLES

    roles = {}
    for pair in pairs:
        name, _, role = pair.partition("=")
        if not name or role not in ROLES:
            raise click.BadParameter(f"{pair!r} is not TENSOR=ROLE with a role among "
                                     f"{', '.join(ROLES)}", param_hint="--role")
        roles[name] = role
    return roles


def _known_roles(roles: dict[str, str], tensors, where: str) -> None:
    """--role names only tensors that ``where`` has."""
    unknown = sorted(set(roles) - set(tensors))
    if unknown:
        raise click.BadParameter(f"no tensor {', '.join(map(repr, unknown))} in {where}; its "
                                 f"tensors are {', '.join(sorted(tensors))}", param_hint="--role")


def _tensors_of(bound) -> tuple[str, ...]:
    from accelsim.mapping import einsum_problem

    return einsum_problem(bound).tensor_names


def _search_problem(target, name, request, sizes, roles):
    """What ``accelsim search`` maps: the whole cascade (``name`` None; a workload's
    layer), a fused group (``A+B+C``) or one Einsum, with ``roles`` over the derived ones."""
    from accelsim.errors import SpecError
    from accelsim.pipeline import bound_einsum_of, cascades_of
    from accelsim.search import BoundCascade, FusedGroup

    if name is not None and "+" not in name:
        bound = bound_einsum_of(target, name, sizes, request)
        _known_roles(roles, _tensors_of(bound), f"Einsum {name}")
        return bound.__class__(bound.einsum, bound.sizes, bound.dtypes, {**bound.roles, **roles})
    cascades, bound_sizes, dtypes, roles_of = cascades_of(target, sizes, request)
    _known_roles(roles, {t for c in cascades for t in c.tensors}, str(target))
    roles_of = {**roles_of, **roles}
    if name is None:
        return BoundCascade(cascades[0], bound_sizes, dtypes, roles_of)  # a workload's layer
    members = name.split("+")
    cascade = next((c for c in cascades if set(members) <= {e.name for e in c.einsums}), None)
    if cascade is None:
        names = [e.name for c in cascades for e in c.einsums]
        raise SpecError(f"no cascade has all of {name}; its Einsums are {', '.join(names)}",
                        file=str(target))
    return FusedGroup(cascade, tuple(members), bound_sizes, dtypes, roles_of)


def _show_cascade_search(found, json_path, quiet, objective) -> None:
    """The kernels a whole-cascade search chose: JSON, table and lines."""
    from accelsim import report as out

    if json_path:
        out.write_json(json_path, out.to_json([g.report for g in found.groups], {
            "groups": [list(g.members) for g in found.groups],
            "on_chip": list(found.on_chip), "elapsed_s": found.elapsed_s,
            "offchip_bound_bytes": found.offchip_bound_bytes}))
    if not quiet:
        _print([out.cascade_search_table(found)], out.cascade_search_lines(found, objective))


def _show_search(result, json_path, quiet, objective) -> None:
    """The best report of a single-Einsum or fused-group search: JSON, table and lines."""
    from accelsim import report as out

    if json_path:
        out.write_json(json_path, out.to_json([result.report], {
            "evaluated": result.evaluated, "elapsed_s": result.elapsed_s,
            "offchip_bound_bytes": result.offchip_bound_bytes}))
    if not quiet:
        _print([out.traffic_table(result.report)],
               out.summary_lines(result.report) + out.search_lines(result, objective))


def _save_mapping(path: str, mapping) -> None:
    import yaml

    data = mapping.model_dump(mode="json", exclude_defaults=True)
    data = {"kind": "mapping", "version": 1, **data}
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)


@cli.command()
@click.argument("hardware_a", type=click.Path())
@click.argument("hardware_b", type=click.Path())
@click.argument("workload", type=click.Path())
@_workload_options
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Mappings evaluated per Einsum (default 400).")
@click.option("--json", "json_path", type=OUTPUT, help="Write both results as JSON.")
def compare(hardware_a, hardware_b, workload, **options) -> None:
    """Two designs side by side on one WORKLOAD, with the ratio B / A of every total.

    Example: accelsim compare hw_configs/a100-sxm4-80gb.yaml hw_configs/h100-sxm5-80gb.yaml workloads/llama-3-8b.yaml --phase decode --kv 4096
    """
    from accelsim import report as out
    from accelsim.lower import Request

    request = Request.for_workload(workload, **_request_options(options))
    a, b = [_evaluate_workload(hw, workload, request, "anneal", options["budget"], False)
            for hw in (hardware_a, hardware_b)]
    _print([out.compare_table(a, b)], [])
    if options["json_path"]:
        out.write_json(options["json_path"], {"schema_version": out.SCHEMA_VERSION,
                                              "a": a.to_dict(), "b": b.to_dict()})


@cli.group()
def plot() -> None:
    """Plots as PNG or SVG: roofline, energy breakdown, Pareto front, traffic lower bound."""


@plot.command("roofline")
@click.argument("hardware", type=click.Path())
@click.argument("workload", type=click.Path())
@_workload_options
@click.option("--budget", type=click.IntRange(min=1), default=None)
@click.option("--output", "-o", required=True, type=OUTPUT, help="PNG or SVG file.")
def plot_roofline(hardware, workload, **options) -> None:
    """One point per Einsum of WORKLOAD under HARDWARE's compute and bandwidth roofs.

    Example: accelsim plot roofline hw_configs/h100-sxm5-80gb.yaml workloads/llama-3-8b.yaml --phase decode -o roofline.png
    """
    from accelsim.arch import load_architecture
    from accelsim.lower import Request
    from accelsim.report.plots import roofline

    request = Request.for_workload(workload, **_request_options(options))
    result = _evaluate_workload(hardware, workload, request, "anneal", options["budget"], True)
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

    click.echo(energy_breakdown(run(target, hardware, mapping_path, sizes=_sizes(sizes)), output))


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

    bound = bound_einsum_of(target, einsum_name, _sizes(sizes),
                            Request.for_workload(target, fuse=False))
    _known_roles(_roles(roles), _tensors_of(bound), f"Einsum {einsum_name}")
    bound = bound.__class__(bound.einsum, bound.sizes, bound.dtypes,
                            {**bound.roles, **_roles(roles)})
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

    Example: accelsim calibrate --device cpu --out my-cpu.yaml
    """
    from accelsim.validate.cpu import calibrate as run

    click.echo(run(out_path, quick=quick, threads=threads))


@cli.command()
@click.argument("hardware", type=click.Path(), required=False)
@click.option("--device", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True)
@click.option("--quick", is_flag=True, help="Fewer, smaller cases.")
@click.option("--published", is_flag=False, flag_value="", default=None, metavar="[FILE]",
              help="Compare with runtimes published in papers instead of timing this machine: "
                   "every file in tests/data/published, or FILE; HARDWARE, if given, replaces "
                   "the preset each file names.")
@click.option("--measured", "measured", type=click.Path(), default=None, metavar="FILE",
              help="Compare with measured GPU operator latencies in FILE (NeuSight's CSV "
                   "format, gzipped or not): per operator family and GPU, accelsim's and a "
                   "roofline's MAPE and median signed error.")
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
    if options["measured"] is not None:
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

    path, json_path, plot_path = options["measured"], options["json_path"], options["plot_path"]
    with Progress(transient=True) as bar:
        task = bar.add_task("predicting measured rows", total=None)
        rows = compare(path, options["gpu"], options["per_group"], options["budget"],
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    cells = summarize(rows)
    click.echo(format_summary(cells))
    click.echo(f"{len(rows)} rows of {path}; MAPE and median signed error in percent, "
               "(predicted - measured) / measured; roofline: max(FLOPs / fp32 peak, "
               "compulsory bytes / DRAM bandwidth)")
    if json_path:
        write_json(rows, json_path, device="measured", hardware="per row",
                   summary=[asdict(c) for c in cells])
    if plot_path:
        scatter(rows, plot_path, title="accelsim vs measured", by=lambda r: r.extra["gpu"])


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
