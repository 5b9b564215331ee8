"""What several of the networks here share: AlgoPerf's truncated LeCun normal initialisation
(``pytorch_default_init``) and the residual wiring of a pre-LN or post-LN transformer sub-layer."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

Sublayer = Callable[[torch.Tensor], torch.Tensor]

# A truncated standard normal cut at +-2 has standard deviation 0.8796...; dividing by it gives
# the truncated draw the intended standard deviation (as jax's variance scaling does).
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def lecun_normal_(module: nn.Module) -> None:
    """AlgoPerf's ``pytorch_default_init``: truncated LeCun normal weight (std sqrt(1/fan_in) /
    0.8796, cut at 2 std, fan-in as torch computes it), zero bias."""
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
    std = math.sqrt(1.0 / fan_in) / _TRUNCATED_NORMAL_STD
    nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def residual(
    x: torch.Tensor, sublayer: Sublayer, norm: Sublayer, dropout: Sublayer, post_ln: bool
) -> torch.Tensor:
    """One residual sub-layer of a transformer block: ``x + dropout(sublayer(norm(x)))``, the
    LayerNorm before the sub-layer (pre-LN), or ``norm(x + dropout(sublayer(x)))``, the LayerNorm
    after the sum (``post_ln``)."""
    if post_ln:
        return norm(x + dropout(sublayer(x)))
    return x + dropout(sublayer(norm(x)))
