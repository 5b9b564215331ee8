"""What the optimizers here share: torch's closure protocol and the ranges of Adam's arguments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def loss_of(closure: Callable[[], Any] | None) -> Any:
    """What ``closure`` returns, run with gradients enabled (``step`` itself runs under no_grad),
    or None without a closure: torch's convention for ``Optimizer.step(closure)``."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def check_adam_arguments(
    lr: float, betas: Sequence[float], eps: float, weight_decay: float
) -> None:
    """ValueError unless ``lr``, ``eps`` and ``weight_decay`` are >= 0 and each beta lies in
    [0, 1)."""
    if lr < 0 or eps < 0 or weight_decay < 0:
        raise ValueError("lr, eps and weight_decay must be non-negative")
    if not all(0.0 <= beta < 1.0 for beta in betas):
        raise ValueError(f"betas must lie in [0, 1), got {tuple(betas)}")
