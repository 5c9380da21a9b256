"""Commands on systems of several devices: ``collective``."""

from __future__ import annotations

import click

from accelsim.cli.common import OUTPUT, cli, print_all, request_options, workload_options
from accelsim.cli.tools import plot

DEFAULT_SIZES = tuple(8 * 8**i for i in range(11))
"""8 B to 8 GiB, a factor of 8 apart (as ``nccl-tests -b 8 -e 8G -f 8``)."""


def _bytes(text: str) -> float:
    from accelsim.units import parse_quantity

    try:
        value = parse_quantity(text, "capacity").value
    except Exception as exc:   # the units parser's message names what it expected
        raise click.BadParameter(f"{text!r} is not a size ({exc})", param_hint="--size")
    if not value > 0:
        raise click.BadParameter(f"{text!r} is not a positive size", param_hint="--size")
    return value


@cli.command()
@click.argument("system", type=click.Path())
@click.option("--op", type=click.Choice(["all_reduce", "all_gather", "reduce_scatter",
                                         "all_to_all", "send_recv"]),
              default="all_reduce", show_default=True)
@click.option("--algorithm", type=click.Choice(["ring", "tree"]), default="ring",
              show_default=True, help="All-reduce algorithm.")
@click.option("--size", "sizes", multiple=True, metavar="BYTES",
              help="Message size as nccl-tests reports it, e.g. '1 GiB' (repeatable; default "
                   "8 B to 8 GiB, a factor of 8 apart).")
@click.option("--devices", type=click.IntRange(min=1), default=None,
              help="Devices taking part (default: the whole group; send_recv: always 2).")
