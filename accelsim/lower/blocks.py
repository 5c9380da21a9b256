"""Einsums of the blocks a Transformer layer is made of, written into a CascadeBuilder.

Every function takes the builder, the name of the tensor it reads and the names it writes,
declares the weights it needs and returns the name of its result.  Hidden states are
``[B, T, D]`` (sequence b, token t, feature d).  Sources of each formula:

* LayerNorm -- Ba et al., arXiv:1607.06450, Section 3 (biased variance, eps inside the root,
  as torch.nn.LayerNorm); RMSNorm -- Zhang & Sennrich, arXiv:1910.07467, Eq. (4) (as
  torch.nn.RMSNorm and Llama);
* rotary embedding -- Su et al., arXiv:2104.09864, Section 3, in the "rotate half" layout of
  GPT-NeoX and Hugging Face Llama (``q * cos + rotate_half(q) * sin``) with the ``cos``/``sin``
  tables of shape [B, T, E] passed in (each sequence at its own positions), as Hugging Face
  passes ``position_embeddings`` to every decoder layer;
* feed-forward networks -- Vaswani et al. 2017, Eq. (2) with GELU (Hendrycks & Gimpel,
  arXiv:1606.08415) or ReLU, and the gated SwiGLU/GeGLU of Shazeer, arXiv:2002.05202, Eq. (6).
"""

from __future__ import annotations

import math

from accelsim.lower.builder import CascadeBuilder

ACTIVATIONS = {"gelu": "gelu({x})", "gelu_tanh": "gelu_tanh({x})", "relu": "max({x}, 0)",
               "silu": "silu({x})"}
"""Element-wise non-linearity -> its Einsum expression."""


def layer_norm(b: CascadeBuilder, x: str, y: str, prefix: str, eps: float) -> str:
    """``y = (x - mean) / sqrt(var + eps) * W + BIAS`` over d; weights ``{prefix}_W/_B``."""
    w, bias = b.weight(f"{prefix}_W", ("D",)), b.weight(f"{prefix}_B", ("D",))
    b.add(f"{prefix}_SX[b,t] = sum(d) {x}[b,t,d]")
    b.add(f"{prefix}_MU[b,t] = {prefix}_SX[b,t] / D")
    b.add(f"{prefix}_XC[b,t,d] = {x}[b,t,d] - {prefix}_MU[b,t]")
    b.add(f"{prefix}_SQ[b,t] = sum(d) {prefix}_XC[b,t,d] * {prefix}_XC[b,t,d]")
    b.add(f"{prefix}_RS[b,t] = rsqrt({prefix}_SQ[b,t] / D + {eps!r})")
    return b.add(f"{y}[b,t,d] = {prefix}_XC[b,t,d] * {prefix}_RS[b,t] * {w}[d] + {bias}[d]")


def rms_norm(b: CascadeBuilder, x: str, y: str, prefix: str, eps: float) -> str:
    """``y = x / sqrt(mean(x^2) + eps) * W`` over d; weight ``{prefix}_W``."""
    w = b.weight(f"{prefix}_W", ("D",))
    b.add(f"{prefix}_SS[b,t] = sum(d) {x}[b,t,d] * {x}[b,t,d]")
    b.add(f"{prefix}_RS[b,t] = rsqrt({prefix}_SS[b,t] / D + {eps!r})")
    return b.add(f"{y}[b,t,d] = {x}[b,t,d] * {prefix}_RS[b,t] * {w}[d]")


def norm(b: CascadeBuilder, kind: str, x: str, y: str, prefix: str, eps: float) -> str:
    """LayerNorm or RMSNorm by name."""
    return (rms_norm if kind == "rmsnorm" else layer_norm)(b, x, y, prefix, eps)


