"""Schedule-Free AdamW (Defazio et al., 2024, "The Road Less Scheduled"), the AlgoPerf v0.5
self-tuning winner.

Library: ``schedulefree.AdamWScheduleFree``. Gradients are taken at ``y = (1 - b1) z + b1 x``; ``z
<- z - lr_t (g / (sqrt(v^) + eps) + wd y)``; ``x <- (1 - c) x + c z`` with ``c = lr_max_t^2 /
sum(lr_max_i^2)``. The optimizer holds y in the parameters while training and x while evaluating:
``switch_modes=True`` calls ``optimizer.train()`` before each update and ``optimizer.eval()`` in
``prepare_for_eval``. Differences from the paper's Algorithm 1: the second moment is bias-corrected
in the denominator (not by a ``sqrt(1 - b2^t)`` factor in lr_t), and the averaging weights use the
running maximum of the warmed-up rate. No LR schedule: the linear warmup (``warmup_factor *
step_hint`` steps) is internal. Caveat: BatchNorm statistics are accumulated at y, not at the
evaluated x; models with BatchNorm should recompute them at x before evaluating (the paper's
advice); the workloads trained here have none. Search space: the authors' advice: learning rate
1-10x that of scheduled AdamW (AlgoPerf's AdamW baseline's 1e-4..1e-2 -> 1e-4..0.1), beta1 0.9 (0.95
or 0.98 on some problems), AdamW's weight-decay range. Self-tuning point: the NadamW point with the
library's default learning rate 2.5e-3 and beta1 0.9.
"""

from typing import Any

import schedulefree
import torch
from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.hyperparameters import adam_arguments
from optbench.algorithms.recipe import make_submission

SELF_TUNING = self_tuning.nadamw(learning_rate=2.5e-3, one_minus_beta1=0.1)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """AdamWScheduleFree with its internal warmup over ``warmup_factor * step_hint`` steps."""
    return schedulefree.AdamWScheduleFree(
        model.parameters(),
        **adam_arguments(hp),
        eps=1e-8,
        warmup_steps=int(hp.warmup_factor * workload.step_hint),
        r=0.0,
        weight_lr_power=2.0,
    )


SUBMISSION = make_submission(
    "schedule_free_adamw", build, defaults=SELF_TUNING, schedule=None, switch_modes=True
)
