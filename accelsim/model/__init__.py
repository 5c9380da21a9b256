"""The model: access counts of a loop nest -> traffic, energy, cycles and a report.

``evaluate(bound_einsum, architecture, mapping_spec)`` is the public entry point.  It builds
the loop nest (:mod:`accelsim.mapping`), runs the cheap capacity pre-check, counts accesses
with the numba kernel (:mod:`accelsim.cost.fast`), and turns the counts into:

* energy: for each level, tensor and action, ceil(count / block) x pJ per access (summed per
  instance), plus operations x pJ per operation by class, plus leakage x cycles.  Levels or
  units without a published energy figure are listed in ``report.energy_missing`` and left
  out of the total instead of being counted as zero.  A machine with a ``run_power`` (the
  whole chip's power, from a datasheet's run-mode current) counts that power over the
  latency instead, and nothing is missing.
* cycles: per level, the bytes one instance moves divided by its bandwidth (one shared port
  when the spec gives only a read bandwidth; separate read and write ports when it gives
  both); per compute unit, the operations it executes divided by its throughput, stretched by
  spatial under-use (busy steps of the mapping, not operations / instances).  Levels that
  double-buffer overlap their transfers with compute, so cycles = the largest of the terms;
  a level that cannot (double_buffer: false, or tiles that fit once but not twice) adds its
  transfer cycles to compute.  On GPUs the SMs' ports into L2 are one more term: each port
  carries its SM's share of L2's read bandwidth, so k busy SMs of N move at most k/N of it.
* bottleneck: the largest term (compute or a level's name), or ``latency`` when the launch
  overhead exceeds it, or on GPUs ``occupancy`` when it is a per-SM term that idle SMs made
  the largest (see ``_bottleneck``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from accelsim.arch import Architecture, ComputeUnit
from accelsim.cost.fast import count_nests
from accelsim.errors import CapacityError, SpecError
from accelsim.ir import Cascade
from accelsim.mapping import BoundEinsum, build_nest, precheck_capacity
from accelsim.mapping.group import WORKING, build_group_nests
from accelsim.spec.mapping import MappingSpec

IR_TO_UNIT = {"mac": "mac", "mul": "elementwise", "add": "add", "max": "max", "exp": "exp",
              "divide": "divide", "other": "elementwise"}
"""IR operation class -> the hardware unit class that executes it."""


@dataclass(frozen=True)
class TensorTraffic:
    """What one level did with one tensor (totals over instances)."""

    level: str
    tensor: str
    reads: int
    fills: int
    updates: int
    first_touches: int
    bytes: float
    """(reads + fills + updates) x bytes per element."""
    tile_elements: int
    instances: int
    energy_pj: float | None


@dataclass(frozen=True)
class LevelUse:
    """One level's totals: bytes, transfer cycles per instance, tile footprint, energy."""

    name: str
    read_bytes: float
    write_bytes: float
    cycles: float
    tile_bytes: float
    capacity_bytes: float
    double_buffered: bool
    energy_pj: float | None


@dataclass(frozen=True)
class Report:
    """The evaluation of one Einsum on one machine under one mapping."""

    einsum: str
    hardware: str
    mapping: str
    tensors: tuple[TensorTraffic, ...]
    levels: tuple[LevelUse, ...]
    ops: dict[str, int]
    compute_cycles: dict[str, float]
    """Cycles per compute unit."""
    cycles: float
    latency_s: float
    energy_pj: float
    energy_breakdown: dict[str, float]
    energy_missing: tuple[str, ...]
    utilization: float
    """Operations of the main unit / (its instances x its busy cycles x throughput); an
    operation the unit performs as a sequence of several (an exponential as 6 MACs and an
    add on FuseMax's PEs: ``op_cycles``) counts as that many."""
    bottleneck: str
    offchip_bytes: float
    notes: tuple[str, ...] = field(default=())

    @property
    def energy_known(self) -> bool:
        """False where nothing was counted for want of published figures: the total then
        reads 0 pJ but is unknown."""
        return bool(self.energy_pj) or not self.energy_missing

    def to_dict(self) -> dict:
        """A JSON-serializable dict (numbers are plain ints and floats)."""
        out = asdict(self)
        out["tensors"] = [asdict(t) for t in self.tensors]
        out["levels"] = [asdict(lv) for lv in self.levels]
        return out


