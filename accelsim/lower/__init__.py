"""Lowering: Transformer workloads (and PyTorch modules) into Einsum cascades.

Public API::

    request = Request(phase="decode", batch=8, kv_len=4096,
                      dtype={"weights": "int8", "activations": "fp16"}, attention="splitkv")
    lowered = lower("workloads/llama-3-8b.yaml", request)   # or lower(path, "decode", batch=8, ...)
    Request.for_workload(path, phase="decode")  # lengths as the CLI reads them, defaults applied
    lowered.layer            # the cascade of one layer; lowered.layers: how many
    lowered.roles["WQ"]      # 'weight' (input / weight / output / intermediate)
    lowered.dtypes["KC"]     # element type per tensor;  lowered.sizes: rank sizes
    lowered.flops()          # matmul FLOPs of the whole model; lowered.op_counts() by class
    generate_summary(workload, prompt_len=512, new_tokens=128)
    parameter_count(workload); kv_cache_bytes_per_token(workload, "fp16")
    lower_module(module, example_inputs)   # torch.fx trace -> Lowered (torch imported lazily)
    module_inputs(lowered, module, example_inputs)   # its inputs, to run the cascade

Attention variants are plain functions in :data:`ATTENTION_VARIANTS` (``3pass``, ``2pass``,
``1pass``/``fusemax``, ``flash2``, ``splitkv``).
"""

from accelsim.dtypes import ROLES
from accelsim.lower.attention import (ATTENTION_VARIANTS, AttentionBlock, AttentionSpec,
                                      attention_variant)
from accelsim.lower.from_torch import lower_module, module_inputs
from accelsim.lower.generation import GenerationSummary, generate_summary
from accelsim.lower.lowered import Lowered
from accelsim.lower.params import kv_cache_bytes_per_token, layer_parameters, parameter_count
from accelsim.lower.phases import is_workload, load_workload, lower, prompt_length
from accelsim.lower.precision import Precision, precision
from accelsim.lower.request import DEFAULT_SEQ_LEN, PHASES, Request

__all__ = [
    "ATTENTION_VARIANTS", "AttentionBlock", "AttentionSpec", "DEFAULT_SEQ_LEN",
    "GenerationSummary", "Lowered", "PHASES", "Precision", "ROLES", "Request",
    "attention_variant", "generate_summary", "is_workload", "kv_cache_bytes_per_token",
    "layer_parameters", "load_workload", "lower", "lower_module", "module_inputs",
    "parameter_count", "precision", "prompt_length",
]
