"""SAM (Foret et al., 2021, "Sharpness-Aware Minimization") on AdamW, AlgoPerf's SAM baseline.

Library: ``pytorch_optimizer.SAM`` around ``torch.optim.AdamW``: the gradient g at p gives the
perturbation ``e = rho g / (||g|| + 1e-12)`` (global norm over all parameters); the step's closure
re-evaluates loss and gradient at ``p + e``, and AdamW updates p with that gradient. Two forward
and backward passes per step. The global norm is accumulated in float32 whatever the parameters'
dtype. Schedule: linear warmup, cosine decay to 0. Search space: ALGOPERF.md §8 (SAM row).
Self-tuning point: the NadamW point (§8) with rho 0.05, the paper's default.
"""

from typing import Any

import pytorch_optimizer
import torch
from torch import nn

from optbench import spec
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine

SELF_TUNING = {
    "learning_rate": 1.7486387539278373e-3,
    "one_minus_beta1": 0.06733926164,
    "beta2": 0.9955159689799007,
    "weight_decay": 0.08121616522670176,
    "rho": 0.05,
    "warmup_factor": 0.02,
    "dropout_rate": 0.1,
    "label_smoothing": 0.0,
}


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """SAM with radius ``rho`` around AdamW."""
    return pytorch_optimizer.SAM(
        model.parameters(),
        base_optimizer=torch.optim.AdamW,
        rho=hp.rho,
        lr=hp.learning_rate,
        betas=(hp.beta1, hp.beta2),
        eps=1e-8,
        weight_decay=hp.weight_decay,
    )


SUBMISSION = make_submission(
    "sam", build, defaults=SELF_TUNING, schedule=warmup_cosine, closure=True
)