def linear(b: CascadeBuilder, x: str, y: str, weight: str, out_ranks: tuple[str, ...],
           bias: str | None, *, in_ranks: tuple[str, ...] = ("D",), kind: str | None = None
           ) -> str:
    """``y[b,t,out] = x[b,t,in] * weight[in, out] (+ bias[out])`` summed over the ``in``
    ranks; the product is written to ``{y}P`` when a bias follows."""
    out = ",".join(r.lower() for r in out_ranks)
    inner = ",".join(r.lower() for r in in_ranks)
    w = b.weight(weight, (*in_ranks, *out_ranks))
    product = f"{x}[b,t,{inner}] * {w}[{inner},{out}]"
    if bias is None:
        return b.add(f"{y}[b,t,{out}] = {product}", kind=kind, matmul=True)
    b.add(f"{y}P[b,t,{out}] = {product}", matmul=True)
    bias = b.weight(bias, out_ranks)
    return b.add(f"{y}[b,t,{out}] = {y}P[b,t,{out}] + {bias}[{out}]", kind=kind)


def rotary(b: CascadeBuilder, x: str, y: str, heads: str, cos: str, sin: str,
           kind: str = "activations") -> str:
    """Rotate-half RoPE of ``x[b,t,<heads>,e]`` into ``y[b,t,<heads>,half,j]`` (element
    ``half*J + j``): ``x*cos + rotate_half(x)*sin`` with rotate_half = cat(-x2, x1)."""
    first, second = "half*J+j", "J-half*J+j"
    return b.add(f"{y}[b,t,{heads},half,j] = {x}[b,t,{heads},{first}] * {cos}[b,t,{first}] + "
                 f"(2 * half - 1) * {x}[b,t,{heads},{second}] * {sin}[b,t,{first}]", kind=kind)


def feed_forward(b: CascadeBuilder, x: str, y: str, activation: str, gelu: str,
                 bias: bool) -> str:
    """The FFN on ``x[b,t,d]``: two matrices with GELU/ReLU, or gate/up/down with SwiGLU or
    GeGLU (weights W1/B1/W2/B2, or WG/WU/WD with BG/BU/BD)."""
    if activation in ("swiglu", "geglu"):
        act = ACTIVATIONS["silu" if activation == "swiglu" else gelu]
        gate = linear(b, x, "FG", "WG", ("I",), "BG" if bias else None)
        up = linear(b, x, "FU", "WU", ("I",), "BU" if bias else None)
        b.add(f"FA[b,t,i] = {act.format(x=f'{gate}[b,t,i]')} * {up}[b,t,i]")
        return linear(b, "FA", y, "WD", ("D",), "BD" if bias else None, in_ranks=("I",))
    act = ACTIVATIONS[gelu if activation == "gelu" else activation]
    w1 = b.weight("W1", ("D", "I"))
    if bias:
        b.weight("B1", ("I",))
        b.add(f"F1[b,t,i] = {x}[b,t,d] * {w1}[d,i]", matmul=True)
        b.add(f"FA[b,t,i] = {act.format(x='F1[b,t,i] + B1[i]')}")
    else:
        b.add(f"F1[b,t,i] = {x}[b,t,d] * {w1}[d,i]", matmul=True)
        b.add(f"FA[b,t,i] = {act.format(x='F1[b,t,i]')}")
    return linear(b, "FA", y, "W2", ("D",), "B2" if bias else None, in_ranks=("I",))


def residual(b: CascadeBuilder, x: str, branch: str, y: str) -> str:
    """``y = x + branch`` over [b, t, d]."""
    return b.add(f"{y}[b,t,d] = {x}[b,t,d] + {branch}[b,t,d]")


def active_experts(experts: int, per_token: int, tokens: int) -> int:
    """Experts that receive at least one of ``tokens`` tokens when each picks ``per_token``
    of ``experts`` at random (uniform routing): experts x (1 - (1 - per_token/experts) **
    tokens), rounded up."""
    untouched = (1 - per_token / experts) ** tokens
    return min(experts, max(per_token, math.ceil(experts * (1 - untouched) - 1e-9)))


