"""Sophia-H (Liu et al., 2024, "Sophia: A Scalable Stochastic Second-order Optimizer for Language
Model Pre-training") with Hutchinson estimates of the Hessian diagonal.

The paper's update: ``m <- b1 m + (1 - b1) g``; every k steps ``h <- b2 h + (1 - b2) u*(H u)``, ``u
~ N(0, I)``; ``p <- p (1 - lr wd) - lr clip(m / max(gamma h, eps), 1)``. Library:
``pytorch_optimizer.SophiaH``, whose step is ``lr' clip(m / max(h, eps'), p')`` with decay ``lr'
wd'``; it equals the paper's with ``lr' = lr / gamma``, ``p' = gamma``, ``wd' = wd gamma`` and ``eps
= gamma eps'``, which :func:`build` passes, so the hyperparameters here are the paper's. The
Hessian-vector products need the gradient's graph: ``make_submission(create_graph=True)``. Schedule:
linear warmup, cosine decay to 0. Search space: the authors' code (README and GPT-2 configs): gamma
(their rho) in [0.01, 0.1]; the largest step gamma * lr' = lr about half AdamW's rate (their
configs: 3e-4 against 6e-4; AlgoPerf's AdamW baseline's 1e-4..1e-2 -> 5e-5..5e-3); weight decay
twice AdamW's (0.2 against 0.1: 1e-2..2); betas (0.965, 0.99); k = 10. Self-tuning point: the NadamW
point with half its learning rate and twice its weight decay (rounded), the betas above, gamma 0.01.
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
    learning_rate=8.7e-4,
    one_minus_beta1=0.035,
    beta2=0.99,
    gamma=0.01,
    weight_decay=0.16,
    hessian_period=10,
)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """SophiaH with the paper's (lr, gamma, weight decay) mapped onto the library's arguments."""
    return pytorch_optimizer.SophiaH(
        model.parameters(),
        lr=hp.learning_rate / hp.gamma,
        betas=(hp.beta1, hp.beta2),
        weight_decay=hp.weight_decay * hp.gamma,
        weight_decouple=True,
        p=hp.gamma,
        update_period=int(hp.hessian_period),
        num_samples=1,
        hessian_distribution="gaussian",
        eps=1e-12 / hp.gamma,
    )


SUBMISSION = make_submission(
    "sophia", build, defaults=SELF_TUNING, schedule=warmup_cosine, create_graph=True
)
