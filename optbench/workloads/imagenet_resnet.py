"""``imagenet_resnet``: AlgoPerf's ResNet-50 on ImageNet at full scale, and its variants
``imagenet_resnet_silu``, ``imagenet_resnet_gelu`` and ``imagenet_resnet_large_bn_init``.

The network is :class:`optbench.models.imagenet.ResNet` (25,557,032 parameters in every
variant); the data, loss and metric are AlgoPerf's ImageNet ones
(:mod:`optbench.workloads.imagenet.workload`). Targets, budget, eval period and step hint are
AlgoPerf's (``targets/imagenet_resnet*.json``, size ``full``).
"""

from __future__ import annotations

from typing import ClassVar

from optbench.models.imagenet import ResNet, ResNetConfig
from optbench.workloads.imagenet.workload import ImageNetWorkload
from optbench.workloads.variants import variant


class ImageNetResNet(ImageNetWorkload):
    """ResNet-50 (ReLU, last BatchNorm of each bottleneck starting at scale 0)."""

    name = "imagenet_resnet"
    algoperf_name = "imagenet_resnet"
    description = "ResNet-50 (BatchNorm, ReLU) on ImageNet, AlgoPerf's imagenet_resnet"
    output_layer = "fc"
    algoperf_eval_batch_size = 1024
    config: ClassVar[ResNetConfig] = ResNetConfig()
    network = ResNet


ImageNetResNetSilu = variant(
    ImageNetResNet, "silu", "SiLU activations", config=ResNetConfig(activation="silu")
)


ImageNetResNetGelu = variant(
    ImageNetResNet, "gelu", "GELU activations", config=ResNetConfig(activation="gelu")
)


ImageNetResNetLargeBnInit = variant(
    ImageNetResNet,
    "large_bn_init",
    "the last BatchNorm of each bottleneck starting at scale 8 instead of 0",
    config=ResNetConfig(bn_init_scale=8.0),
)