def evaluate(bound: BoundEinsum, arch: Architecture, mapping: MappingSpec,
             file: str | None = None) -> Report:
    """Evaluate one Einsum under a single-Einsum mapping (see the module docstring)."""
    nest = build_nest(bound, arch, mapping, file)
    return _report([(bound, nest, 1, arch)], arch, mapping.name, bound.einsum.name, file)


def default_roles(cascade: Cascade) -> dict[str, str]:
    """Roles when none are given: cascade inputs are inputs, outputs outputs, the rest
    intermediates."""
    roles = {t: "intermediate" for t in cascade.tensors}
    roles.update({t: "input" for t in cascade.inputs})
    roles.update({t: "output" for t in cascade.outputs})
    return roles


def evaluate_group(cascade: Cascade, arch: Architecture, mapping: MappingSpec, *,
                   sizes: dict[str, int] | None = None, file: str | None = None) -> Report:
    """Evaluate a fused group of a cascade's Einsums under a group mapping.

    Counts are summed over the members' loop nests (accelsim.mapping.group); each compute
    unit's cycles are summed over members, and different units overlap (a pipelined group:
    FuseMax's 2-D and 1-D arrays, a GPU's tensor cores and special-function units).  A
    member may run whole on another unit that executes all its operations, at that unit's
    peak, where the group's work then ends sooner (see ``_place``; the report's notes name
    such members).
    """
    dtypes = {t: tensor.dtype for t, tensor in cascade.tensors.items()}
    roles = default_roles(cascade) | dict(mapping.roles)
    members = build_group_nests(cascade, dict(sizes or {}), dtypes, roles, arch, mapping, file)
    items = [(m.bound, m.nest, m.repeats, m.machine) for m in members]
    return _report(items, arch, mapping.name, "+".join(mapping.group or ()), file,
                   branch=members[0].branch)


def _report(items, arch: Architecture, mapping_name: str, label: str,
            file: str | None, branch: int | None = None) -> Report:
    """Counts, cycles and energy of one nest, or of a fused group's member nests.

    In a group, the levels down to the branch level (the child of the innermost shared
    loop's level) hold every member's tiles at once: their footprint is the sum over
    tensors.  Below it the members run one after another, so a level holds one member's
    tiles at a time: its footprint is the largest member's."""
    rows: dict[tuple[str, str], TensorTraffic] = {}
    ops: dict[str, int] = {}
    options: list[tuple[str, dict[str, int], list[tuple]]] = []   # per member
    mains: list[tuple] = []
    elem_bytes: dict[str, float] = {}
    member_tiles = [0.0] * len(arch.levels)
    for _, nest, _, machine in items:          # the cheap check first: no counting if it fails
        precheck_capacity(nest, machine, file)
    for bound, nest, repeats, machine in items:
        fast = count_nests([nest])[0]
        held = [0.0] * len(arch.levels)     # (only levels below the branch, never split, use it)
        for lv, level in enumerate(nest.levels):
            held[arch.level_index(level.name.removesuffix(WORKING))] += sum(
                float(fast.capacity[lv, t]) * bound.bytes_per_element(x.name)
                for t, x in enumerate(nest.problem.tensors) if x.name in level.keeps)
        member_tiles = [max(a, b) for a, b in zip(member_tiles, held)]
        for row in _rows(machine, nest, fast, bound):
            rows[row.level, row.tensor] = _add(rows.get((row.level, row.tensor)), row)
        member_ops = {k: v * repeats for k, v in bound.einsum.op_counts(bound.sizes).as_dict().items()}
        for k, v in member_ops.items():
            ops[k] = ops.get(k, 0) + v
        cycles, unit_peak, unit = _compute_cycles(arch, bound, member_ops, fast)
        mains.append((unit, unit_peak, member_ops.get("mac", 0)))
        moves = [] if len(items) == 1 else _elsewhere(arch, bound, member_ops, unit)
        options.append((bound, member_ops, [(cycles, None)] + moves))
        elem_bytes.update({t: bound.bytes_per_element(t) for t in nest.problem.tensor_names})
    traffic = tuple(rows.values())
    levels = tuple(_level_use(arch, lv, traffic, elem_bytes, file,
                              None if branch is None or lv <= branch else member_tiles[lv])
                   for lv in range(len(arch.levels)))
    unit_cycles, work = _place(options)
    # the main unit: where the first member doing MACs runs (a group's matrix unit), else the
    # first member's
    first = next((i for i, m in enumerate(mains) if m[2]), 0)
    main, peak, _ = mains[first]
    if work[first][1] is not None:
        main = work[first][1]
        peak = main.count * unit_rate(main, operand_dtype(options[first][0]))
    used = sum(n * main.op_cycles.get(IR_TO_UNIT[c], 1.0) for member_ops, unit in work
               for c, n in member_ops.items() if n and (unit or unit_for(arch, c)) is main)
    busy = unit_cycles.get(main.name, 0.0)
    utilization = used / (busy * peak) if busy else 0.0
    moved = {}
    for (bound, _, _), (_, unit) in zip(options, work):
        if unit is not None:
            moved.setdefault(unit.name, []).append(bound.einsum.name)
    notes = tuple(f"{', '.join(names)} run on {unit} beside the group's other units"
                  for unit, names in moved.items())
    return _finish(label, arch, mapping_name, traffic, levels, ops, unit_cycles, utilization,
                   work, notes)


