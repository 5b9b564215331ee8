"""NAdamW exactly as AlgoPerf's baseline defines it (ALGOPERF.md §8).

    m_t = b1 m + (1 - b1) g
    v_t = b2 v + (1 - b2) g^2
    theta <- theta (1 - lr wd)
             - lr / (1 - b1^t) * (b1 m_t + (1 - b1) g) / (sqrt(v_t / (1 - b2^t)) + eps)

``torch.optim.NAdam(decoupled_weight_decay=True)`` is not this update: it applies Dozat's momentum
schedule ``mu_t`` and bias-corrects the momentum term with ``1 - prod(mu)`` up to step ``t+1``, so
its steps differ from AlgoPerf's NadamW (by a few percent in the first steps). Hence this class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class NAdamW(torch.optim.Optimizer):
    """NAdam with decoupled weight decay, AlgoPerf's form (see the module docstring)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError("lr, eps and weight_decay must be non-negative")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        super().__init__(
            params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                p.mul_(1 - lr * wd)
                numerator = m.mul(beta1).add_(grad, alpha=1 - beta1)
                denom = (v / (1 - beta2**t)).sqrt_().add_(eps)
                p.addcdiv_(numerator, denom, value=-lr / (1 - beta1**t))
        return loss
