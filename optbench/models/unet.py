"""AlgoPerf's fastMRI U-Net (itself fastMRI's reference U-Net), in PyTorch.

Architecture as AlgoPerf's ``fastmri`` workload (``num_channels`` 32, ``num_pool_layers`` 4):
``num_pool_layers`` down blocks (two 3x3 convolutions without bias, each followed by instance
normalisation without learnable parameters, leaky ReLU of slope 0.2 and channel dropout), 2x2
average pooling between them, a bottleneck block, then per level a transposed 2x2 convolution
block (instance norm, activation) and a conv block on the concatenation with the skip, and a 1x1
output convolution with bias. Variants: ``use_tanh`` (tanh everywhere), ``use_layer_norm``
(GroupNorm with one group and eps 1e-6 in the conv blocks, the transposed-conv blocks keep
instance norm), and other widths and depths (``fastmri_model_size``: 64 channels, 3 pools).

Initialisation as AlgoPerf's ``init_utils.pytorch_default_init`` on every (transposed)
convolution: truncated LeCun normal (std sqrt(1/fan_in) / 0.8796, cut at 2 std, fan-in as torch
computes it), biases zero. Module and parameter names follow AlgoPerf's, so ``param_shapes``
has AlgoPerf's keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.models.common import lecun_normal_


class ChannelDropout(nn.Dropout):
    """Dropout of whole channels (``F.dropout2d``), as AlgoPerf's ``CustomDropout2d``.

    A subclass of ``nn.Dropout`` so that the workload's dropout-rate setting reaches it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout2d(x, self.p, self.training) if self.p > 0 else x


def _activation(use_tanh: bool) -> nn.Module:
    return nn.Tanh() if use_tanh else nn.LeakyReLU(negative_slope=0.2, inplace=True)


def _norm(channels: int, use_layer_norm: bool) -> nn.Module:
    return nn.GroupNorm(1, channels, eps=1e-6) if use_layer_norm else nn.InstanceNorm2d(channels)


class ConvBlock(nn.Module):
    """Two (3x3 conv, norm, activation, channel dropout) stages; AlgoPerf's ``conv_layers``
    indices (0 conv, 1 norm, 4 conv, 5 norm)."""

    def __init__(self, cin: int, cout: int, use_tanh: bool, use_layer_norm: bool) -> None:
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),
            _norm(cout, use_layer_norm),
            _activation(use_tanh),
            ChannelDropout(0.0),
            nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False),
            _norm(cout, use_layer_norm),
            _activation(use_tanh),
            ChannelDropout(0.0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_layers(x)


class TransposeConvBlock(nn.Module):
    """2x upsampling: a 2x2 stride-2 transposed convolution (no bias), instance norm (in every
    variant, as AlgoPerf), activation."""

    # optbench.workloads.param_types reads this: a transposed convolution's kernel is a
    # convolution weight (AlgoPerf types it CONV_WEIGHT too).
    parameter_types = {"layers.0.weight": spec.ParameterType.CONV_WEIGHT}  # noqa: RUF012

    def __init__(self, cin: int, cout: int, use_tanh: bool) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(cout),
            _activation(use_tanh),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class UNet(nn.Module):
    """The U-Net of AlgoPerf's fastmri workloads on (B, 1, H, W) images (see module docstring).

    The last ``up_conv`` entry holds the last conv block and the 1x1 output convolution
    (``up_conv.<n-1>.1``), as in AlgoPerf."""

    def __init__(
        self,
        num_channels: int = 32,
        num_pool_layers: int = 4,
        use_tanh: bool = False,
        use_layer_norm: bool = False,
    ) -> None:
        super().__init__()
        ch = num_channels
        self.down_sample_layers = nn.ModuleList([ConvBlock(1, ch, use_tanh, use_layer_norm)])
        for _ in range(num_pool_layers - 1):
            self.down_sample_layers.append(ConvBlock(ch, ch * 2, use_tanh, use_layer_norm))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2, use_tanh, use_layer_norm)
        self.up_conv = nn.ModuleList()
        self.up_transpose_conv = nn.ModuleList()
        for level in range(num_pool_layers):
            self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch, use_tanh))
            block = ConvBlock(ch * 2, ch, use_tanh, use_layer_norm)
            if level == num_pool_layers - 1:
                block = nn.Sequential(block, nn.Conv2d(ch, 1, kernel_size=1))
            self.up_conv.append(block)
            ch //= 2
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                lecun_normal_(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stack = []
        out = x
        for layer in self.down_sample_layers:
            out = layer(out)
            stack.append(out)
            out = F.avg_pool2d(out, kernel_size=2, stride=2)
        out = self.conv(out)
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv, strict=True):
            skip = stack.pop()
            out = transpose_conv(out)
            # Odd sizes: reflect-pad one pixel on the right / bottom (as AlgoPerf and fastMRI).
            pad = [0, int(out.shape[-1] != skip.shape[-1]), 0, int(out.shape[-2] != skip.shape[-2])]
            if any(pad):
                out = F.pad(out, pad, "reflect")
            out = conv(torch.cat([out, skip], dim=1))
        return out
