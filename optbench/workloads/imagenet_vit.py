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
    network = ViT


ImageNetViTGlu = variant(
    ImageNetViT, "glu", "a GLU gate in every MLP", config=ViTConfig(use_glu=True)
)


ImageNetViTPostLn = variant(
    ImageNetViT,
    "post_ln",
    "LayerNorm after each residual sum",
    config=ViTConfig(use_post_layer_norm=True),
)


ImageNetViTMap = variant(
    ImageNetViT, "map", "pooling by multihead attention (MAP)", config=ViTConfig(use_map=True)
)