def _elsewhere(arch: Architecture, bound: BoundEinsum, ops: dict[str, int],
               main: ComputeUnit) -> list[tuple[dict[str, float], ComputeUnit]]:
    """A group member's other placements: the whole Einsum on another unit that executes all
    its operations, at that unit's peak.  Its mapping was chosen for ``main``: its storage
    traffic stays as counted for that mapping, and its time on the other unit is the floor
    (no spatial under-use), so a move is judged optimistically."""
    dtype = operand_dtype(bound)
    found = []
    for unit in arch.compute:
        if unit is main or not all(IR_TO_UNIT[c] in unit.ops for c, n in ops.items() if n):
            continue
        cycles = sum(n * unit.op_cycles.get(IR_TO_UNIT[c], 1.0) for c, n in ops.items()
                     if n) / (unit_rate(unit, dtype) * unit.count)
        found.append(({unit.name: cycles}, unit))
    return found


def _place(options) -> tuple[dict[str, float], list[tuple[dict[str, int], ComputeUnit | None]]]:
    """Cycles per unit, and each member's (operations, unit: None where each operation runs
    on its class's unit, as mapped).  The members of a group run concurrently on different
    units (FuseMax's 2-D and 1-D arrays pipeline the blocks of keys), so each member goes
    where the busiest unit ends soonest (ties keep it as mapped): those with fewest places
    first, longest first among them."""
    order = sorted(range(len(options)), key=lambda i: (
        len(options[i][2]), -max(options[i][2][0][0].values(), default=0.0)))
    total: dict[str, float] = {}
    work: list = [None] * len(options)
    for i in order:
        _, ops, choices = options[i]

        def finish(cycles: dict[str, float]) -> float:
            return max([total.get(u, 0.0) + c for u, c in cycles.items()]
                       + list(total.values()) + [0.0])

        cycles, unit = min(choices, key=lambda choice: finish(choice[0]))
        if finish(cycles) >= finish(choices[0][0]):
            cycles, unit = choices[0]
        for u, c in cycles.items():
            total[u] = total.get(u, 0.0) + c
        work[i] = (ops, unit)
    return total, work


def _add(old: TensorTraffic | None, new: TensorTraffic) -> TensorTraffic:
    if old is None:
        return new
    energy = None if new.energy_pj is None else (old.energy_pj or 0.0) + new.energy_pj
    return TensorTraffic(
        level=old.level, tensor=old.tensor, reads=old.reads + new.reads,
        fills=old.fills + new.fills, updates=old.updates + new.updates,
        first_touches=old.first_touches + new.first_touches, bytes=old.bytes + new.bytes,
        tile_elements=max(old.tile_elements, new.tile_elements),
        instances=max(old.instances, new.instances), energy_pj=energy)


def _rows(arch: Architecture, nest, fast, bound: BoundEinsum) -> list[TensorTraffic]:
    rows = []
    for lv, level in enumerate(arch.levels):
        for t, tensor in enumerate(nest.problem.tensors):
            if tensor.name not in nest.levels[lv].keeps:
                continue
            reads, fills, updates, first = (int(x) for x in fast.counts[lv, t])
            rows.append(TensorTraffic(
                level=level.name.removesuffix(WORKING), tensor=tensor.name, reads=reads,
                fills=fills, updates=updates, first_touches=first,
                bytes=(reads + fills + updates) * tensor.bytes_per_element,
                tile_elements=int(fast.capacity[lv, t]), instances=int(fast.instances[lv, t]),
                energy_pj=float(fast.energy[lv, t].sum()) if level.has_energy else None))
    return rows


