"""Property tests: random well-formed cascades round-trip and run; random junk raises SpecError.

Strategies build cascades from the AST up (so every operator, reduction, guard and iteration
form appears), then check YAML -> IR -> YAML is the identity and that the interpreter, the
op counter and the pass analysis accept them.  Malformed Einsum strings and documents must
fail with SpecError and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, Reduction, passes, verify
from accelsim.ir.expr import Access, Binary, Call, Name, Num, Unary, variables_in

from ir_texts import ATTENTION

SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RANK_POOL = ["A", "B", "C", "M0", "N1"]
UNARY = ["exp", "tanh", "sqrt", "abs", "sigmoid", "log", "rsqrt", "silu", "cos", "gelu",
         "softplus", "reciprocal"]
BINARY_OPS = ["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or"]
NUMBERS = st.one_of(st.integers(0, 9), st.sampled_from([0.5, 1e-05, 2.5, math.inf, -math.inf,
                                                        -1, -0.25, 3.0]))


def draw_expr(data, tensors: dict, variables: list, sizes: list, depth: int):
    """A random right-hand side over ``tensors`` (name -> ranks) and rank ``variables``."""
    leaves = ["access", "access", "number", "variable", "size"]
    kind = data.draw(st.sampled_from(leaves + (["neg", "binary", "binary", "call", "max",
                                                "select"] if depth else [])))
    sub = lambda: draw_expr(data, tensors, variables, sizes, depth - 1)  # noqa: E731
    if kind == "access":
        name = data.draw(st.sampled_from(sorted(tensors)))
        return Access(name, tuple(Name(r.lower()) for r in tensors[name]))
    if kind == "number":
        return Num(data.draw(NUMBERS))
    if kind == "variable":
        return Name(data.draw(st.sampled_from(variables)))
    if kind == "size":
        return Name(data.draw(st.sampled_from(sizes)))
    if kind == "neg":
        operand = sub()
        return operand if isinstance(operand, Num) else Unary("-", operand)
    if kind == "binary":
        return Binary(data.draw(st.sampled_from(BINARY_OPS)), sub(), sub())
    if kind == "call":
        return Call(data.draw(st.sampled_from(UNARY)), (sub(),))
    if kind == "max":
        return Call(data.draw(st.sampled_from(["max", "min"])), (sub(), sub()))
    return Call("select", (Binary("<", sub(), sub()), sub(), sub()))


def draw_einsum(data, index: int, tensors: dict, ranks: list) -> Einsum:
    variables = [r.lower() for r in ranks]
    out = data.draw(st.lists(st.sampled_from(variables), max_size=3, unique=True))
    name = f"T{index}"
    iterate = data.draw(st.sampled_from([None, *out])) if out else None
    readable = dict(tensors)
    if iterate:  # a recurrence: the output at v+1 reads the output at v
        readable[name] = [v.upper() for v in out]
    expr = draw_expr(data, readable, variables, ranks, depth=2)
    if iterate:
        expr = Binary("+", Access(name, tuple(Name(v) for v in out)), expr)
    indices = tuple(Binary("+", Name(v), Num(1)) if v == iterate else Name(v) for v in out)
    guard = fill = None
    if data.draw(st.booleans()) and out:
        v = data.draw(st.sampled_from(out))
        guard = Binary("<", Name(v), Name(v.upper()))
        fill = Num(data.draw(NUMBERS)) if data.draw(st.booleans()) else None
    reduced = [v for v in variables_in(expr) if v not in out]
    reduction = None
    if reduced and data.draw(st.booleans()):
        order = data.draw(st.permutations(reduced))
        reduction = Reduction(data.draw(st.sampled_from(["sum", "max", "min"])), tuple(order))
    return Einsum(Access(name, indices), expr, reduction, guard, fill, iterate,
                  Num(data.draw(NUMBERS)) if iterate else None)


def draw_cascade(data) -> Cascade:
    ranks = data.draw(st.lists(st.sampled_from(RANK_POOL), min_size=1, max_size=4, unique=True))
    declared = {r: data.draw(st.integers(1, 3)) for r in ranks}
    if data.draw(st.booleans()):
        declared["D2"] = f"{ranks[0]} + 1"
        ranks = ranks + ["D2"]
    some_ranks = st.lists(st.sampled_from(ranks), min_size=1, max_size=3, unique=True)
    inputs = {f"X{k}": data.draw(some_ranks) for k in range(data.draw(st.integers(1, 3)))}
    tensors, einsums = dict(inputs), []
    for i in range(data.draw(st.integers(1, 4))):
        e = draw_einsum(data, i, tensors, ranks)
        einsums.append(e)
        tensors[e.name] = [v.upper() for v in e.output_variables]
    read = {a.tensor for e in einsums for a in e.reads}
    return Cascade(name="random", einsums=tuple(einsums), ranks=declared,
                   tensors={n: r for n, r in inputs.items() if n in read},
                   source="hypothesis", description="a random cascade",
                   dtype=data.draw(st.sampled_from(["fp32", "bf16", "int8"])))


@SETTINGS
@given(st.data())
def test_random_cascades_round_trip_and_run(data):
    c = verify(draw_cascade(data))
    text = c.to_yaml()
    again = Cascade.from_yaml(text)
    assert again == c
    assert again.to_yaml() == text
    rng = np.random.default_rng(0)
    out = c.run({n: rng.standard_normal(c.shape(n)) for n in c.inputs})
    for e in c.einsums:
        assert out[e.name].shape == c.shape(e.name)
    assert c.op_counts().total >= 0
    for rank in c.ranks:
        try:
            assert passes(c, rank) >= 0
        except SpecError:
            pass  # no Einsum iterates over that rank's elements


VALID = ["QK[m,p] = Q[e,p] * K[e,m]", "GM[p] = max(m) QK[m,p]", "SN[m,p] = exp(QK[m,p] - GM[p])",
         "BK[e,m1,m0] = K[e,m1*M0+m0] where m1*M0+m0 < M else -inf",
         "RM[m1+1,p] = max(RM[m1,p], QK[m1,p])"]
CHARS = "QKGMRmpe01[](),+-*/<=> .Einfwhereelsmaxsumxp"


@st.composite
def mangled(draw):
    text = list(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(CHARS))
        if action == "insert" or not text:
            text.insert(at, char)
        elif action == "delete":
            del text[min(at, len(text) - 1)]
        else:
            text[min(at, len(text) - 1)] = char
    return "".join(text)


@SETTINGS
@given(st.one_of(st.text(alphabet=CHARS, max_size=60), mangled(), st.text(max_size=30)))
def test_random_einsum_strings_raise_only_spec_errors(text):
    try:
        einsum = Einsum.parse(text)
        c = Cascade(name="fuzz", ranks={"M": 2, "P": 3, "E": 2, "M0": 2, "M1": 1},
                    tensors={"Q": ["E", "P"], "K": ["E", "M"]}, einsums=[einsum])
        verify(c)
        c.run({n: np.ones(c.shape(n)) for n in c.inputs})
    except SpecError:
        pass


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from paths(item, prefix + (k,))


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10 ** 12) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["M", "ceil(M / 0)", "Q[h,p,e]", "-inf", "fp7", "m1", "X[m] = Y[m]"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


@SETTINGS
@given(st.data())
def test_random_document_damage_raises_only_spec_errors(data):
    doc = yaml.safe_load(ATTENTION)
    where = data.draw(st.sampled_from(list(paths(doc))[1:]))
    parent = doc
    for part in where[:-1]:
        parent = parent[part]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[where[-1]] = data.draw(JUNK)
    elif action == "delete":
        del parent[where[-1]]
    elif isinstance(parent, dict):
        parent[data.draw(st.text(max_size=6))] = data.draw(JUNK)
    else:
        parent.append(data.draw(JUNK))
    try:
        Cascade.from_yaml(yaml.safe_dump(doc))
    except SpecError:
        pass


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_documents_raise_only_spec_errors(text):
    with pytest.raises(SpecError):
        Cascade.from_yaml(text + "\n")