def mixture_of_experts(b: CascadeBuilder, x: str, y: str, shape, gelu: str,
                       tokens: int, shards: int = 1) -> str:
    """A mixture-of-experts FFN on ``x[b,t,d]`` for ``tokens`` tokens (Shazeer et al.,
    arXiv:1701.06538; top-k routing as Mixtral, arXiv:2401.04088, Section 2.1):

    * router: logits and their softmax over the experts the step activates (the top-k choice
      among all ``experts`` is data-dependent; the cascade carries the active ones only,
      ``WR[d,ex]``: the router's other logits, hidden x (experts - active) multiply-adds per
      token, are left out);
    * dispatch and combine as GShard writes them (Lepikhin et al., arXiv:2006.16668,
      Algorithm 2): a one-hot mask ``DISP[b,t,ex,cap]`` (the top-k decision, an input: the
      selection itself costs no arithmetic here) gathers each expert's tokens,
      ``XE[ex,cap,d]``, and the gate-weighted mask scatters the experts' outputs back;
    * the experts: :func:`feed_forward`'s matrices with an expert rank, over the experts the
      step activates (:func:`active_experts`: all of them in a long prefill, about
      ``experts_per_token`` per token in a small decode batch), each with ``cap`` =
      ceil(tokens x k / active) rows (balanced routing, capacity factor 1).

    Dispatch and combine count as multiply-adds (the one-hot einsums), not as FLOPs of
    matrix products; a GPU kernel that gathers rows instead does less.

    Expert parallelism over ``shards`` devices: ``shape.experts`` are this device's experts
    (the model's divided by ``shards``) and ``tokens`` its own; every device routes as many,
    so the model's experts see ``tokens x shards`` tokens, this device's share of the active
    ones is ``active / shards`` (rounded up) and they receive ``tokens x k`` rows in all
    (uniform routing)."""
    k, experts = shape.experts_per_token, shape.experts * shards
    expected = experts * (1 - (1 - k / experts) ** (tokens * shards))
    active = (active_experts(experts, k, tokens) if shards == 1
              else min(shape.experts, max(1, math.ceil(expected / shards - 1e-9))))
    b.rank("EX", active)
    b.rank("CAP", math.ceil(tokens * k / active))
    router = b.weight("WR", ("D", "EX"))
    b.add(f"RL[b,t,ex] = {x}[b,t,d] * {router}[d,ex]", matmul=True)
    b.add("RMX[b,t] = max(ex) RL[b,t,ex]")
    b.add("REX[b,t,ex] = exp(RL[b,t,ex] - RMX[b,t])")
    b.add("RSM[b,t] = sum(ex) REX[b,t,ex]")
    b.add("RP[b,t,ex] = REX[b,t,ex] / RSM[b,t]")
    mask = b.input("DISP", ("B", "T", "EX", "CAP"))
    b.add(f"XE[ex,cap,d] = sum(b,t) {mask}[b,t,ex,cap] * {x}[b,t,d]")
    gated = shape.ffn_activation in ("swiglu", "geglu")
    act = ACTIVATIONS[("silu" if shape.ffn_activation == "swiglu" else gelu) if gated
                      else (gelu if shape.ffn_activation == "gelu" else shape.ffn_activation)]
    w1 = b.weight("WG" if gated else "W1", ("EX", "D", "I"))
    b.add(f"FG[ex,cap,i] = XE[ex,cap,d] * {w1}[ex,d,i]", matmul=True)
    if gated:
        up = b.weight("WU", ("EX", "D", "I"))
        b.add(f"FU[ex,cap,i] = XE[ex,cap,d] * {up}[ex,d,i]", matmul=True)
        b.add(f"FA[ex,cap,i] = {act.format(x='FG[ex,cap,i]')} * FU[ex,cap,i]")
    else:
        b.add(f"FA[ex,cap,i] = {act.format(x='FG[ex,cap,i]')}")
    down = b.weight("WD" if gated else "W2", ("EX", "I", "D"))
    b.add(f"EO[ex,cap,d] = FA[ex,cap,i] * {down}[ex,i,d]", matmul=True)
    b.add(f"CW[b,t,ex,cap] = {mask}[b,t,ex,cap] * RP[b,t,ex]")
    return b.add(f"{y}[b,t,d] = sum(ex,cap) CW[b,t,ex,cap] * EO[ex,cap,d]")
