"""What the optimizers here share: torch's closure protocol and Adam's arguments (their
defaults and ranges)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import torch


def loss_of(closure: Callable[[], Any] | None) -> Any:
    """What ``closure`` returns, run with gradients enabled (``step`` itself runs under no_grad),
    or None without a closure: torch's convention for ``Optimizer.step(closure)``."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class AdamArguments(TypedDict, total=False):
    """The keyword arguments of :func:`adam_defaults`, for an optimizer that passes them on."""

    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float


def adam_defaults(
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> dict[str, Any]:
    """Adam's hyperparameters (torch's defaults) as an optimizer's ``defaults``, checked:
    ValueError unless ``lr``, ``eps`` and ``weight_decay`` are >= 0 and each beta lies in
    [0, 1)."""
    if lr < 0 or eps < 0 or weight_decay < 0:
        raise ValueError("lr, eps and weight_decay must be non-negative")
    if not all(0.0 <= beta < 1.0 for beta in betas):
        raise ValueError(f"betas must lie in [0, 1), got {tuple(betas)}")
    return {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
