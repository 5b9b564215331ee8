"""SAM (Foret et al., 2021, "Sharpness-Aware Minimization") on AdamW, AlgoPerf's SAM baseline.

Library: ``pytorch_optimizer.SAM`` around ``torch.optim.AdamW``: the gradient g at p gives the
perturbation ``e = rho g / (||g|| + 1e-12)`` (global norm over all parameters); the step's closure
re-evaluates loss and gradient at ``p + e``, and AdamW updates p with that gradient. Two forward
and backward passes per step. The global norm is accumulated in float32 whatever the parameters'
dtype. Schedule: linear warmup, cosine decay to 0. Search space: that of AlgoPerf's SAM baseline.
Self-tuning point: the NadamW point with rho 0.05, the paper's default.
"""

from typing import Any

import pytorch_optimizer
import torch
from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.hyperparameters import adam_arguments
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine

SELF_TUNING = self_tuning.nadamw(rho=0.05)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """SAM with radius ``rho`` around AdamW."""
    return pytorch_optimizer.SAM(
        model.parameters(),
        base_optimizer=torch.optim.AdamW,
        rho=hp.rho,
        **adam_arguments(hp),
        eps=1e-8,
    )


SUBMISSION = make_submission(
    "sam", build, defaults=SELF_TUNING, schedule=warmup_cosine, closure=True
)
