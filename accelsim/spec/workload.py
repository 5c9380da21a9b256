"""``kind: workload``: a Transformer model's shape, each number cited in the file."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from accelsim.spec.fields import Count, Name, SpecModel


class ModelShape(SpecModel):
    """Hyper-parameters that determine a Transformer's work (as in a Hugging Face config.json)."""

    family: Literal["bert", "gpt2", "llama", "mistral", "mixtral", "vit", "t5",
                    "transformer-xl", "xlm", "opt", "gpt3", "generic"]
    """Model family; fixes defaults such as norm placement."""
    layers: Count = Field(le=1024)
    """Number of Transformer blocks."""
    hidden: Count
    """Model (embedding) dimension d."""
    heads: Count = Field(le=4096)
    """Query heads per layer."""
    kv_heads: Optional[Count] = None
    """Key/value heads (grouped-query attention); defaults to ``heads``."""
    head_dim: Optional[Count] = None
    """Per-head dimension; defaults to hidden / heads."""
    ffn: Count
    """Feed-forward inner dimension."""
    ffn_activation: Literal["gelu", "relu", "swiglu", "geglu"] = "gelu"
    """FFN non-linearity; swiglu/geglu use a gated pair of up projections."""
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    """Normalization."""
    norm_position: Literal["pre", "post"] = "pre"
    """Norm before (pre) or after (post) each residual branch."""
    position: Literal["learned", "rope", "relative", "none"] = "learned"
    """Position encoding; rope rotates Q and K inside attention."""
    causal: bool = True
    """Decoder (causal) attention; False for encoders such as BERT and ViT."""
    vocab: Optional[Count] = None
    """Vocabulary size (embeddings and LM head); None for vision models."""
    max_positions: Optional[Count] = None
    """Longest sequence the model was trained for."""
    sliding_window: Optional[Count] = None
    """Attention window (Mistral); None for full attention."""
    image_size: Optional[Count] = None
    """Vision models: input image side in pixels."""
    patch_size: Optional[Count] = None
    """Vision models: patch side in pixels."""
    channels: Optional[Count] = None
    """Vision models: input channels."""
    tie_embeddings: bool = False
    """Whether the LM head shares the embedding matrix."""
    bias: bool = True
    """Whether linear layers carry a bias vector."""
    experts: Optional[Count] = Field(default=None, le=1 << 16)
    """Mixture of experts: FFN experts per layer (each of ``ffn`` inner size); None: one
    dense FFN."""
    experts_per_token: Optional[Count] = None
    """Mixture of experts: experts each token is routed to (top-k)."""

    @model_validator(mode="after")
    def _consistent(self) -> "ModelShape":
        if self.head_dim is None and self.hidden % self.heads:
            raise ValueError(f"hidden size {self.hidden} is not divisible by heads {self.heads}; "
                             "give head_dim explicitly or fix the numbers")
        kv = self.kv_heads or self.heads
        if kv > self.heads or self.heads % kv:
            raise ValueError(f"kv_heads {kv} must divide heads {self.heads}")
        if (self.experts is None) != (self.experts_per_token is None):
            raise ValueError("experts and experts_per_token go together")
        if self.experts is not None and self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token {self.experts_per_token} is more than the "
                             f"{self.experts} experts")
        if (self.image_size is None) != (self.patch_size is None):
            raise ValueError("image_size and patch_size go together")
        if self.image_size is not None and self.image_size % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} does not divide image_size {self.image_size}")
        return self


class WorkloadSpec(SpecModel):
    """A named model with the source of its numbers."""

    kind: Literal["workload"]
    """Document type."""
    version: Literal[1]
    """Format version."""
    name: Name
    """Workload name (e.g. 'llama-3-8b')."""
    source: str = Field(min_length=1)
    """Where the numbers come from (a config.json, a paper table)."""
    description: str = ""
    """Free text."""
    model: ModelShape
    """The model's hyper-parameters."""
