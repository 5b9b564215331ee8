"""``fmnist_vit``: a small Vision Transformer on Fashion-MNIST, the analogue of AlgoPerf's
``imagenet_vit`` (ViT-S/16 on ImageNet); variant ``fmnist_vit_post_ln`` mirrors
``imagenet_vit_post_ln``.

Like AlgoPerf's ViT: a convolutional patch embedding, learned position embeddings, pre-LN
transformer blocks (:mod:`optbench.workloads.common.transformer`) with GELU MLPs, a final
LayerNorm, global average pooling over the patches (no class token) and a zero-initialised
classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from optbench.workloads.common.fashion_mnist import FashionMnistWorkload
from optbench.workloads.common.transformer import Block
from optbench.workloads.variants import variant

# size -> (patch, width, depth, heads, mlp width)
_SIZES = {"smoke": (7, 32, 2, 2, 64), "mini": (7, 64, 4, 4, 128)}


class VisionTransformer(nn.Module):
    """Patch embedding, position embedding, blocks, LayerNorm, mean pooling, linear classifier."""

    def __init__(
        self,
        patch: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_dim: int,
        post_ln: bool = False,
        image: int = 28,
        classes: int = 10,
    ) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(1, dim, patch, patch)
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2, dim) * 0.02)
        self.dropout = nn.Dropout(0.0)
        self.blocks = nn.Sequential(
            *(Block(dim, heads, mlp_dim, post_ln=post_ln) for _ in range(depth))
        )
        # Post-LN blocks already end in a LayerNorm.
        self.norm = nn.Identity() if post_ln else nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.head.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        return self.head(self.norm(self.blocks(self.dropout(tokens))).mean(dim=1))


class FashionMnistViT(FashionMnistWorkload):
    """ViT with 7x7 patches (16 tokens), width 64, 4 pre-LN blocks of 4 heads, MLP 128."""

    name = "fmnist_vit"
    algoperf_name = "imagenet_vit"
    description = "ViT (7x7 patches, width 64, 4 blocks of 4 heads, pre-LN, mean pool) on FMNIST"
    output_layer = "head"
    # Inside trials 256 evaluated faster than 1024 (benchmarks/eval_cost.py --in-trial).
    eval_batch_size = 256
    post_ln = False

    def _build_model(self) -> nn.Module:
        return VisionTransformer(*_SIZES[self.size], post_ln=self.post_ln)


FashionMnistViTPostLn = variant(
    FashionMnistViT, "post_ln", "LayerNorm after each residual sum", post_ln=True
)
