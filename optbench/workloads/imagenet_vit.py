"""``imagenet_vit``: AlgoPerf's ViT-S/16 on ImageNet at full scale, and its variants
``imagenet_vit_glu``, ``imagenet_vit_post_ln`` and ``imagenet_vit_map``.

The network is :class:`optbench.models.imagenet.ViT` (22,122,472 parameters; GLU 50,452,456,
post-LN 22,121,704, MAP 23,896,552); the data, loss and metric are AlgoPerf's ImageNet ones
(:mod:`optbench.workloads.imagenet.workload`) with, as in AlgoPerf, RandAugment and mixup on the
training batches. Targets, budget, eval period and step hint are AlgoPerf's
(``targets/imagenet_vit*.json``, size ``full``).
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from optbench.models.imagenet import ViT, ViTConfig
from optbench.workloads.imagenet.workload import ImageNetWorkload
from optbench.workloads.variants import variant


class ImageNetViT(ImageNetWorkload):
    """ViT-S/16 (pre-LN, mean pooling), trained with RandAugment and mixup."""

    name = "imagenet_vit"
    algoperf_name = "imagenet_vit"
    description = "ViT-S/16 (pre-LN, mean pool) on ImageNet, AlgoPerf's imagenet_vit"
    output_layer = "head"
    algoperf_eval_batch_size = 2048
    mixup_and_randaugment = True
    config: ClassVar[ViTConfig] = ViTConfig()

    def _build_model(self) -> nn.Module:
        return ViT(self.config.reduced() if self.reduced else self.config)


ImageNetViTGlu = variant(
    "ImageNetViTGlu",
    ImageNetViT,
    "imagenet_vit_glu",
    algoperf_name="imagenet_vit_glu",
    description="ViT-S/16 with GLU MLPs on ImageNet, AlgoPerf's imagenet_vit_glu",
    doc="``imagenet_vit`` with a GLU gate in every MLP (AlgoPerf's ``imagenet_vit_glu``).",
    config=ViTConfig(use_glu=True),
)


ImageNetViTPostLn = variant(
    "ImageNetViTPostLn",
    ImageNetViT,
    "imagenet_vit_post_ln",
    algoperf_name="imagenet_vit_post_ln",
    description="ViT-S/16 (post-LN) on ImageNet, AlgoPerf's imagenet_vit_post_ln",
    doc="``imagenet_vit`` with LayerNorm after each residual sum (AlgoPerf's "
    "``imagenet_vit_post_ln``).",
    config=ViTConfig(use_post_layer_norm=True),
)


ImageNetViTMap = variant(
    "ImageNetViTMap",
    ImageNetViT,
    "imagenet_vit_map",
    algoperf_name="imagenet_vit_map",
    description="ViT-S/16 with attention pooling (MAP) on ImageNet, AlgoPerf's imagenet_vit_map",
    doc="``imagenet_vit`` pooling by multihead attention (AlgoPerf's ``imagenet_vit_map``).",
    config=ViTConfig(use_map=True),
)
