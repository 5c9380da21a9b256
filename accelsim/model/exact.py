"""The exact model: one Einsum, or a fused group, under one mapping -> a Report.

The nest is built (:mod:`accelsim.mapping`), pre-checked for capacity, counted by the numba
kernels (:mod:`accelsim.cost.fast`), and the counts go through the cost terms of
:mod:`accelsim.model.terms_kernels` (see :mod:`accelsim.model` for the formulas):
this module gathers, per level, the bytes one instance moves and the tiles it holds, and per
compute unit its cycles; :func:`accelsim.model.finish.finish` adds up the terms.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.arch import Architecture, ComputeUnit
from accelsim.cost.fast import count_nests
from accelsim.errors import CapacityError
from accelsim.ir import Cascade
from accelsim.mapping import BoundEinsum, build_nest, precheck_capacity
from accelsim.mapping.group import WORKING, build_group_nests
from accelsim.model import terms_kernels as tk
from accelsim.model.finish import Kernel, finish
from accelsim.model.report import LevelUse, Report, TensorTraffic
from accelsim.model.terms import (IR_TO_UNIT, ComputePlan, compute_plan, emulation_notes,
                                  op_cycles, operand_dtype, unit_rate, used_ops)
from accelsim.spec.mapping import MappingSpec


def evaluate(bound: BoundEinsum, arch: Architecture, mapping: MappingSpec,
             file: str | None = None) -> Report:
    """Evaluate one Einsum under a single-Einsum mapping (see :mod:`accelsim.model`)."""
    nest = build_nest(bound, arch, mapping, file)
    return _report([(bound, nest, 1, arch)], arch, (mapping.name, bound.einsum.name), file)


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
    return _report(items, arch, (mapping.name, "+".join(mapping.group or ())), file,
                   branch=members[0].branch)


@dataclass
class _Member:
    """One member nest, counted: its traffic rows, operations, tiles and compute terms."""

    bound: BoundEinsum
    rows: list[TensorTraffic]
    ops: dict[str, int]
    held: list[float]
    """Bytes of the tiles it keeps, per level of the machine."""
    plan: ComputePlan
    cycles: dict[str, float]
    """Cycles per compute unit under its mapping."""
    elem_bytes: dict[str, float]


def _count(arch: Architecture, bound: BoundEinsum, nest, repeats: int, machine) -> _Member:
    fast = count_nests([nest])[0]
    held = [0.0] * len(arch.levels)     # (only levels below the branch, never split, use it)
    for lv, level in enumerate(nest.levels):
        held[arch.level_index(level.name.removesuffix(WORKING))] += sum(
            float(fast.capacity[lv, t]) * bound.bytes_per_element(x.name)
            for t, x in enumerate(nest.problem.tensors) if x.name in level.keeps)
    ops = {k: v * repeats for k, v in bound.einsum.op_counts(bound.sizes).as_dict().items()}
    plan = compute_plan(arch, bound, ops)
    rounds = tk.dealt(fast.compute_instances, plan.main.count)
    cycles = plan.unit_cycles(fast.steps * rounds if fast.operations else 0.0)
    elem_bytes = {t: bound.bytes_per_element(t) for t in nest.problem.tensor_names}
    return _Member(bound, _rows(machine, nest, fast, bound), ops, held, plan, cycles, elem_bytes)


def _report(items, arch: Architecture, names: tuple[str, str], file: str | None,
            branch: int | None = None) -> Report:
    """Counts, cycles and energy of one nest, or of a fused group's member nests
    (``names``: the mapping's name and the kernel's label).

    In a group, the levels down to the branch level (the child of the innermost shared
    loop's level) hold every member's tiles at once: their footprint is the sum over
    tensors.  Below it the members run one after another, so a level holds one member's
    tiles at a time: its footprint is the largest member's."""
    for _, nest, _, machine in items:          # the cheap check first: no counting if it fails
        precheck_capacity(nest, machine, file)
    members = [_count(arch, *item) for item in items]
    rows: dict[tuple[str, str], TensorTraffic] = {}
    ops: dict[str, int] = {}
    elem_bytes: dict[str, float] = {}
    for m in members:
        for row in m.rows:
            rows[row.level, row.tensor] = _add(rows.get((row.level, row.tensor)), row)
        for k, v in m.ops.items():
            ops[k] = ops.get(k, 0) + v
        elem_bytes.update(m.elem_bytes)
    member_tiles = [max(held) for held in zip(*(m.held for m in members))]
    traffic = tuple(rows.values())
    levels = tuple(_level_use(arch, lv, traffic, elem_bytes, file,
                              None if branch is None or lv <= branch else member_tiles[lv])
                   for lv in range(len(arch.levels)))
    options = [(m.bound, m.ops, [(m.cycles, None)]
                + ([] if len(members) == 1 else _elsewhere(arch, m.bound, m.ops, m.plan.main)))
               for m in members]
    unit_cycles, work = _place(options, arch.units_overlap)
    # the main unit: where the first member doing MACs runs (a group's matrix unit), else the
    # first member's
    first = next((i for i, m in enumerate(members) if m.ops.get("mac", 0)), 0)
    main, peak = members[first].plan.main, members[first].plan.peak
    if work[first][1] is not None:
        main = work[first][1]
        peak = main.count * unit_rate(main, operand_dtype(members[first].bound))
    moved: dict[str, list[str]] = {}
    for m, (_, unit, _) in zip(members, work):
        if unit is not None:
            moved.setdefault(unit.name, []).append(m.bound.einsum.name)
    notes = tuple(f"{', '.join(names_)} run on {unit} beside the group's other units"
                  for unit, names_ in moved.items())
    notes += tuple(dict.fromkeys(n for m in members
                                 for n in emulation_notes(m.plan, operand_dtype(m.bound))))
    kernel = Kernel(names[1], names[0], traffic, levels, ops, unit_cycles,
                    (used_ops(arch, main, work), peak), work)
    return finish(arch, kernel, elem_bytes, notes)


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
        work = sum(n * op_cycles(unit, c) for c, n in ops.items() if n)
        found.append(({unit.name: tk.peak_cycles(work, 1.0, unit_rate(unit, dtype),
                                                 unit.count)}, unit))
    return found


def _place(options, overlap: bool = True
           ) -> tuple[dict[str, float], list[tuple[dict[str, int], ComputeUnit | None, str]]]:
    """Cycles per unit, and each member's (operations, unit: None where each operation runs
    on its class's unit, as mapped, element type).  The members of a group run concurrently
    on different units (FuseMax's 2-D and 1-D arrays pipeline the blocks of keys), so each
    member goes where the busiest unit ends soonest (ties keep it as mapped): those with
    fewest places first, longest first among them.  Where the units take turns (``overlap``
    false) the group ends after the sum of every unit's cycles, and each member goes where
    that sum grows least."""
    order = sorted(range(len(options)), key=lambda i: (
        len(options[i][2]), -max(options[i][2][0][0].values(), default=0.0)))
    total: dict[str, float] = {}
    work: list = [None] * len(options)
    for i in order:
        _, ops, choices = options[i]

        def finish_at(cycles: dict[str, float]) -> float:
            if not overlap:
                return sum(total.values()) + sum(cycles.values())
            return max([total.get(u, 0.0) + c for u, c in cycles.items()]
                       + list(total.values()) + [0.0])

        cycles, unit = min(choices, key=lambda choice: finish_at(choice[0]))
        if finish_at(cycles) >= finish_at(choices[0][0]):
            cycles, unit = choices[0]
        for u, c in cycles.items():
            total[u] = total.get(u, 0.0) + c
        work[i] = (ops, unit, operand_dtype(options[i][0]))
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
    per_read = sum(t.reads * elem_bytes[t.tensor] / max(t.instances, 1)
                   * tk.dealt(t.instances, level.fanout) for t in rows)
    per_write = sum((t.fills + t.updates) * elem_bytes[t.tensor] / max(t.instances, 1)
                    * tk.dealt(t.instances, level.fanout) for t in rows)
    cycles = tk.level_cycles(float(per_read), float(per_write), level.read_bytes_per_cycle,
                             level.write_bytes_per_cycle)
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
                    double_buffered=bool(tk.double_buffers(level.double_buffer, float(tile),
                                                           level.capacity_bytes)),
                    energy_pj=energy)
