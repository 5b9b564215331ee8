"""``fmnist_resnet``: a small ResNet with BatchNorm on Fashion-MNIST, the analogue of AlgoPerf's
``imagenet_resnet`` (ResNet-50 on ImageNet); variant ``fmnist_resnet_silu`` mirrors
``imagenet_resnet_silu``.

The images stay 28x28 (no padding) and are standardised by the train mean and standard deviation.
As in ImageNet ResNets the stem downsamples (a stride-2 3x3 convolution; the stages then run at
14, 7 and 4 pixels), which keeps a step cheap on two CPU cores. There is no augmentation, which only
pays off over more epochs than a mini budget allows.
"""

from __future__ import annotations

import torch
from torch import nn

from optbench.workloads.common.fashion_mnist import FashionMnistWorkload
from optbench.workloads.variants import variant

# size -> stage widths
_WIDTHS = {"smoke": (8, 16, 32), "mini": (16, 32, 64)}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a (projected, when the shape changes) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act = activation()
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )
        # The last BatchNorm of the residual branch starts at scale 0 (Goyal et al., 2017), so
        # every block starts as its shortcut.
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-8: a stride-2 3x3 stem, one basic block per stage (stride 1, 2, 2), global average
    pool, linear classifier."""

    def __init__(self, widths: tuple[int, ...], activation: type[nn.Module], classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), activation()
        )
        blocks, c_in = [], widths[0]
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(c_in, width, 1 if i == 0 else 2, activation))
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class FashionMnistResNet(FashionMnistWorkload):
    """ResNet-8 (16/32/64 channels; 8/16/32 at the smoke size) with BatchNorm and ReLU."""

    name = "fmnist_resnet"
    algoperf_name = "imagenet_resnet"
    description = "ResNet-8 (stride-2 stem, 16/32/64, BatchNorm, ReLU) on Fashion-MNIST"
    output_layer = "head"
    eval_batch_size = 256
    activation: type[nn.Module] = nn.ReLU

    def _build_model(self) -> nn.Module:
        return ResNet(_WIDTHS[self.size], self.activation)


FashionMnistResNetSilu = variant(FashionMnistResNet, "silu", "SiLU activations", activation=nn.SiLU)
