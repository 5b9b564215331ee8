"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms").

Library: ``pytorch_optimizer.Lion``, which is the paper's update exactly:
``c = b1 m + (1 - b1) g``, ``p <- p (1 - lr wd) - lr sign(c)``, ``m <- b2 m + (1 - b2) g``.
Schedule: linear warmup, cosine decay to 0. Search space: the
paper's advice relative to AdamW, applied to the ranges of AlgoPerf's AdamW baseline: a learning
rate 3-10x below (1e-4..1e-2 -> 1e-5..3.3e-3) and weight decay 3-10x above (5e-3..1 ->
1.5e-2..10), the paper's betas (0.9, 0.99). Self-tuning point: the NadamW point with lr / 5
and weight decay x 5 (rounded) and the paper's betas.
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

SELF_TUNING = self_tuning.nadamw(
    learning_rate=3.5e-4, one_minus_beta1=0.1, beta2=0.99, weight_decay=0.4
)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """Lion with decoupled weight decay."""
    return pytorch_optimizer.Lion(model.parameters(), **adam_arguments(hp), weight_decouple=True)


SUBMISSION = make_submission("lion", build, defaults=SELF_TUNING, schedule=warmup_cosine)
