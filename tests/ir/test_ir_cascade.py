"""Cascade structure: inputs/outputs, graph, order, lifetimes, the structural view, sizes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from accelsim.errors import SpecError
from accelsim.ir import Cascade, Einsum, Projection, TensorAccess
from accelsim.ir.expr import Name


def test_inputs_outputs_and_intermediates(cascade):
    c = cascade("attention_1pass")
    assert c.inputs == ("Q", "K", "V")
    assert c.outputs == ("AV",)
    assert c.intermediates == ("QS", "BK", "BV", "BQK", "LM", "RM", "SLN", "SLD", "SLNV", "PRM",
                               "SPD", "RD", "SPNV", "RNV")


def test_iterations_are_the_only_cycles_and_order_respects_dependences(cascade):
    c = cascade("attention_1pass")
    names = [e.name for e in c.einsums]
    cycles = {frozenset(names[i] for i in cycle) for cycle in nx.simple_cycles(c.graph)}
    assert cycles == {frozenset({"RM"}), frozenset({"SPD", "RD"}), frozenset({"SPNV", "RNV"})}
    iterations = [tuple(names[i] for i in s.einsums) for s in c.schedule if s.iterate]
    assert iterations == [("RM",), ("SPD", "RD"), ("SPNV", "RNV")]
    position = {names[i]: k for k, i in enumerate(c.order)}
    carried = {("RM", "RM"), ("RD", "SPD"), ("RNV", "SPNV")}  # reads of the previous step
    for i, j in c.graph.edges:
        if (names[i], names[j]) not in carried:
            assert position[names[i]] < position[names[j]], (names[i], names[j])


def test_lifetimes_are_first_and_last_use_in_order(cascade):
    c = cascade("attention_3pass")  # already in dependence order: QS QK GM SN SD A AV
    assert c.order == tuple(range(7))
    assert c.lifetimes == {"QS": (0, 1), "Q": (0, 0), "QK": (1, 3), "K": (1, 1), "GM": (2, 3),
                           "SN": (3, 5), "SD": (4, 5), "A": (5, 6), "AV": (6, 6), "V": (6, 6)}


def test_carried_tensors_have_one_extra_element(cascade):
    c = cascade("attention_1pass")
    assert c.tensors["RM"].state_dim == 1
    assert c.shape("RM", H=2, M=100, P=8, M0=32) == (2, 5, 8)  # M1 = ceil(100/32) = 4, plus 1
    assert c.tensors["LM"].state_dim is None


def test_structural_view_with_and_without_sizes(cascade):
    c = cascade("attention_1pass")
    bk = c.einsum("BK")
    sizes = c.sizes(M=100, M0=32)
    assert bk.ranks == ("H", "M1", "M0", "E")
    assert bk.space(sizes) == {"H": 32, "M1": 4, "M0": 32, "E": 128}
    one = lambda rank: Projection(((1, rank),), 0)  # noqa: E731
    assert bk.accesses(sizes) == (
        TensorAccess("BK", "write", (one("H"), one("M1"), one("M0"), one("E"))),
        TensorAccess("K", "read", (one("H"), Projection(((32, "M1"), (1, "M0")), 0), one("E"))))
    symbolic = bk.accesses()[1].dims[1]
    assert symbolic.terms[0] == (Name("M0"), "M1") and str(symbolic) == "M0*m1 + 1*m0"
    rm = c.einsum("RM").accesses(sizes)
    assert rm[0] == TensorAccess("RM", "write", (one("H"), Projection(((1, "M1"),), 1), one("P")))
    assert rm[1] == TensorAccess("RM", "read", (one("H"), one("M1"), one("P")))
    assert c.einsum("BQK").accesses()[0].mode == "read-write"  # accumulates the sum over e
    assert c.einsum("AV").accesses(sizes)[1].dims[1] == Projection((), 4)  # RNV[h,M1,p,f]


def test_sizes_bind_and_errors(cascade):
    c = cascade("attention_1pass")
    bound = c.bind(M=1000, M0=64)
    assert bound.sizes()["M1"] == 16 and bound != c
    assert Cascade.from_yaml(bound.to_yaml()) == bound
    with pytest.raises(SpecError, match="rank M1 is derived"):
        c.bind(M1=3)
    with pytest.raises(SpecError, match="unknown rank 'Z'"):
        c.bind(Z=3)
    with pytest.raises(SpecError, match="must be a whole number >= 1"):
        c.bind(M=0)
    free = Cascade(name="free", ranks={"M": None}, tensors={"X": ["M"]}, einsums=["Y[m] = X[m]"])
    with pytest.raises(SpecError, match="no size for rank M"):
        free.op_counts()
    assert free.run({"X": [1.0, 2.0]})["Y"].tolist() == [1.0, 2.0]  # M read off the array


def test_python_construction_matches_yaml(cascade):
    c = Cascade(name="running-max", ranks={"M1": 4, "P": 2}, tensors={"LM": ["M1", "P"]},
                einsums=[Einsum.parse("RM[m1+1,p] = max(RM[m1,p], LM[m1,p])", iterate="m1",
                                      initial="-inf")],
                source="FuseMax Cascade 5", description="running max")
    assert Cascade.from_yaml(c.to_yaml()) == c
    out = c.run({"LM": [[1.0, 5.0], [3.0, 2.0], [0.0, 7.0], [4.0, 1.0]]})["RM"]
    assert out.tolist() == [[-np.inf, -np.inf], [1, 5], [3, 5], [3, 7], [4, 7]]
    assert "(iterate m1, initial -inf)" in c.describe()


def test_run_returns_every_tensor_and_honours_dtype(cascade):
    c = cascade("softmax")
    x = np.random.default_rng(0).standard_normal((3, 5))
    out = c.run({"X": x}, dtype=np.float32)
    assert set(out) == {"GM", "EX", "SE", "Y"} and out["Y"].dtype == np.float32
    np.testing.assert_allclose(out["Y"].sum(axis=1), 1.0, rtol=1e-6)


def softmax_attention(q, k, v):
    """softmax(Q K^T / sqrt(E)) V per head, in numpy: the definition the cascades implement."""
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (weights / weights.sum(axis=-1, keepdims=True)) @ v


@pytest.mark.parametrize("name", ["attention_3pass", "attention_1pass", "flash_attention2",
                                  "attention_decode_splitkv"])
def test_realistic_sizes_give_softmax_attention(cascade, name):
    """4 heads, 128 queries and keys, head dimension 64: the interpreter computes attention
    at sizes of a real layer, not only in the toy cases (its speed there is measured by
    benchmarks/cascade_run_speed.py).  Both sides compute in float64, so they agree to
    round-off; the tolerance is far above that and far below any formula error."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((4, 128, 64)) for _ in range(3))
    out = cascade(name).run({"Q": q, "K": k, "V": v}, **({"M0": 32} if "1pass" in name else {}))
    got = out["O"].reshape(4, -1, 64)[:, :128] if name == "flash_attention2" else out["AV"]
    np.testing.assert_allclose(got, softmax_attention(q, k, v), rtol=1e-10, atol=1e-12)


def test_map_and_reduce_operators(cascade):
    c = cascade("attention_1pass")
    kinds = {e.name: (e.map_op, e.reduce, e.functions) for e in c.einsums}
    assert kinds["BQK"] == ("multiply", "sum", ())
    assert kinds["LM"] == (None, "max", ())
    assert kinds["RM"] == ("max", None, ("max",))
    assert kinds["SLN"] == (None, None, ("exp",))
    assert kinds["RD"] == ("add", None, ())
    assert kinds["AV"] == ("divide", None, ())
    assert hash(c) == hash(Cascade.from_yaml(c.to_yaml()))
