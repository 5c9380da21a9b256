"""The Einsum-cascade IR: tensors, (extended) Einsums, cascades, and their analyses.

Every later stage speaks this IR.  It depends only on ``accelsim.errors``, ``accelsim.yamlio``
and ``accelsim.dtypes`` (plus numpy, networkx, lark and PyYAML), never on ``accelsim.spec``.

Public API::

    cascade = load_cascade("einsum_cascades/attention_1pass.yaml")   # read + verify
    cascade = Cascade.from_yaml(path_or_text); text = cascade.to_yaml()
    verify(cascade)                         # SpecError naming the Einsum and the index
    cascade.bind(M=4096, P=4096)            # fix rank sizes
    cascade.run({"Q": q, "K": k, "V": v})   # numpy oracle, float64
    cascade.op_counts(M=..., P=...)         # OpCounts(mac=..., add=..., exp=..., ...)
    cascade.compulsory_bytes(...)           # inputs read once, outputs written once
    einsum.accesses(sizes)                  # structural view for the cost model
    passes(cascade, "M")                    # FuseMax pass count over rank M
"""

from accelsim.ir.cascade import Cascade, Origin
from accelsim.ir.counts import OpCounts, einsum_footprints, einsum_op_counts
from accelsim.ir.einsum import Einsum, Projection, Tensor, TensorAccess
from accelsim.ir.expr import Affine, affine, render
from accelsim.ir.grammar import Reduction, parse_einsum, parse_expr
from accelsim.ir.interpret import run
from accelsim.ir.operators import FUNCTIONS, OP_CLASSES
from accelsim.ir.pass_analysis import element_decompositions, passes
from accelsim.ir.schedule import Step
from accelsim.ir.verify import verify
from accelsim.ir.yaml_format import cascade_from_yaml, cascade_to_yaml, load_cascade

__all__ = [
    "Affine", "Cascade", "Einsum", "FUNCTIONS", "OP_CLASSES", "OpCounts", "Origin", "Projection",
    "Reduction", "Step", "Tensor", "TensorAccess", "affine", "cascade_from_yaml",
    "cascade_to_yaml", "einsum_footprints", "einsum_op_counts", "element_decompositions",
    "load_cascade", "parse_einsum", "parse_expr", "passes", "render", "run", "verify",
]
