"""verify() rejects each class of malformed cascade, naming the Einsum, the index and the place."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, load_cascade, verify

from ir_texts import ATTENTION, CASCADES

ONE_PASS_FILE = CASCADES / "attention_1pass.yaml"



def rejected(text: str, old: str, new: str) -> SpecError:
    assert old in text, old
    with pytest.raises(SpecError) as caught:
        Cascade.from_yaml(text.replace(old, new, 1))
    return caught.value


# (what is wrong, text replaced, replacement, path, words the message must contain)
CASES = [
    ("undefined tensor", "- GM[h,p]", "- GX[h,p]", "einsums[3]",
     ["Einsum SN", "column 29", "tensor GM is not declared and no Einsum writes it"]),
    ("too few indices", "max(m) QK[h,m,p]", "max(m) QK[h,m]", "einsums[2]",
     ["Einsum GM", "QK has 3 rank(s) [H, M, P] but is indexed with 2"]),
    ("rank mismatch", "A[h,m,p] * V", "A[h,p,m] * V", "einsums[6]",
     ["Einsum AV", "column 17", "index 1 of A is p (rank P) but dimension 1 of A has rank M"]),
    ("projection out of bounds", "K[h,m,e]", "K[h,m+1,e]", "einsums[1]",
     ["Einsum QK", "index 1 of K, m+1, ranges over 1..8", "has 8 elements (M=8)"]),
    ("constant index out of bounds", "V[h,m,f]", "V[h,M,f]", "einsums[6]",
     ["Einsum AV", "index 1 of V, M, ranges over 8..8"]),
    ("undeclared cycle", "sum(m) SN[h,m,p]", "sum(m) SN[h,m,p] * A[h,m,p]", "einsums[4]",
     ["Einsums SD, A form a dependence cycle (SD -> A -> SD)", "iterate:"]),
    ("unknown function", "exp(QK", "exp2(QK", "einsums[3]",
     ["Einsum SN", "column 13", "unknown function 'exp2'"]),
    ("wrong arity", "rsqrt(E)", "rsqrt(E, E)", "einsums[0]", ["rsqrt() takes 1 argument(s)"]),
    ("undeclared rank variable", "QK[h,m,p] = QS", "QK[h,q,p] = QS", "einsums[1]",
     ["Einsum QK", "column 6", "rank variable 'q' has no rank Q declared"]),
    ("two writers", "AV[h,p,f] = A", "SD[h,p,f] = A", "einsums[6]",
     ["tensor SD is already written by einsums[4]"]),
    ("incomplete reduction list", "max(m) QK", "max(e) QK", "einsums[2]",
     ["Einsum GM", "m absent from the output but not listed in max(e)"]),
    ("reduced variable in output", "max(m) QK", "max(h) QK", "einsums[2]",
     ["max(h) reduces h, which indexes the output"]),
    ("affine output index", "QK[h,m,p] = QS", "QK[h,m+1,p] = QS", "einsums[1]",
     ["output index 1 is m+1; output indices must be plain rank variables"]),
    ("non-affine index", "K[h,m,e]", "K[h,m*p,e]", "einsums[1]",
     ["column 29", "m*p multiplies rank variables together"]),
    ("tensor in an index", "K[h,m,e]", "K[h,GM[h,p],e]", "einsums[1]", ["reads a tensor"]),
    ("neither variable nor size", "rsqrt(E)", "rsqrt(Ee)", "einsums[0]",
     ["'Ee' is neither a rank variable"]),
    ("unused tensor", "  V: {ranks: [H, M, F]}\n", "  V: {ranks: [H, M, F]}\n  Z: {ranks: [H]}\n",
     "tensors.Z", ["tensor Z is declared but no Einsum reads or writes it"]),
    ("undeclared rank in a tensor", "K: {ranks: [H, M, E]}", "K: {ranks: [H, N, E]}",
     "tensors.K.ranks[1]", ["tensor K dimension 1 has rank 'N', which is not declared"]),
    ("unknown dtype", "K: {ranks: [H, M, E]}", "K: {ranks: [H, M, E], dtype: fp7}",
     "tensors.K.dtype", ["unknown element type 'fp7'"]),
    ("cyclic rank sizes", "M: 8, P: 8", "M: 2 * P, P: M", "ranks.M",
     ["rank sizes depend on each other in a cycle: M -> P -> M"]),
    ("fractional derived size", "M: 8", "M: P / 3", "ranks.M",
     ["P / 3 = 8/3 is not a whole number (P=8)"]),
    ("lower-case rank", "M: 8", "M: 8, m2: 3", "ranks.m2", ["must be an upper-case identifier"]),
    ("tensor named like a rank", "K: {ranks: [H, M, E]}",
     "K: {ranks: [H, M, E]}\n  E: {ranks: [H]}",
     "tensors.E", ["E names both a tensor and a rank"]),
    ("output not written", "einsums:", "outputs: [AX]\neinsums:", "outputs[0]",
     ["output 'AX' is not written by any Einsum"]),
    ("initial without iterate", "  - AV[h,p,f] = A[h,m,p] * V[h,m,f]",
     "  - einsum: AV[h,p,f] = A[h,m,p] * V[h,m,f]\n    initial: 0", "einsums[6].initial",
     ["has an initial value but no 'iterate:' rank"]),
]


@pytest.mark.parametrize("what,old,new,path,words", CASES, ids=[c[0] for c in CASES])
def test_malformed_attention_is_rejected(what, old, new, path, words):
    error = rejected(ATTENTION, old, new)
    assert error.location.path == path
    for word in words:
        assert word in str(error)


def test_error_points_at_file_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(ATTENTION.replace("- GM[h,p])", "- GX[h,p])"))
    with pytest.raises(SpecError) as caught:
        load_cascade(path)
    line = "  - SN[h,m,p] = exp(QK[h,m,p] - GX[h,p])"
    loc = caught.value.location
    assert (loc.file, loc.line, loc.column) == (str(path), 15, line.index("GX") + 1)
    assert str(caught.value).startswith(f"{path}:15:{line.index('GX') + 1}: einsums[3]: "
                                        "Einsum SN, column 29 of")


ONE_PASS_CASES = [
    ("iteration without initial value", "    iterate: m1\n    initial: -inf\n",
     "    iterate: m1\n", "einsums[5].initial", ["iterates over m1 but declares no initial value"]),
    ("iterate on a rank absent from the output", "    iterate: m1\n    initial: -inf\n",
     "    iterate: p\n    initial: -inf\n", "einsums[5]",
     ["output index 1 is m1+1", "(or p+1 on the iterated rank)"]),
    ("reading a later step", "SPD[h,m1,p] = RD[h,m1,p]", "SPD[h,m1,p] = RD[h,m1+2,p]",
     "einsums[10]", ["Einsum SPD", "reads a value the iteration over m1 computes 1 step(s) later"]),
    ("same-step cycle", "SPD[h,m1,p] = RD[h,m1,p]", "SPD[h,m1,p] = RD[h,m1+1,p]", "einsums[10]",
     ["read each other within the same step of the iteration over m1"]),
    ("cycle without iterate", "  - einsum: RD[h,m1+1,p] = SLD[h,m1,p] + SPD[h,m1,p]      # running "
     "denominator\n    iterate: m1\n    initial: 0\n",
     "  - RD[h,m1,p] = SLD[h,m1,p] + SPD[h,m1,p]\n",
     "einsums[10]", ["Einsums SPD, RD form a dependence cycle"]),
    ("unguarded padded read", "K[h,m1*M0+m0,e] where m1*M0+m0 < M", "K[h,m1*M0+m0,e]",
     "einsums[1]", ["index 1 of K, m1*M0+m0, ranges over 0..4111", "(M=4096, M0=257, M1=16)"]),
    ("initial uses an iterated variable", "    initial: -inf", "    initial: m1",
     "einsums[5].initial",
     ["initial value m1 uses 'm1'"]),
]


@pytest.mark.parametrize("what,old,new,path,words", ONE_PASS_CASES,
                         ids=[c[0] for c in ONE_PASS_CASES])
def test_malformed_iteration_is_rejected(what, old, new, path, words):
    text = ONE_PASS_FILE.read_text().replace("M0: 256", "M0: 257")
    error = rejected(text, old, new)
    assert error.location.path == path
    for word in words:
        assert word in str(error), str(error)


def test_guard_bounds_padded_reads_but_run_checks_exact_bounds():
    c = Cascade(name="pad", ranks={"M": 10, "M0": 4, "M1": "ceil(M / M0)"},
                tensors={"X": ["M"]},
                einsums=["B[m1,m0] = X[m1*M0+m0] where m1*M0+m0 < M"])
    verify(c)
    out = c.run({"X": np.arange(10.0)})["B"]
    assert out.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]]
    # A guard the bounds check cannot relate to the index is checked exactly at run time.
    loose = Cascade(name="pad", ranks=c.ranks, tensors={"X": ["M"]},
                    einsums=["B[m1,m0] = X[m1*M0+m0] where m1 < 2 and m0 < 4"])
    with pytest.raises(SpecError, match="index 0 of X, m1\\*M0\\+m0, ranges over 0..11"):
        verify(loose)


def test_run_rejects_inconsistent_sizes_and_inputs(cascade):
    c = cascade("attention_3pass")
    q, k, v = np.zeros((2, 8, 4)), np.zeros((2, 8, 4)), np.zeros((2, 7, 4))
    with pytest.raises(SpecError, match="input V dimension 1 \\(rank M\\) has 7 elements but "
                                        "input K gives M = 8"):
        c.run({"Q": q, "K": k, "V": v})
    with pytest.raises(SpecError, match="missing input\\(s\\) V"):
        c.run({"Q": q, "K": k})
    with pytest.raises(SpecError, match="'W' is not an input"):
        c.run({"Q": q, "K": k, "V": k, "W": k})
    with pytest.raises(SpecError, match="input Q has shape \\(2, 8, 4\\) but its ranks"):
        c.run({"Q": q, "K": k, "V": k}, E=5)
    with pytest.raises(SpecError, match="rank M1 is derived"):
        cascade("attention_1pass").run({"Q": q, "K": k, "V": k}, M1=3)


def test_programmatic_cascade_errors_name_the_einsum():
    c = Cascade(name="bad", ranks={"M": 4}, tensors={"X": ["M"]},
                einsums=[Einsum.parse("Y[m] = X[m] + Z[m]")])
    with pytest.raises(SpecError) as caught:
        verify(c)
    assert caught.value.location.path == "einsums[0]"
    assert "Einsum Y, column 15 of 'Y[m] = X[m] + Z[m]': tensor Z is not declared" \
        in str(caught.value)
