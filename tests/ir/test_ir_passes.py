"""passes(): FuseMax's pass taxonomy, computed from the dependence structure."""

from __future__ import annotations

import pytest

from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, passes


@pytest.mark.parametrize("name,rank,expected", [
    ("attention_3pass", "M", 3),             # max | exp + sum | divide + AV
    ("attention_causal", "M", 3),            # the mask adds no pass
    ("attention_2pass", "M", 2),             # max | exp + sum + SN*V, division deferred
    ("attention_padding", "M", 2),
    ("attention_gqa", "M", 2),
    ("attention_1pass", "M", 1),             # FuseMax Cascade 5
    ("flash_attention2", "M", 1),
    ("attention_decode_splitkv", "M", 1),    # per-chunk softmax + a combine over chunk results
    ("softmax", "N", 3),
    ("layernorm", "D", 3),                   # mean | variance | normalize
    ("rmsnorm", "D", 2),                     # sum of squares | normalize
    ("linear_attention_chunkwise", "T", 1),  # the state is carried along chunks
    ("mamba_selective_scan", "L", 1),        # the hidden state is carried along l
    ("attention_3pass", "E", 1),             # one contraction over e, nothing re-reads it
])
def test_pass_counts_of_shipped_cascades(cascade, name, rank, expected):
    assert passes(cascade(name), rank) == expected


def test_passes_follow_structure_not_names(cascade):
    one_pass = cascade("attention_1pass")
    # Re-reading the block numerators after the final denominator RD[M1] is known forces a
    # second traversal of the keys, whatever the cascade is called.
    extra = Einsum.parse("SA[h,m1,m0,p] = SLN[h,m1,m0,p] / RD[h,M1,p]")
    two_pass = Cascade(name=one_pass.name, einsums=(*one_pass.einsums, extra),
                       ranks=one_pass.ranks, tensors=one_pass.tensors, dtype=one_pass.dtype)
    assert passes(two_pass, "M") == 2


def test_a_blockwise_global_max_still_costs_a_pass():
    # The max is reduced in two stages (per block, then over blocks); the exponentials need
    # the global value, so they must wait for a second traversal.
    c = Cascade(name="two-stage-max", ranks={"M": 8, "M0": 4, "M1": "M / M0", "P": 2},
                tensors={"X": ["M", "P"]},
                einsums=["BX[m1,m0,p] = X[m1*M0+m0,p]", "LM[m1,p] = max(m0) BX[m1,m0,p]",
                         "GM[p] = max(m1) LM[m1,p]", "EX[m1,m0,p] = exp(BX[m1,m0,p] - GM[p])"])
    assert passes(c, "M") == 2


def test_an_iteration_carries_state_without_an_extra_pass():
    c = Cascade(name="running-sum", ranks={"M": 8, "P": 2}, tensors={"X": ["M", "P"]},
                einsums=[Einsum.parse("RS[m+1,p] = RS[m,p] + X[m,p]", iterate="m", initial=0),
                         "Y[m,p] = X[m,p] / RS[m+1,p]"])
    assert passes(c, "M") == 1


def test_unknown_rank_is_a_spec_error(cascade):
    with pytest.raises(SpecError, match="unknown rank 'Q'"):
        passes(cascade("attention_3pass"), "Q")
