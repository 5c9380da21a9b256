"""Commands that evaluate and search: ``evaluate``, ``search`` and ``compare``."""

from __future__ import annotations

import click

from accelsim.cli.common import (OUTPUT, check_roles, cli, parse_roles, parse_sizes, print_all,
                                 request_options, tensors_of, workload_options)


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
@click.option("--dtype", default="bf16", show_default=True,
              help="Element type of everything, or per tensor class: "
                   "weights=int8,activations=fp16,kv=fp8 (accum too).")
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
@click.option("--launch", type=click.Choice(["async", "sync"]), default="async",
              show_default=True,
              help="GPUs: per-kernel overhead of kernels launched back to back into one "
                   "stream (async), or each followed by a synchronize (sync).")
@click.option("--tp", type=click.IntRange(min=1), default=None,
              help="Systems: tensor-parallel degree (default: the group's devices / --pp).")
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True,
              help="Systems: pipeline stages.")
@click.option("--ep", type=click.IntRange(min=1), default=1, show_default=True,
              help="Systems, mixtures of experts: devices the experts are spread over (each "
                   "runs its share of the sequences).")
@click.option("--microbatches", type=click.IntRange(min=1), default=1, show_default=True,
              help="Systems: microbatches the batch is split into.")
@click.option("--group", default=None, help="Systems: the device group (default: the first).")
@click.option("--overlap", type=click.Choice(["none", "ladder"]), default="none",
              show_default=True,
              help="Systems: all-reduces after their block (none), or overlapped with the next "
                   "block's compute (Ladder Residual).")
@click.option("--offload-attention", default=None, metavar="GROUP",
              help="Systems, decode: run attention on device group GROUP and the rest on "
                   "--group (Lamina's attention offloading).")
@click.option("--price", multiple=True, metavar="GROUP=USD",
              help="With --offload-attention: a device group's price per device-hour, for "
                   "cost per token (repeatable).")
@click.option("--ignore-fit", is_flag=True,
              help="Systems: evaluate a plan whose weights and KV cache overflow a device "
                   "(refused otherwise).")
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
    from accelsim.arch import load_architecture
    from accelsim.lower import Request, is_workload

    from accelsim.cli.system import evaluate_on_system, is_system

    given = request_options(options)
    json_path, csv_path, quiet = options["json_path"], options["csv_path"], options["quiet"]
    if is_system(hardware):
        ends = is_workload(target) and _ends(target, options["ends"])[0]
        request = Request.for_workload(target, **given, embeddings=ends, lm_head=ends)
        return evaluate_on_system(hardware, target, request, options)
    if ((options["tp"] or 1) > 1 or options["pp"] > 1 or options["microbatches"] > 1
            or options["ep"] > 1
            or options["overlap"] != "none" or options["offload_attention"]):
        raise click.UsageError("--tp, --ep, --pp, --microbatches, --overlap and "
                               "--offload-attention "
                               "need a system spec "
                               "(kind: system, e.g. hw_configs/systems/dgx-h100.yaml)")
    if is_workload(target):
        ends, left_out = _ends(target, options["ends"])
        request = Request.for_workload(target, **given, embeddings=ends, lm_head=ends)
        arch = load_architecture(str(hardware)).in_launch_mode(options["launch"])
        result = run_workload(arch, target, request, options["strategy"],
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

        arch = load_architecture(str(hardware)).in_launch_mode(options["launch"])
        report = run(target, arch, options["mapping_path"], sizes=parse_sizes(options["sizes"]))
        if json_path:
            out.write_json(json_path, out.to_json([report]))
        if csv_path:
            out.write_csv(csv_path, [report])
        tables, lines = [out.traffic_table(report)], out.summary_lines(report)
    if not quiet:
        print_all(tables, lines)


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


def run_workload(hardware, target, request, strategy, budget, quiet):
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


@cli.command()
@click.argument("hardware", type=click.Path())
@click.argument("target", type=click.Path())
@click.option("--einsum", "einsum_name", default=None,
              help="The Einsum to map (its output name), or a fused group: A+B+C.")
@click.option("--fuse", is_flag=True,
              help="Search the whole cascade (a workload's layer): which Einsums to fuse, "
                   "and every kernel's mapping.")
@workload_options
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
    request = Request.for_workload(target, **request_options(options), fuse=fused)
    if not whole and not name:
        raise click.UsageError("give --einsum NAME (or A+B+C for a fused group), or --fuse")
    problem = _search_problem(target, None if whole else name, request,
                              parse_sizes(options["sizes"]), parse_roles(options["roles"]))
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


def _search_problem(target, name, request, sizes, roles):
    """What ``accelsim search`` maps: the whole cascade (``name`` None; a workload's
    layer), a fused group (``A+B+C``) or one Einsum, with ``roles`` over the derived ones."""
    from accelsim.errors import SpecError
    from accelsim.pipeline import bound_einsum_of, cascades_of
    from accelsim.search import BoundCascade, FusedGroup

    if name is not None and "+" not in name:
        bound = bound_einsum_of(target, name, sizes, request)
        check_roles(roles, tensors_of(bound), f"Einsum {name}")
        return bound.__class__(bound.einsum, bound.sizes, bound.dtypes, {**bound.roles, **roles})
    cascades, bound_sizes, dtypes, roles_of = cascades_of(target, sizes, request)
    check_roles(roles, {t for c in cascades for t in c.tensors}, str(target))
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
        print_all([out.cascade_search_table(found)], out.cascade_search_lines(found, objective))


def _show_search(result, json_path, quiet, objective) -> None:
    """The best report of a single-Einsum or fused-group search: JSON, table and lines."""
    from accelsim import report as out

    if json_path:
        out.write_json(json_path, out.to_json([result.report], {
            "evaluated": result.evaluated, "elapsed_s": result.elapsed_s,
            "offchip_bound_bytes": result.offchip_bound_bytes}))
    if not quiet:
        print_all([out.traffic_table(result.report)],
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
@workload_options
@click.option("--budget", type=click.IntRange(min=1), default=None,
              help="Mappings evaluated per Einsum (default 400).")
@click.option("--json", "json_path", type=OUTPUT, help="Write both results as JSON.")
def compare(hardware_a, hardware_b, workload, **options) -> None:
    """Two designs side by side on one WORKLOAD, with the ratio B / A of every total.

    Example: accelsim compare hw_configs/a100-sxm4-80gb.yaml hw_configs/h100-sxm5-80gb.yaml workloads/llama-3-8b.yaml --phase decode --kv 4096
    """
    from accelsim import report as out
    from accelsim.lower import Request

    request = Request.for_workload(workload, **request_options(options))
    a, b = [run_workload(hw, workload, request, "anneal", options["budget"], False)
            for hw in (hardware_a, hardware_b)]
    print_all([out.compare_table(a, b)], [])
    if options["json_path"]:
        out.write_json(options["json_path"], {"schema_version": out.SCHEMA_VERSION,
                                              "a": a.to_dict(), "b": b.to_dict()})
