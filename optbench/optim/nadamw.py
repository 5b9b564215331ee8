"""NAdamW exactly as AlgoPerf's NadamW baseline defines it.

    m_t = b1 m + (1 - b1) g
    v_t = b2 v + (1 - b2) g^2
    theta <- theta (1 - lr wd)
             - lr / (1 - b1^t) * (b1 m_t + (1 - b1) g) / (sqrt(v_t / (1 - b2^t)) + eps)

``torch.optim.NAdam(decoupled_weight_decay=True)`` is not this update: it applies Dozat's momentum
schedule ``mu_t = b1 (1 - 0.5 * 0.96^(t psi))`` (about ``b1 / 2`` in the first steps) and
bias-corrects the momentum term with ``1 - prod(mu)``, so its early steps differ from AlgoPerf's
NadamW by tens of percent (``tests/test_nadamw.py`` pins the difference). Hence this class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Unpack

import torch

from optbench.optim.base import AdamArguments, adam_defaults, loss_of


class NAdamW(torch.optim.Optimizer):
    """NAdam with decoupled weight decay, AlgoPerf's form (see the module docstring)."""

    def __init__(self, params: Iterable[Any], **adam: Unpack[AdamArguments]) -> None:
        """``adam``: ``lr``, ``betas``, ``eps``, ``weight_decay`` (see :func:`adam_defaults`)."""
        super().__init__(params, adam_defaults(**adam))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = loss_of(closure)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            grads = [p.grad for p in params]
            states = [self.state[p] for p in params]
            for p, state in zip(params, states, strict=True):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
            steps = [state["step"] for state in states]
            m = [state["exp_avg"] for state in states]
            v = [state["exp_avg_sq"] for state in states]
            # One fused kernel per operation over all parameters (torch's multi-tensor path).
            torch._foreach_lerp_(m, grads, 1 - beta1)
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
            if wd:
                torch._foreach_mul_(params, 1 - lr * wd)
            numerator = torch._foreach_mul(m, beta1)
            torch._foreach_add_(numerator, grads, alpha=1 - beta1)
            denom = torch._foreach_div(v, [1 - beta2**t for t in steps])
            torch._foreach_sqrt_(denom)
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, numerator, denom, [-lr / (1 - beta1**t) for t in steps])
        return loss