def _level_use(arch: Architecture, lv: int, traffic: tuple[TensorTraffic, ...],
               elem_bytes: dict[str, float], file: str | None,
               tile_bytes: float | None = None) -> LevelUse:
    level = arch.levels[lv]
    rows = [t for t in traffic if t.level == level.name]
    read_b = sum(t.reads * elem_bytes[t.tensor] for t in rows)
    write_b = sum((t.fills + t.updates) * elem_bytes[t.tensor] for t in rows)
    per_read = sum(t.reads * elem_bytes[t.tensor] / max(t.instances, 1) for t in rows)
    per_write = sum((t.fills + t.updates) * elem_bytes[t.tensor] / max(t.instances, 1)
                    for t in rows)
    if level.write_bytes_per_cycle == level.read_bytes_per_cycle:
        cycles = (per_read + per_write) / level.read_bytes_per_cycle
    else:
        cycles = max(per_read / level.read_bytes_per_cycle, per_write / level.write_bytes_per_cycle)
    tile = sum(t.tile_elements * elem_bytes[t.tensor] for t in rows)
    if tile_bytes is not None:          # a group's level below its branch: one member at a time
        tile = tile_bytes
    if lv > 0 and tile > level.capacity_bytes:
        detail = ", ".join(f"{t.tensor} {t.tile_elements * elem_bytes[t.tensor]:g} B" for t in rows)
        raise CapacityError(f"{file + ': ' if file else ''}tiles at level {level.name!r} need "
                            f"{tile:g} bytes ({detail}) but one instance holds "
                            f"{level.capacity_bytes:g} bytes")
    energy = None
    if level.has_energy:
        energy = sum(t.energy_pj or 0.0 for t in rows)
    return LevelUse(name=level.name, read_bytes=read_b, write_bytes=write_b, cycles=cycles,
                    tile_bytes=tile, capacity_bytes=level.capacity_bytes,
                    double_buffered=level.double_buffer and 2 * tile <= level.capacity_bytes,
                    energy_pj=energy)


def unit_for(arch: Architecture, ir_class: str) -> ComputeUnit:
    """The unit that executes IR operation class ``ir_class`` (falling back to the MAC unit)."""
    unit = arch.unit_for(IR_TO_UNIT[ir_class]) or arch.unit_for("mac")
    if unit is None:
        raise SpecError(f"no compute unit of {arch.name} executes {ir_class!r} operations",
                        file=arch.file, path="compute")
    return unit


def peak_cycles(unit: ComputeUnit, cls: str, n: float, dtype: str) -> float:
    """Cycles of ``n`` operations of IR class ``cls`` on ``unit`` at its peak (every
    instance busy; an operation costs its ``op_cycles``)."""
    return n * unit.op_cycles.get(IR_TO_UNIT[cls], 1.0) / (unit_rate(unit, dtype) * unit.count)


def unit_rate(unit: ComputeUnit, dtype: str) -> float:
    """Operations per cycle per instance of ``unit`` on ``dtype``; a unit that lists no rate
    for it runs at the rate of the first element type it lists."""
    rates = unit.ops_per_cycle
    return rates[dtype] if dtype in rates else next(iter(rates.values()))


def operand_dtype(bound: BoundEinsum) -> str:
    """The element type an Einsum computes in: that of its first input."""
    return next((bound.dtypes.get(t, "fp32") for t in bound.einsum.inputs), "fp32")


