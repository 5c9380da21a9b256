"""Reports for people: rich tables and short lines of totals.

rich is imported inside each table function, so scripts that only want JSON never pay for it.
"""

from __future__ import annotations

import math

from accelsim.model import Report


def _si(value: float, unit: str) -> str:
    if value is None:
        return "n/a"
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    exponent = max(-5, min(4, int(math.floor(math.log10(abs(value)) / 3))))
    prefix = {-5: "f", -4: "p", -3: "n", -2: "u", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T"}
    return f"{value / 10 ** (3 * exponent):.3g} {prefix[exponent]}{unit}"


def traffic_table(report: Report):
    """A rich Table: per level and tensor, the actions, bytes and energy."""
    from rich.table import Table

    table = Table(title=f"{report.einsum} on {report.hardware} ({report.mapping})")
    for name in ("level", "tensor", "reads", "fills", "updates", "bytes", "energy"):
        table.add_column(name, justify="left" if name in ("level", "tensor") else "right")
    for t in report.tensors:
        table.add_row(t.level, t.tensor, f"{t.reads:,}", f"{t.fills:,}", f"{t.updates:,}",
                      _si(t.bytes, "B"), _si(t.energy_pj * 1e-12 if t.energy_pj is not None
                                             else None, "J"))
    return table


def summary_lines(report: Report) -> list[str]:
    """Totals as short lines: latency, energy, traffic, utilization, bottleneck, notes."""
    lines = [
        f"latency     {_si(report.latency_s, 's')}  ({report.cycles:,.0f} cycles, bottleneck: "
        f"{report.bottleneck})",
        f"energy      {_energy(report.energy_pj * 1e-12, report.energy_known)}"
        + (f"  (leaves out {', '.join(report.energy_missing)}: no published figure)"
           if report.energy_missing else ""),
        f"off-chip    {_si(report.offchip_bytes, 'B')}",
        f"utilization {report.utilization:.1%}",
    ]
    lines += [f"note        {n}" for n in report.notes]
    return lines


WORKLOAD_LEGEND = ("x: times the kernel runs in the model (per layer x layers); A+...+B (n): "
                   "one fused kernel of n Einsums; util: the main unit's operations over its "
                   "peak for the kernel's time; bottleneck: its slowest term (compute, a "
                   "level, latency: the launch, occupancy: idle SMs)")
"""The workload table's legend, printed under it."""


def workload_table(result):
    """A rich Table: one row per kernel (an Einsum or a fused group) of a workload result,
    with its multiplicity."""
    from rich.table import Table

    table = Table(title=f"{result.workload} {result.phase} on {result.hardware} "
                        f"(batch {result.batch}, attention {result.attention})",
                  caption=WORKLOAD_LEGEND, caption_justify="left")
    for name in ("part", "kernel", "x", "latency", "energy", "off-chip", "util", "bottleneck"):
        table.add_column(name, justify="left" if name in ("part", "kernel", "bottleneck")
                         else "right")
    for e in result.einsums:
        r = e.report
        table.add_row(e.part, kernel_label(e.name), str(e.count), _si(r.latency_s, "s"),
                      _energy(r.energy_pj * 1e-12, r.energy_known), _si(r.offchip_bytes, "B"),
                      f"{r.utilization:.0%}", r.bottleneck)
    return table


def _energy(joules: float, known: bool) -> str:
    """An energy with an SI prefix, or 'unknown' where nothing was counted because no unit
    has a figure (a zero would read as a measurement)."""
    if not known:
        return "unknown"
    return _si(joules, "J")


def compare_table(a, b):
    """A rich Table: two workload results side by side with the ratio B / A of every total
    (energies 'unknown', without a ratio, where a design has no figure)."""
    from rich.table import Table

    table = Table(title=f"{a.workload} {a.phase}: {a.hardware} vs {b.hardware}")
    for column in ("metric", a.hardware, b.hardware, "B / A"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for label, key, unit in (("latency per layer", "layer_latency_s", "s"),
                             ("latency per model", "model_latency_s", "s"),
                             ("tokens/s", "tokens_per_s", ""), ("energy", "energy_j", "J"),
                             ("energy per token", "energy_per_token_j", "J")):
        va, vb = getattr(a, key), getattr(b, key)
        if unit == "J":
            ratio = va and a.energy_known and b.energy_known
            table.add_row(label, _energy(va, a.energy_known), _energy(vb, b.energy_known),
                          f"{vb / va:.3g}" if ratio else "n/a")
        else:
            table.add_row(label, _si(va, unit), _si(vb, unit), f"{vb / va:.3g}" if va else "n/a")
    table.add_row("fits", "yes" if a.fits else "no", "yes" if b.fits else "no", "")
    return table


def kernel_label(name: str) -> str:
    """A fused group's name (members joined by '+') shortened to its ends and size."""
    members = name.split("+")
    return name if len(members) <= 3 else f"{members[0]}+...+{members[-1]} ({len(members)})"


LAUNCH_WORDS = {"async": "back to back into one stream",
                "sync": "a synchronize after each launch"}
"""What each launch mode (accelsim.arch.LAUNCH_MODES) means, for the report."""


def workload_lines(result, objective: str = "latency") -> list[str]:
    """Totals of a workload result as short lines; ``objective``: what the mapper
    minimized."""
    einsums = sum(len(e.name.split("+")) for e in result.einsums if e.part == "layer")
    kernels = sum(1 for e in result.einsums if e.part == "layer")
    on_chip = [t for e in result.einsums if e.part == "layer" for t in e.on_chip]
    lines = [
        f"search      {'fused' if result.fused else 'unfused'}: {einsums} Einsums per layer "
        f"in {kernels} kernels; {result.evaluated:,} mappings in {result.search_s:.2f} s, "
        f"minimizing {objective}",
    ]
    if result.launch_overhead_s:
        lines.append(f"launches    {result.launch_mode}: {_si(result.launch_overhead_s, 's')} per "
                     f"kernel ({LAUNCH_WORDS[result.launch_mode]})")
    if on_chip:
        lines.append(f"on chip     {len(on_chip)} intermediates never leave the chip: "
                     + ", ".join(on_chip))
    missing = sorted({m for e in result.einsums for m in e.report.energy_missing})
    known = result.energy_known
    lines += [
        f"per layer   {_si(result.layer_latency_s, 's')}  x {result.layers} layers",
        f"model       {_si(result.model_latency_s, 's')}  ({result.tokens} token(s): "
        f"{result.tokens_per_s:,.1f} tokens/s)",
        f"energy      {_energy(result.energy_j, known)}  "
        f"({_energy(result.energy_per_token_j, known)} per token)"
        + (f"; leaves out {', '.join(missing)} (no published figure)" if missing else ""),
        "peak tiles  " + ", ".join(f"{k} {_si(v, 'B')}" for k, v in result.peak_bytes.items()),
        f"fits        {'yes' if result.fits else 'NO'}: {result.fits_note}",
    ]
    return lines


def search_lines(result, objective: str | None = None) -> list[str]:
    """How a single-Einsum or fused-group search went: mappings, time, Pareto front, and
    found / lower-bound off-chip traffic when there is a bound; ``objective``: what it
    minimized."""
    aim = f", minimizing {objective}" if objective else ""
    lines = [f"searched    {result.evaluated:,} mappings in {result.elapsed_s:.2f} s "
             f"({result.strategy}, seed {result.seed}{aim}); Pareto front: "
             f"{len(result.pareto)} mappings"]
    if result.found_over_bound is not None:
        lines.append(f"off-chip    found / lower bound = {result.found_over_bound:.3f}")
    return lines


def cascade_search_table(found):
    """A rich Table: the kernels a cascade search chose, with their tiles, time, energy,
    off-chip traffic and the tensors they keep on chip."""
    from rich.table import Table

    table = Table(title="kernels chosen by the fusion search")
    for name in ("kernel", "tiles", "latency", "energy", "off-chip", "on chip"):
        table.add_column(name)
    for g in found.groups:
        table.add_row(kernel_label("+".join(g.members)),
                      ", ".join(f"{r}={t}" for r, t in g.tiles.items()) or "-",
                      _si(g.report.latency_s, "s"),
                      _energy(g.report.energy_pj * 1e-12, g.report.energy_known),
                      _si(g.report.offchip_bytes, "B"), ", ".join(g.on_chip) or "-")
    return table


def cascade_search_lines(found, objective: str | None = None) -> list[str]:
    """A cascade search's fused and unfused totals, found / bound and effort; ``objective``:
    what it minimized (a fused plan may be slower than unfused under energy)."""
    known = any(g.report.energy_known for g in found.groups)   # same machine fused or not
    lines = [f"fused       latency {_si(found.latency_s, 's')}, energy "
             f"{_energy(found.energy_pj * 1e-12, known)}, "
             f"off-chip {_si(found.offchip_bytes, 'B')}",
             f"unfused     latency {_si(found.unfused_latency_s, 's')}, energy "
             f"{_energy(found.unfused_energy_pj * 1e-12, known)}, "
             f"off-chip {_si(found.unfused_offchip_bytes, 'B')}"]
    if found.found_over_bound is not None:
        lines.append(f"off-chip    found / lower bound = {found.found_over_bound:.3f}")
    aim = f", minimizing {objective}" if objective else ""
    lines.append(f"searched    {found.evaluated:,} mappings, {found.candidates} candidate "
                 f"groups in {found.elapsed_s:.2f} s{aim}")
    return lines


def system_lines(result) -> list[str]:
    """Totals of a workload on a system (accelsim.system.parallel.SystemResult)."""
    plan = result.parallelism
    lines = [f"system      {result.system}, group {result.group!r}: TP {plan.tp} x EP {plan.ep} "
             f"x PP {plan.pp}, {plan.microbatches} microbatch(es)",
             "table       one device of one stage, one microbatch"]
    names = (("dispatch", "combine") if plan.ep > 1 else ("attention", "ffn"))
    for name, c in zip(names, result.collectives):
        lines.append(f"{c.op.replace('_', '-'):<11} {name}: {_si(c.size_bytes, 'B')} over "
                     f"{c.devices} devices in {_si(c.time_s, 's')} ({c.protocol}, "
                     f"{c.busbw / 1e9:.1f} GB/s bus)")
    if result.transfer is not None:
        lines.append(f"transfer    {_si(result.transfer.size_bytes, 'B')} between stages in "
                     f"{_si(result.transfer.time_s, 's')}")
    comm = result.layer_comm_s
    share = comm / (comm + result.layer_compute_s) if comm else 0.0
    lines += [
        f"per layer   compute {_si(result.layer_compute_s, 's')} + communication "
        f"{_si(comm, 's')} ({share:.0%} of the two)",
    ]
    if plan.overlap != "none":
        lines.append(f"overlap     {plan.overlap}: {_si(result.model_latency_s, 's')} against "
                     f"{_si(result.standard_latency_s, 's')} without overlap ("
                     f"{result.standard_latency_s / result.model_latency_s:.3f}x)")
    lines += [
        "stages      " + ", ".join(_si(s, "s") for s in result.stage_s)
        + (f"; bubble {result.bubble:.0%}" if plan.pp > 1 else ""),
        f"model       {_si(result.model_latency_s, 's')}  ({result.tokens} token(s): "
        f"{result.tokens_per_s:,.1f} tokens/s)",
        f"per device  weights {_si(result.weights_bytes, 'B')} + KV "
        f"{_si(result.kv_cache_bytes, 'B')} {'<=' if result.fits else '>'} "
        f"{_si(result.capacity_bytes, 'B')}: {'fits' if result.fits else 'does NOT fit'}",
    ]
    return lines


def offload_lines(result, alone, prices: dict, attention: str, compute: str) -> list[str]:
    """An offloaded decode step (accelsim.system.offload.OffloadResult) beside the compute
    group alone (``alone``, a SystemResult); cost per token where ``prices`` (group -> USD
    per device-hour) names both groups."""
    n_c, n_a = result.devices
    (weights, _, cap_c), (_, kv, cap_a) = result.memory
    lines = [
        f"offload     attention on {attention!r} ({n_a} devices), the rest on {compute!r} "
        f"(TP {n_c}); the table is one {compute!r} device",
        f"per layer   compute {_si(result.compute_s, 's')} (all-reduces included), to "
        f"attention {_si(result.to_attention.time_s, 's')}, attention "
        f"{_si(result.attention_s, 's')}, back {_si(result.from_attention.time_s, 's')}",
        f"one batch   {_si(result.latency_s, 's')} per step ({result.tokens} token(s))",
        f"pipelined   two batches in flight: {_si(result.period_s, 's')} per layer, "
        f"{result.tokens_per_s:,.1f} tokens/s",
        f"alone       {compute!r} alone (TP {n_c}): {alone.tokens_per_s:,.1f} tokens/s, "
        f"{'fits' if alone.fits else 'does NOT fit'}",
        f"memory      {compute!r} device weights {_si(weights, 'B')} of {_si(cap_c, 'B')}; "
        f"{attention!r} device KV {_si(kv, 'B')} of {_si(cap_a, 'B')}: "
        f"{'fits' if result.fits else 'does NOT fit'}",
    ]
    if compute in prices and attention in prices:
        both = result.cost_per_token((prices[compute], prices[attention]))
        own = n_c * prices[compute] / 3600 / alone.tokens_per_s
        lines.append(f"cost        per million tokens: offloaded ${both * 1e6:,.3f}, "
                     f"{compute!r} alone ${own * 1e6:,.3f} (${prices[compute]:g} and "
                     f"${prices[attention]:g} per device-hour)")
    return lines
