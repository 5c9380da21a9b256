"""The cascades before the first layer (embeddings) and after the last (final norm, LM head).

Embeddings of a text model: looking rows up by token id is a gather the IR cannot express, so
the cascade reads the B x T looked-up rows ``TOK[b,t,d]`` (role ``weight``: they are rows of
the embedding table) and adds learned position rows ``POS[t,d]`` (GPT-2, BERT) and BERT's
token-type row ``TYPE[d]`` followed by BERT's embedding LayerNorm (Devlin et al., NAACL 2019,
Section 3.2).  Its output ``EMB`` is the first layer's ``X``.

ViT (Dosovitskiy et al., ICLR 2021, Eq. 1): the image arrives as ``PATCH[b,n,k]``, its N
patches of K = channels x patch x patch pixels (the im2col view of the stride-P convolution);
``EMB[b,t,d]`` is the class token ``CLS[d]`` at t = 0 and the patch GEMM plus bias at
t = n + 1, plus position rows ``POS[t,d]``.

The head reads the last layer's output as ``HID[b,t,d]``: pre-norm models apply their final
norm, then ``LOGITS[b,t,v] = XF[b,t,d] * WLM[d,v]`` for every token (as a Hugging Face
forward does by default).  BERT's masked-LM transform (dense, GELU, LayerNorm, output bias)
is not modelled: its head is the plain GEMM onto the vocabulary.
"""

from __future__ import annotations

from accelsim.errors import LoweringError
from accelsim.lower.blocks import linear, norm
from accelsim.lower.builder import Built, CascadeBuilder
from accelsim.lower.layer import MODEL_RANKS, LayerPlan


def embedding_cascade(plan: LayerPlan, name: str) -> Built:
    """Token (or patch) embeddings of every group of the batch."""
    shape = plan.shape
    b = CascadeBuilder(plan.precision, shared_ranks=MODEL_RANKS)
    b.rank("D", shape.hidden)
    vision = shape.image_size is not None
    if vision:
        b.rank("K", (shape.channels or 3) * shape.patch_size ** 2)
    for k, group in enumerate(plan.groups):
        with b.group(plan.suffix(k)):
            b.rank("B", group.batch)
            if vision:
                b.rank("N", group.tokens - 1)
                b.rank("T", "N + 1")
                _patch_embedding(b)
            else:
                b.rank("T", group.tokens)
                _token_embedding(b, plan)
            b.output("EMB", ("B", "T", "D"))
    return b.build(name, source=_SOURCE, description=f"{shape.family} embeddings")


_SOURCE = ("Devlin et al., NAACL 2019, Section 3.2 (token, position and segment embeddings); "
           "Radford et al. 2019 (GPT-2 wte + wpe); Dosovitskiy et al., ICLR 2021, Eq. 1 (ViT)")


def _token_embedding(b: CascadeBuilder, plan: LayerPlan) -> None:
    shape = plan.shape
    b.input("TOK", ("B", "T", "D"), "weights", role="weight")
    terms = ["TOK[b,t,d]"]
    if shape.position == "learned":
        b.input("POS", ("T", "D"), "weights", role="weight")
        terms.append("POS[t,d]")
    if shape.family == "bert":
        terms.append(b.weight("TYPE", ("D",)) + "[d]")
        b.add(f"EMB_SUM[b,t,d] = {' + '.join(terms)}")
        norm(b, shape.norm, "EMB_SUM", "EMB", "EN", plan.eps)
        return
    b.add(f"EMB[b,t,d] = {' + '.join(terms)}")


def _patch_embedding(b: CascadeBuilder) -> None:
    b.input("PATCH", ("B", "N", "K"))
    b.input("POS", ("T", "D"), "weights", role="weight")
    b.add(f"EMB_PE[b,n,d] = PATCH[b,n,k] * {b.weight('WPATCH', ('K', 'D'))}[k,d]",
          matmul=True)
    b.add(f"EMB_PB[b,t,d] = EMB_PE[b,t-1,d] + {b.weight('BPATCH', ('D',))}[d] where t >= 1")
    b.add(f"EMB_CL[b,t,d] = {b.weight('CLS', ('D',))}[d] where t == 0")
    b.add("EMB[b,t,d] = EMB_PB[b,t,d] + EMB_CL[b,t,d] + POS[t,d]")


def head_cascade(plan: LayerPlan, name: str) -> Built:
    """Final norm (pre-norm models) and the LM head of every group."""
    shape = plan.shape
    if shape.vocab is None:
        raise LoweringError(f"lm_head: a {shape.family} model has no vocabulary (vocab is not "
                            "set in the workload)")
    b = CascadeBuilder(plan.precision, shared_ranks=MODEL_RANKS)
    b.rank("D", shape.hidden)
    b.rank("V", shape.vocab)
    for k, group in enumerate(plan.groups):
        with b.group(plan.suffix(k)):
            b.rank("B", group.batch)
            b.rank("T", group.tokens)
            b.input("HID", ("B", "T", "D"))
            hidden = "HID"
            if shape.norm_position == "pre":
                hidden = norm(b, shape.norm, "HID", "XF", "FN", plan.eps)
            linear(b, hidden, "LOGITS", "WLM", ("V",), None)
            b.output("LOGITS", ("B", "T", "V"))
    return b.build(name, source="Radford et al. 2019 (final layer norm and LM head)",
                   description=f"{shape.family} final norm and LM head")
