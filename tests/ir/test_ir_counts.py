"""Operation counts and compulsory bytes against numbers derived by hand.

Every expected number below is written as the formula it comes from (see the comment beside
it), following the counting rules of accelsim.ir.counts: dense iteration spaces, one op per
operator node per point, a sum of a product is one mac per point, constants are free.
"""

from __future__ import annotations

import pytest

from accelsim.ir import Cascade, OpCounts


def ops(**counts) -> OpCounts:
    return OpCounts(**counts)


def test_qk_is_e_times_m_times_p_macs(cascade):
    c = cascade("attention_3pass")
    # QK[h,m,p] = QS[h,p,e] * K[h,m,e]: one mac per point of (h, m, p, e) = 1*128*128*64.
    assert c.einsum("QK").op_counts(c.sizes(H=1, E=64, M=128, P=128)) == ops(mac=64 * 128 * 128)


def test_attention_3pass_per_einsum_counts(cascade):
    c = cascade("attention_3pass")
    H, E, F, M, P = 2, 64, 32, 128, 96
    expected = [
        ops(mul=H * P * E),              # QS = Q * rsqrt(E): rsqrt(E) is a folded constant
        ops(mac=H * M * P * E),          # QK: sum over e of a product
        ops(max=H * M * P),              # GM: one max-combine per (h, m, p)
        ops(add=H * M * P, exp=H * M * P),   # SN = exp(QK - GM): one subtract, one exp
        ops(add=H * M * P),              # SD: sum over m of a non-product: one add per point
        ops(divide=H * M * P),           # A = SN / SD
        ops(mac=H * M * P * F),          # AV: sum over m of A * V
    ]
    assert c.einsum_op_counts(H=H, E=E, F=F, M=M, P=P) == expected
    assert c.op_counts(H=H, E=E, F=F, M=M, P=P) == sum(expected, OpCounts())


def test_fusemax_1pass_counts_padding_densely(cascade):
    c = cascade("attention_1pass")
    H, E, F, M, P, M0 = 1, 16, 8, 100, 10, 32
    M1 = 4  # ceil(100 / 32)
    counts = dict(zip((e.name for e in c.einsums), c.einsum_op_counts(
        H=H, E=E, F=F, M=M, P=P, M0=M0)))
    assert counts["BK"] == ops()                                    # a guarded copy: no ops
    assert counts["BQK"] == ops(mac=H * M1 * M0 * P * E)             # padded keys included
    assert counts["LM"] == ops(max=H * M1 * M0 * P)
    assert counts["RM"] == ops(max=H * M1 * P)                       # one max per step and row
    assert counts["PRM"] == ops(add=H * M1 * P, exp=H * M1 * P)
    assert counts["RD"] == ops(add=H * M1 * P)
    assert counts["SPNV"] == ops(mul=H * M1 * P * F)
    assert counts["AV"] == ops(divide=H * P * F)


def test_layernorm_counts(cascade):
    c = cascade("layernorm")
    T, D = 16, 64
    assert c.einsum_op_counts(T=T, D=D) == [
        ops(add=T * D),                         # SX = sum(d) X
        ops(divide=T),                          # MU = SX / D
        ops(add=T * D),                         # XC = X - MU
        ops(mac=T * D),                         # SQ = sum(d) XC * XC
        ops(divide=T, add=T, other=T),          # RS = rsqrt(SQ / D + eps)
        ops(mul=2 * T * D, add=T * D),          # Y = XC * RS * GAMMA + BETA
    ]


def test_mamba_counts_every_step(cascade):
    c = cascade("mamba_selective_scan")
    D, N, L = 4, 16, 10
    counts = dict(zip((e.name for e in c.einsums), c.einsum_op_counts(D=D, N=N, L=L)))
    assert counts["DLT"] == ops(add=D * L, other=D * L)        # softplus(DT + DTB)
    assert counts["DA"] == ops(mul=D * N * L, exp=D * N * L)   # exp(DLT * A)
    assert counts["DBX"] == ops(mul=2 * D * N * L)             # two multiplies per point
    assert counts["HS"] == ops(mul=D * N * L, add=D * N * L)   # L steps of DA * HS + DBX
    assert counts["Y"] == ops(mac=D * N * L)                   # sum over n


def test_compulsory_bytes_of_attention(cascade):
    c = cascade("attention_3pass")  # Q, K, V and AV are bf16: 2 bytes per element
    H, E, F, M, P = 2, 64, 32, 128, 96
    assert c.compulsory_bytes(H=H, E=E, F=F, M=M, P=P) == {
        "Q": 2 * H * P * E, "K": 2 * H * M * E, "V": 2 * H * M * F, "AV": 2 * H * P * F}


def test_einsum_bytes_count_distinct_in_bounds_elements(cascade):
    c = cascade("attention_1pass")  # intermediates are bf16 (the cascade's dtype)
    H, E, F, M, P, M0 = 1, 16, 8, 100, 10, 32
    M1 = 4
    sizes = dict(H=H, E=E, F=F, M=M, P=P, M0=M0)
    # BK writes all H*M1*M0*E elements (padding included) but reads only the M real keys of K.
    assert c.einsum_bytes("BK", **sizes) == {"BK": 2 * H * M1 * M0 * E, "K": 2 * H * M * E}
    # PRM reads RM[h,m1,p] and RM[h,m1+1,p]: rows 0..M1 of RM, i.e. all M1+1 of them.
    assert c.einsum_bytes("PRM", **sizes) == {"PRM": 2 * H * M1 * P, "RM": 2 * H * (M1 + 1) * P}
    # AV reads only the final slice RNV[h,M1,p,f] and RD[h,M1,p].
    assert c.einsum_bytes("AV", **sizes) == {"AV": 2 * H * P * F, "RNV": 2 * H * P * F,
                                             "RD": 2 * H * P}
    # RD's own carried state is internal: RD writes (M1+1)*P elements, reads SLD and SPD.
    assert c.einsum_bytes("RD", **sizes) == {"RD": 2 * H * (M1 + 1) * P, "SLD": 2 * H * M1 * P,
                                             "SPD": 2 * H * M1 * P}


CONV = """
kind: cascade
version: 1
name: conv1d
source: a 1-D convolution written for this test
description: O[p] = sum(r) I[S*p+r] * W[r]
ranks: {P: 10, R: 3, S: 2, W: S * (P - 1) + R}
tensors:
  I: {ranks: [W], dtype: int8}
  KW: {ranks: [R], dtype: int8}
  O: {ranks: [P], dtype: int32}
einsums:
  - O[p] = I[S*p+r] * KW[r]
"""


@pytest.mark.parametrize("stride,kernel,footprint", [
    (1, 3, 10 + 3 - 1),   # sliding window p+r: P + R - 1 distinct inputs
    (2, 3, 2 * 9 + 3),    # stride 2, window 3: S*(P-1) + R = 21, every input touched
    (3, 1, 10),           # stride 3, window 1: one input per output, P of them
])
def test_strided_window_footprint_and_macs(stride, kernel, footprint):
    c = Cascade.from_yaml(CONV)
    sizes = dict(P=10, R=kernel, S=stride)
    assert c.op_counts(**sizes) == ops(mac=10 * kernel)
    assert c.einsum_bytes("O", **sizes) == {"O": 4 * 10, "I": 1 * footprint, "KW": 1 * kernel}
