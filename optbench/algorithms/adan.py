"""Adan (Xie et al., 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
Models").

Library: ``pytorch_optimizer.Adan`` with the paper's proximal weight decay
(``weight_decouple=False``: ``p <- (p - lr (m + b2 v) / (sqrt(n) + eps)) / (1 + lr wd)``, with ``v``
the moving average of gradient differences and ``n`` that of ``(g + b2 (g - g_prev))^2``). As in the
authors' code, betas are one minus the paper's (0.98, 0.92, 0.99), the first gradient difference is
0, and m, v, n are bias-corrected (Algorithm 1 of the paper is not). Schedule: linear warmup, cosine
decay to 0. Search space: the authors' advice: a learning rate 5-10x AdamW's (the 1e-4..1e-2 of
AlgoPerf's AdamW baseline -> 5e-4..0.1), weight decay 0.02 ("suitable for all experiments"), beta3
tuned first (around 0.99), beta1 and beta2 at their defaults. Self-tuning point: the NadamW point
with 5x its learning rate (rounded), weight decay 0.02, the default betas.
"""

from typing import Any

import pytorch_optimizer
import torch
from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine

SELF_TUNING = self_tuning.nadamw(
    learning_rate=8.7e-3, one_minus_beta1=0.02, beta2=0.92, one_minus_beta3=0.01, weight_decay=0.02
)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """Adan with the paper's proximal weight decay, no gradient clipping."""
    return pytorch_optimizer.Adan(
        model.parameters(),
        lr=hp.learning_rate,
        betas=(hp.beta1, hp.beta2, 1.0 - hp.one_minus_beta3),
        weight_decay=hp.weight_decay,
        weight_decouple=False,
        max_grad_norm=0.0,
        eps=1e-8,
    )


SUBMISSION = make_submission("adan", build, defaults=SELF_TUNING, schedule=warmup_cosine)
