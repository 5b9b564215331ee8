"""Transformer layers shared by the ViT and the character language model: multi-head
self-attention (optionally causal, with a logit temperature) and a pre-LN or post-LN block."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.models.common import residual


class SelfAttention(nn.Module):
    """Multi-head self-attention with separate query, key, value and output projections.

    ``temperature`` multiplies the attention logits: ``softmax(t * q k^T / sqrt(d_head))``. The
    projections carry AlgoPerf's attention parameter types.
    """

    parameter_types: ClassVar[dict[str, spec.ParameterType]] = {
        **{
            f"{p}.bias": spec.ParameterType.ATTENTION_BIAS for p in ("query", "key", "value", "out")
        },
        "query.weight": spec.ParameterType.ATTENTION_Q,
        "key.weight": spec.ParameterType.ATTENTION_K,
        "value.weight": spec.ParameterType.ATTENTION_V,
        "out.weight": spec.ParameterType.ATTENTION_OUT,
    }

    def __init__(self, dim: int, heads: int, causal: bool = False, temperature: float = 1.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not a multiple of {heads} heads")
        self.heads, self.causal = heads, causal
        self.scale = temperature / math.sqrt(dim // heads)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def heads(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(
            heads(self.query(x)),
            heads(self.key(x)),
            heads(self.value(x)),
            is_causal=self.causal,
            scale=self.scale,
        )
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """A transformer block: attention and MLP sub-layers, each with a residual connection and
    LayerNorm before the sub-layer (pre-LN) or after the residual sum (``post_ln``)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        *,
        post_ln: bool = False,
        causal: bool = False,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.post_ln = post_ln
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, causal, temperature)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
        self.dropout = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = residual(x, self.attn, self.norm1, self.dropout, self.post_ln)
        return residual(x, self.mlp, self.norm2, self.dropout, self.post_ln)
