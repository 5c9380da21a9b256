"""Validated spec models for every YAML document kind, and their loader."""

from accelsim.spec.hardware import ComputeSpec, HardwareSpec, LevelSpec
from accelsim.spec.load import KINDS, load_spec, read_document, validate_document
from accelsim.spec.mapping import LevelMapping, MappingSpec
from accelsim.spec.sweep import SweepSpec
from accelsim.spec.workload import ModelShape, WorkloadSpec

__all__ = ["ComputeSpec", "HardwareSpec", "KINDS", "LevelMapping", "LevelSpec", "MappingSpec",
           "ModelShape", "SweepSpec", "WorkloadSpec", "load_spec", "read_document",
           "validate_document"]
