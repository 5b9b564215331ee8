"""Heavy-ball momentum (Polyak, 1964), AlgoPerf's momentum baseline.

Library: ``torch.optim.SGD(momentum=beta1, nesterov=False)``, the form of Sutskever et al. (2013):
``b <- beta1 b + (g + wd p)``, ``p <- p - lr b``. This equals Polyak's ``p <- p - lr g + beta1 (p -
p_prev)`` only while the learning rate is constant: the buffer accumulates gradients, so a schedule
rescales past steps too. Weight decay is the coupled L2 penalty (added to the gradient), as in
AlgoPerf. Schedule: linear warmup, then linear decay to ``end_factor`` at ``step_hint`` (AlgoPerf
decays over ``decay_steps_factor`` = 0.9 of the steps and then holds; here the decay spans them
all). Search space: that of AlgoPerf's heavy-ball momentum baseline. Self-tuning point: the classic
lr 0.1 with momentum 0.9, weight decay 1e-6, warmup 5% and end factor 0.01 (both from the search
space).
"""

from typing import Any

import torch
from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_linear_decay

SELF_TUNING = self_tuning.with_regularization(
    learning_rate=0.1, one_minus_beta1=0.1, weight_decay=1e-6, warmup_factor=0.05, end_factor=0.01
)


def build(
    model: nn.Module, hp: Any, workload: spec.Workload, nesterov: bool = False
) -> torch.optim.Optimizer:
    """SGD with heavy-ball (or, with ``nesterov``, Nesterov) momentum ``beta1``."""
    return torch.optim.SGD(
        model.parameters(),
        lr=hp.learning_rate,
        momentum=hp.beta1,
        weight_decay=hp.weight_decay,
        nesterov=nesterov,
    )


SUBMISSION = make_submission("momentum", build, defaults=SELF_TUNING, schedule=warmup_linear_decay)
