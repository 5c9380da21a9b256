"""``lower_module``: torch.fx traces of the test layers give the module's outputs and the same
work as ``lower`` on the equivalent workload."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lower_reference import SHAPES, make_layers, rope_tables, workload  # noqa: E402

from accelsim.errors import LoweringError  # noqa: E402
from accelsim.lower import lower, lower_module, module_inputs  # noqa: E402

F = torch.nn.functional


def example(family, batch=2, seq_len=7):
    torch.manual_seed(batch + seq_len)
    x = torch.randn(batch, seq_len, 64, dtype=torch.float64)
    if family != "llama":
        return (x,)
    positions = np.broadcast_to(np.arange(seq_len), (batch, seq_len)).copy()
    return (x, *rope_tables(positions, 16))


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "vit"])
@pytest.mark.parametrize("batch,seq_len", [(1, 5), (2, 7)])
def test_traced_layer_matches_module_and_lowered_workload(family, batch, seq_len):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    layer = make_layers(family, count=1, seed=batch)[0]
    args = example(family, batch, seq_len)
    traced = lower_module(layer, args)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        expected = layer(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    result = traced.layer.run(module_inputs(traced, layer, args))
    for name, value in zip(traced.layer.outputs, expected):
        np.testing.assert_allclose(result[name].reshape(value.shape), value.detach().numpy(),
                                   rtol=1e-9, atol=1e-9 * float(value.detach().abs().max()))
    reference = lower(workload(family, layers=1, **SHAPES[family]), "prefill", batch=batch,
                      seq_len=None if family == "vit" else seq_len, dtype="fp64")
    sizes = {"T": seq_len} if family == "vit" else {}
    assert traced.flops() == reference.flops(**sizes) == counter.get_total_flops()
    assert traced.compulsory_bytes() == reference.compulsory_bytes(**sizes)
    assert traced.op_counts().mac == reference.op_counts(**sizes).mac


def test_roles_and_types_of_a_traced_layer():
    layer = make_layers("llama", count=1)[0]
    traced = lower_module(layer, example("llama"), dtype={"weights": "int8",
                                                           "activations": "bf16"})
    assert traced.roles["IN_x"] == traced.roles["IN_cos"] == "input"
    assert traced.roles["W_q_proj_weight"] == "weight"
    assert [traced.roles[n] for n in traced.layer.outputs] == ["output"] * 3
    assert traced.dtypes["W_q_proj_weight"] == "int8" and traced.dtypes["IN_x"] == "bf16"
    assert traced.layers == 1 and traced.phase == "module"


class Cumulative(torch.nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=-1) + 1


class Convolution(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(4, 4, 3)

    def forward(self, x):
        return self.conv(x)


class BooleanMask(torch.nn.Module):
    def forward(self, q, mask):
        return F.scaled_dot_product_attention(q, q, q, attn_mask=mask)


@pytest.mark.parametrize("module,inputs,message", [
    (Cumulative(), (torch.randn(2, 4),), "cumsum"),
    (Convolution(), (torch.randn(1, 4, 8),), "Conv1d"),
    (BooleanMask(), (torch.randn(1, 2, 3, 4), torch.ones(3, 3, dtype=torch.bool)), "boolean"),
    (torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5)), (torch.randn(2, 4),),
     "dropout in training mode"),
    ("not a module", (torch.randn(2),), "needs a torch.nn.Module"),
])
def test_unsupported_operators_are_named(module, inputs, message):
    with pytest.raises(LoweringError, match=message):
        lower_module(module, inputs)


def test_views_slices_and_concatenation():
    """rotate_half's slices and cat, split, expand (repeat_kv) and mean-based RMSNorm."""
    class Mixed(torch.nn.Module):
        def forward(self, x, k):
            a, b = x.split(4, dim=-1)
            r = torch.cat((-b, a), dim=-1) * 2.0
            kv = k[:, :, None, :, :].expand(2, 2, 3, 5, 8).reshape(2, 6, 5, 8)
            norm = r * torch.rsqrt(r.pow(2).mean(-1, keepdim=True) + 1e-6)
            return norm.unsqueeze(1) + kv.transpose(1, 2).flatten(2, 3).unsqueeze(-1).mean(-1)[
                :, :, None, :1] + x.sum(-1, keepdim=True)[:, None]
    x, k = torch.randn(2, 5, 8, dtype=torch.float64), torch.randn(2, 2, 5, 8,
                                                                 dtype=torch.float64)
    module = Mixed()
    traced = lower_module(module, (x, k))
    result = traced.layer.run(module_inputs(traced, module, (x, k)))
    expected = module(x, k)
    np.testing.assert_allclose(result[traced.layer.outputs[0]].reshape(expected.shape),
                               expected.numpy(), rtol=1e-12)