@click.option("--group", default=None, help="Device group (default: the first).")
@click.option("--json", "json_path", type=OUTPUT, help="Write the rows as JSON.")
def collective(system, op, algorithm, sizes, devices, group, json_path) -> None:
    """Time a collective over SYSTEM's link: per size, the time, the algorithm and bus
    bandwidths as nccl-tests defines them, and the protocol that wins.

    Example:

      accelsim collective hw_configs/systems/dgx-a100.yaml --op all_reduce --size 1GiB
    """
    from rich.table import Table

    from accelsim.system import load_system

    machine = load_system(str(system))
    chosen = [_bytes(s) for s in sizes] or list(DEFAULT_SIZES)
    rows = [machine.collective(op, size, devices, group, algorithm) for size in chosen]
    table = Table(title=f"{op} ({algorithm}) on {machine.name}: {rows[0].devices} devices")
    for name in ("size (B)", "time (us)", "algbw (GB/s)", "busbw (GB/s)", "protocol"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(f"{r.size_bytes:,.0f}", f"{r.time_s * 1e6:,.2f}", f"{r.algbw / 1e9:.2f}",
                      f"{r.busbw / 1e9:.2f}", r.protocol)
    link = machine.link_of(machine.group(group).name)
    lines = [f"link        {link.name}: {link.link.kind}, {link.link.topology}, "
             f"{link.link.bytes_per_s / 1e9:g} GB/s per device and direction"]
    if json_path:
        from accelsim.report import write_json

        write_json(json_path, {"system": machine.name, "link": link.name, "rows": [
            r.to_dict() for r in rows]})
    print_all([table], lines)


def is_system(path) -> bool:
    """Whether ``path`` is a system spec (``kind: system``)."""
    from accelsim.spec.load import read_document

    return read_document(str(path))[1] == "system"


def evaluate_on_system(system_path, target, request, options) -> None:
    """``accelsim evaluate SYSTEM WORKLOAD``: one device's kernels, then the system's
    collectives, stages and totals (accelsim.system.parallel)."""
    from accelsim import report as out
    from accelsim.lower import is_workload
    from accelsim.system import load_system
    from accelsim.system.parallel import Parallelism, evaluate_system

    if not is_workload(target):
        raise click.UsageError("a system evaluates a workload (workloads/*.yaml or a "
                               "config.json), not a cascade")
    system = load_system(str(system_path))
    if options["offload_attention"]:
        if options["tp"] or options["pp"] > 1 or options["microbatches"] > 1 or \
                options["overlap"] != "none" or options["ep"] > 1:
            raise click.UsageError("--offload-attention runs the compute group at tensor "
                                   "parallelism of all its devices; leave out --tp, --ep, "
                                   "--pp, --microbatches and --overlap")
        return _offload(system, str(target), request, options)
    if options["price"]:
        raise click.UsageError("--price is for --offload-attention (cost per token)")
    spread = options["pp"] * options["ep"]
    tp = options["tp"] or (max(1, system.group(options["group"]).count // spread)
                           if options["ep"] == 1 else 1)
    plan = Parallelism(tp, options["pp"], options["microbatches"], options["overlap"],
                       options["ep"])
    result = evaluate_system(system, str(target), request, plan, options["group"],
                             not options["ignore_fit"], strategy=options["strategy"],
                             budget=options["budget"])
    if options["json_path"]:
        out.write_json(options["json_path"], {"schema_version": out.SCHEMA_VERSION,
                                              "system": result.to_dict()})
    if not options["quiet"]:
        print_all([out.workload_table(result.device)], out.system_lines(result))


@plot.command("timeline")
@click.argument("system", type=click.Path())
@click.argument("workload", type=click.Path())
@workload_options
@click.option("--tp", type=click.IntRange(min=1), default=None,
              help="Tensor-parallel degree (default: every device of the group).")
@click.option("--overlap", type=click.Choice(["none", "ladder"]), default="none",
              show_default=True)
@click.option("--group", default=None, help="Device group (default: the first).")
@click.option("--layers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Layers drawn.")
@click.option("--budget", type=click.IntRange(min=1), default=None)
@click.option("--output", "-o", required=True, type=OUTPUT, help="PNG or SVG file.")
def plot_timeline(system, workload, **options) -> None:
    """A Gantt chart of a tensor-parallel layer's compute and all-reduce streams.

    Example: accelsim plot timeline hw_configs/systems/dgx-h100.yaml workloads/llama-3-8b.yaml --phase decode --overlap ladder -o timeline.png
    """
    from accelsim.lower import Request
    from accelsim.report.plots import timeline
    from accelsim.system import load_system
    from accelsim.system.parallel import Parallelism, evaluate_system

    request = Request.for_workload(workload, **request_options(options))
    machine = load_system(str(system))
    tp = options["tp"] or machine.group(options["group"]).count
    result = evaluate_system(machine, str(workload), request,
                             Parallelism(tp, overlap=options["overlap"]), options["group"],
                             budget=options["budget"])
    click.echo(timeline(result, options["output"], options["layers"]))


def _prices(pairs: tuple[str, ...], system) -> dict[str, float]:
    prices = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            prices[system.group(name.strip()).name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{pair!r} is not GROUP=USD_PER_DEVICE_HOUR (e.g. "
                                     "attention=1.49)", param_hint="--price") from None
        if not 0 < prices[name.strip()] < float("inf"):
            raise click.BadParameter(f"{pair!r}: a price must be a positive number",
                                     param_hint="--price")
    return prices


def _offload(system, target: str, request, options) -> None:
    """evaluate --offload-attention: the offloaded decode step beside the compute group
    alone (accelsim.system.offload), and cost per token where --price gives prices."""
    from accelsim import report as out
    from accelsim.system.offload import evaluate_offload
    from accelsim.system.parallel import Parallelism, evaluate_system

    compute = system.group(options["group"]).name
    prices = _prices(options["price"], system)
    attention = system.group(options["offload_attention"]).name
    if prices and set(prices) != {compute, attention}:
        raise click.BadParameter(f"give a price for both groups, {compute!r} and "
                                 f"{attention!r}", param_hint="--price")
    search = dict(strategy=options["strategy"], budget=options["budget"])
    result = evaluate_offload(system, target, request, compute, options["offload_attention"],
                              not options["ignore_fit"], **search)
    alone = evaluate_system(system, target, request, Parallelism(result.devices[0]), compute,
                            False, **search)     # the report says whether it fits
    if options["json_path"]:
        out.write_json(options["json_path"], {"schema_version": out.SCHEMA_VERSION,
                                              "offload": result.to_dict(alone.tokens_per_s)})
    if not options["quiet"]:
        print_all([out.workload_table(result.compute)],
                  out.offload_lines(result, alone, prices, options["offload_attention"],
                                    compute))
