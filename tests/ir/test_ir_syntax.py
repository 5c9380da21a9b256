"""The Einsum grammar and the cascade YAML schema: what parses, and where errors point."""

from __future__ import annotations

import math

import pytest

from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, parse_einsum, render
from accelsim.ir.expr import Access, Binary, Call, Name, Num

from ir_texts import ATTENTION, SHIPPED


def test_parse_builds_the_expected_tree():
    p = parse_einsum("SN[m,p] = exp(QK[m,p] - GM[p])")
    assert p.output == Access("SN", (Name("m"), Name("p")))
    assert p.expr == Call("exp", (Binary("-", Access("QK", (Name("m"), Name("p"))),
                                          Access("GM", (Name("p"),))),))
    assert p.reduction is None


def test_reduction_prefix_versus_elementwise_max():
    assert parse_einsum("GM[p] = max(m) QK[m,p]").reduction.variables == ("m",)
    assert parse_einsum("LM[p] = sum( m1 , m0 ) X[m1,m0,p]").reduction.variables == ("m1", "m0")
    two = parse_einsum("RM[m1+1,p] = max(RM[m1,p], LM[m1,p])")
    assert two.reduction is None and isinstance(two.expr, Call) and two.expr.func == "max"


def test_negative_literals_fold_and_precedence_round_trips():
    p = parse_einsum("X[m] = -2 * m - -3 + inf where m < M else -inf")
    assert p.fill == Num(-math.inf)
    assert render(p.expr) == "-2 * m - -3 + inf"
    for text in ["Y[a] = (X[a] - 1) * 2", "Y[a] = X[a] - (1 - X[a])", "Y[a] = -(X[a] * 2)",
                 "Y[a] = select(a <= 3 and a > 1 or a == 0, X[a], 0)", "Y[a] = X[2*a+1-A]"]:
        e = Einsum.parse(text)
        assert Einsum.parse(e.text) == e, text


@pytest.mark.parametrize("text,column,words", [
    ("QK[m,p] = Q[e,p] * K[e,m", 25, "expected ')', ',' or ']'"),
    ("QK[m,p] = ", 10, "unexpected end of text"),
    ("QK[m,p] = Q[e,p] ** K[e,m]", 19, "unexpected '*'"),
    ("QK[m,p] = max(m)", 17, "unexpected end of text"),
    ("A[m] = 2p", 9, "unexpected 'p'"),
    ("A[m] = $", 8, "unexpected '$'"),
    ("A[m] = B[m] where", 18, "unexpected end of text"),
    ("A[m] = B[m] else 0", 13, "unexpected 'else'"),
])
def test_syntax_errors_give_the_column(text, column, words):
    with pytest.raises(SpecError) as caught:
        parse_einsum(text)
    assert caught.value.location.column == column
    assert f"column {column}" in str(caught.value) and words in str(caught.value)


def test_syntax_error_column_maps_into_the_yaml_file():
    text = ATTENTION.replace("K[h,m,e]\n", "K[h,m,e\n")
    with pytest.raises(SpecError) as caught:
        Cascade.from_yaml(text)
    loc = caught.value.location
    line = "  - QK[h,m,p] = QS[h,p,e] * K[h,m,e"
    assert (loc.path, loc.line, loc.column) == ("einsums[1]", 13, len(line) + 1)
    assert "syntax error at column 32" in str(caught.value)


SCHEMA_CASES = [
    ("unknown top-level key", "einsums:", "einsum:", "einsum", "did you mean 'einsums'?"),
    ("unknown tensor key", "K: {ranks: [H, M, E]}", "K: {ranks: [H, M, E], layout: x}",
     "tensors.K.layout", "unknown key 'layout'"),
    ("unknown einsum key", "  - AV[h,p,f] = A[h,m,p] * V[h,m,f]",
     "  - {einsum: 'AV[h,p,f] = A[h,m,p] * V[h,m,f]', iterates: m}", "einsums[6].iterates",
     "did you mean 'iterate'?"),
    ("wrong kind", "kind: cascade", "kind: workload", "kind", "kind: cascade"),
    ("wrong version", "version: 1", "version: 2", "version", "unsupported version 2"),
    ("missing key", "name: attention\n", "", None, "missing required key 'name'"),
    ("ranks not a mapping", "ranks: {H: 2, E: 4, F: 4, M: 8, P: 8}", "ranks: [H, E]", "ranks",
     "expected a mapping of rank name to size"),
    ("boolean size", "M: 8", "M: true", "ranks.M", "not a boolean"),
    ("zero size", "M: 8", "M: 0", "ranks.M", "must be >= 1"),
    ("size syntax", "M: 8", "M: 'ceil(P /'", "ranks.M", "syntax error at column 9"),
    ("einsum not a string", "  - QS[h,p,e] = Q[h,p,e] * rsqrt(E)", "  - 42", "einsums[0]",
     "expected an Einsum string"),
    ("ranks of a tensor not a list", "K: {ranks: [H, M, E]}", "K: {ranks: H}", "tensors.K.ranks",
     "expected a list of rank names"),
    ("duplicate key", "M: 8, P: 8", "M: 8, P: 8, M: 4", "ranks.M", "key 'M' appears twice"),
    ("empty einsums", "einsums:\n", "einsums: []\nx:\n", "einsums", "expected a non-empty list"),
]


@pytest.mark.parametrize("what,old,new,path,words", SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES])
def test_schema_errors(what, old, new, path, words):
    assert old in ATTENTION
    text = ATTENTION.replace(old, new, 1)
    if what == "empty einsums":
        text = text.split("einsums:")[0] + "einsums: []\n"
    with pytest.raises(SpecError) as caught:
        Cascade.from_yaml(text)
    assert caught.value.location.path == path
    assert words in str(caught.value)
    assert caught.value.location.line is not None


def test_shipped_cascades_round_trip(cascade):
    for name in SHIPPED:
        c = cascade(name)
        again = Cascade.from_yaml(c.to_yaml())
        assert again == c
        assert again.to_yaml() == c.to_yaml()


def test_to_yaml_writes_iterations_and_flow_style_tensors(cascade):
    text = cascade("attention_1pass").to_yaml()
    assert "  Q: {ranks: [H, P, E], dtype: bf16}\n" in text
    assert "- einsum: RM[h,m1+1,p] = max(RM[h,m1,p], LM[h,m1,p])\n  iterate: m1\n  initial: -inf" \
        in text
    assert "M1: ceil(M / M0)" in text


def test_from_yaml_accepts_paths(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(ATTENTION)
    assert Cascade.from_yaml(path) == Cascade.from_yaml(str(path)) == Cascade.from_yaml(ATTENTION)
    with pytest.raises(SpecError, match="no such file"):
        Cascade.from_yaml(str(tmp_path / "missing.yaml"))