def _compute_cycles(arch: Architecture, bound: BoundEinsum, ops: dict[str, int], fast):
    """Cycles per unit (the main unit's time follows the mapping's busy steps), the main
    unit's peak operations per cycle for the Einsum's element type, and the main unit."""
    dtype = operand_dtype(bound)
    main_class = "mac" if ops.get("mac") else max(ops, key=lambda c: ops[c])
    main = unit_for(arch, main_class)
    total_ops = max(sum(ops.values()), 1)
    cycles: dict[str, float] = {}
    for cls, n in ops.items():
        if n == 0:
            continue
        unit = unit_for(arch, cls)
        floor = peak_cycles(unit, cls, n, dtype)
        if unit is main:
            # the mapping spreads every operation of the Einsum over the main unit's instances,
            # but no faster than the unit's peak (a mapping may fan out wider than a unit that
            # has fewer instances than the compute level, e.g. one vector unit beside 4 MXUs)
            busy = fast.steps * (n / total_ops) if fast.operations else 0.0
            cost = unit.op_cycles.get(IR_TO_UNIT[cls], 1.0)
            floor = max(busy * cost / unit_rate(unit, dtype), floor)
        cycles[unit.name] = cycles.get(unit.name, 0.0) + floor
    peak = main.count * unit_rate(main, dtype)
    return cycles, peak, main


@dataclass(frozen=True)
class _Ports:
    """GPUs: the traffic through the ports between the shared levels and the SMs."""

    level: str
    """The shared level the SMs hang off (L2): its read bandwidth is the ports' total."""
    bytes: float
    """Bytes the SMs receive from the shared levels or write back to them."""
    busy: int
    sms: int
    cycles: float
    """bytes / (busy x the level's read bandwidth / sms)."""


def sm_port_level(arch: Architecture) -> int | None:
    """GPUs: the index of the shared level the SMs' ports hang off (the last level with one
    instance above one per SM), or None for other families or where it gives no bandwidth."""
    if arch.family != "gpu":
        return None
    edge = next((i for i in range(len(arch.levels) - 1)
                 if arch.levels[i].fanout == 1 and arch.levels[i + 1].fanout > 1), None)
    if edge is None or math.isinf(arch.levels[edge].read_bytes_per_cycle):
        return None
    return edge


def _sm_ports(arch: Architecture, traffic: tuple[TensorTraffic, ...]) -> _Ports | None:
    """GPUs: each SM reaches L2 through its own port, which carries the SM's share of L2's
    read bandwidth (hw_configs/SOURCES.md, 'SM ports').  What crosses the ports is what the
    innermost shared level keeping a tensor (L2, or HBM for what L2 does not keep) reads for
    the SMs, and what the SMs write back to it.  k busy SMs of N draw at most k/N of the
    bandwidth: fewer thread blocks than SMs cannot use all of it.  None for other families
    or where that level gives no bandwidth."""
    edge = sm_port_level(arch)
    if edge is None:
        return None
    index = {lv.name: i for i, lv in enumerate(arch.levels)}
    inner = [t for t in traffic if index[t.level] > edge]
    if not inner:
        return None
    keeper: dict[str, TensorTraffic] = {}
    for t in traffic:
        if index[t.level] <= edge and (t.tensor not in keeper
                                       or index[t.level] > index[keeper[t.tensor].level]):
            keeper[t.tensor] = t
    moved = sum(t.bytes * (t.reads + t.updates) / (t.reads + t.fills + t.updates)
                for t in keeper.values() if t.reads + t.updates)
    busy, sms = max(t.instances for t in inner), arch.levels[edge + 1].fanout
    share = arch.levels[edge].read_bytes_per_cycle / sms
    return _Ports(arch.levels[edge].name, moved, busy, sms, moved / (busy * share))


def _bottleneck(arch: Architecture, terms: dict[str, float], slowest: str,
                traffic: tuple[TensorTraffic, ...], ports: _Ports | None,
                shared_floor: float) -> tuple[str, tuple[str, ...]]:
    """The kernel's bottleneck and, for the two classes that are not a term's name, a note.

    * ``latency``: the machine's fixed launch overhead is longer than the slowest term.
    * ``occupancy`` (GPUs): the slowest term is a per-SM one (compute, a level with one
      instance per SM, or the SMs' ports into L2) and only k of the N SMs are busy; spread
      over all N the same work would take k/N of the per-SM terms, which is less than what a
      shared resource needs (``shared_floor``, or HBM or L2 themselves): idle SMs, not a
      resource of the machine, set the time.
    * otherwise the slowest term: ``compute`` or a level's name.
    """
    launch = arch.launch_overhead_s * arch.clock_hz
    if launch > terms[slowest]:
        return "latency", (f"latency: launch overhead {launch:,.0f} cycles exceeds the slowest "
                           f"term, {slowest} ({terms[slowest]:,.0f} cycles)",)
    fanout = {lv.name: lv.fanout for lv in arch.levels}
    per_sm = [t for t in traffic if fanout[t.level] > 1]
    if arch.family != "gpu" or not per_sm:
        return slowest, ()
    busy, sms = max(t.instances for t in per_sm), max(fanout[t.level] for t in per_sm)
    spreadable = {k for k in terms if k == "compute" or fanout[k] > 1}
    spreadable |= {ports.level} if ports else set()
    shared = max([v for k, v in terms.items() if k not in spreadable] + [shared_floor])
    spread = max(terms[k] for k in spreadable) * busy / sms
    if slowest not in spreadable or busy >= sms or spread >= shared:
        return slowest, ()
    return "occupancy", (f"occupancy: {busy} of {sms} SMs busy; the slowest term, {slowest} "
                         f"({terms[slowest]:,.0f} cycles), would take {spread:,.0f} spread over "
                         f"all SMs, less than the shared levels' {shared:,.0f}",)


