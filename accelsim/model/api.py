"""``accelsim.evaluate``: one call for an Einsum or a fused group, from files or objects."""

from __future__ import annotations

import os
from typing import Mapping, Union

from accelsim.arch import Architecture, load_architecture
from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, load_cascade
from accelsim.mapping import BoundEinsum
from accelsim.model.exact import default_roles, evaluate_group
from accelsim.model.report import Report
from accelsim.model.exact import evaluate as evaluate_einsum
from accelsim.spec import HardwareSpec, MappingSpec, load_spec

Target = Union[BoundEinsum, Einsum, Cascade, str, os.PathLike]


def evaluate(target: Target, hardware, mapping, *, sizes: Mapping[str, int] | None = None,
             dtypes: Mapping[str, str] | None = None,
             roles: Mapping[str, str] | None = None) -> Report:
    """Evaluate ``target`` on ``hardware`` under ``mapping``.

    target: a BoundEinsum; an Einsum (with ``sizes``, and ``dtypes``/``roles`` if not fp32
    inputs); an Einsum string such as ``"Z[m,n] = A[m,k] * B[k,n]"``; or a Cascade (or the
    path of a cascade file), evaluated with the mapping's ``group`` (or its ``einsum`` alone).
    hardware: a path, a HardwareSpec or an Architecture.  mapping: a path or a MappingSpec.
    """
    arch = _architecture(hardware)
    spec, file = _mapping(mapping)
    if isinstance(target, (str, os.PathLike)) and (os.fspath(target).endswith((".yaml", ".yml"))):
        target = load_cascade(target)
    elif isinstance(target, str):
        target = Einsum.parse(target)
    if isinstance(target, Cascade):
        if spec.group is None:
            group = spec.model_copy(update={"group": [spec.einsum], "einsum": None,
                                            "einsums": {spec.einsum: spec.levels}, "levels": []})
            return evaluate_group(target, arch, group, sizes=dict(sizes or {}), file=file)
        return evaluate_group(target, arch, spec, sizes=dict(sizes or {}), file=file)
    if isinstance(target, Einsum):
        if sizes is None:
            raise SpecError(f"evaluating Einsum {target.name} needs the rank sizes (sizes=...)")
        names = (target.name, *target.inputs)
        target = BoundEinsum(target, dict(sizes), {t: (dtypes or {}).get(t, "fp32") for t in names},
                             {target.name: "output", **{t: "input" for t in target.inputs},
                              **dict(spec.roles), **dict(roles or {})})
    return evaluate_einsum(target, arch, spec, file)


def _architecture(hardware) -> Architecture:
    if isinstance(hardware, Architecture):
        return hardware
    if isinstance(hardware, HardwareSpec):
        return Architecture.from_spec(hardware)
    return load_architecture(os.fspath(hardware))


def _mapping(mapping) -> tuple[MappingSpec, str | None]:
    if isinstance(mapping, MappingSpec):
        return mapping, None
    return load_spec(mapping, kind="mapping"), os.fspath(mapping)


__all__ = ["Report", "default_roles", "evaluate"]