def _finish(label, arch, mapping_name, traffic, levels, ops, unit_cycles, utilization,
            work=None, notes: tuple[str, ...] = ()) -> Report:
    compute = max(unit_cycles.values(), default=0.0)
    exposed = sum(lv.cycles for lv in levels if not lv.double_buffered and lv.cycles > 0
                  and lv.name != arch.levels[0].name)
    terms = {"compute": compute + exposed}
    terms.update({lv.name: lv.cycles for lv in levels if lv.double_buffered or lv.name == arch.levels[0].name})
    ports, shared_floor = _sm_ports(arch, traffic), 0.0
    if ports is not None and ports.cycles > terms.get(ports.level, 0.0):
        shared_floor = terms.get(ports.level, 0.0)     # the level's own transfers
        terms[ports.level] = ports.cycles
    elif ports is not None:
        ports = None
    slowest = max(terms, key=lambda k: terms[k])
    cycles = terms[slowest]
    bottleneck, why = _bottleneck(arch, terms, slowest, traffic, ports, shared_floor)
    if ports is not None:
        why = (f"{ports.level}: {ports.busy} of {ports.sms} SMs move {ports.bytes:g} B through "
               f"their ports at {ports.busy}/{ports.sms} of its bandwidth: "
               f"{ports.cycles:,.0f} cycles",) + why
    breakdown: dict[str, float] = {}
    missing: list[str] = []
    whole_chip = arch.run_power_w is not None   # run power counts levels and units alike
    for lv in levels:
        if lv.energy_pj is None:
            if (lv.read_bytes or lv.write_bytes) and not whole_chip:
                missing.append(lv.name)
        else:
            breakdown[lv.name] = lv.energy_pj
    compute_pj = 0.0
    for member_ops, placed in work or [(ops, None)]:
        for cls, n in member_ops.items():
            if not n:
                continue
            unit = placed or unit_for(arch, cls)
            pj = unit.energy_pj.get(IR_TO_UNIT[cls])
            if pj is None and not whole_chip:
                missing.append(f"{unit.name}:{cls}")
            compute_pj += n * (pj or 0.0)
    breakdown["compute"] = compute_pj
    if whole_chip:          # the chip draws its run power through a launch's overhead too
        breakdown["run power"] = arch.leakage_pj_per_cycle * cycles + arch.launch_pj
    else:
        breakdown["leakage"] = arch.leakage_pj_per_cycle * cycles
    notes += tuple(f"{lv.name}: tiles ({lv.tile_bytes:g} B) fit once but not twice: no double "
                  "buffering, transfers add to compute" for lv in levels
                  if arch.levels[[a.name for a in arch.levels].index(lv.name)].double_buffer
                  and not lv.double_buffered and lv.cycles > 0 and lv.name != arch.levels[0].name)
    notes += why
    return Report(
        einsum=label, hardware=arch.name, mapping=mapping_name, tensors=traffic,
        levels=levels, ops={k: int(v) for k, v in ops.items() if v}, compute_cycles=unit_cycles,
        cycles=cycles, latency_s=cycles / arch.clock_hz + arch.launch_overhead_s,
        energy_pj=sum(breakdown.values()), energy_breakdown=breakdown,
        energy_missing=tuple(dict.fromkeys(missing)), utilization=utilization,
        bottleneck=bottleneck, offchip_bytes=levels[0].read_bytes + levels[0].write_bytes,
        notes=notes)
