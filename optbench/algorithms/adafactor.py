"""Adafactor (Shazeer & Stern, 2018) with momentum, AlgoPerf's Adafactor baseline.

Library: ``pytorch_optimizer.AdaFactor`` with an explicit learning rate (``relative_step=False``,
``scale_parameter=False``): factored second moments for matrices (row and column means of
``g^2 + 1e-30``), update clipping at RMS 1, momentum ``beta1`` on the clipped, lr-scaled update,
decoupled weight decay ``p <- p (1 - lr wd)``. (``torch.optim.Adafactor`` has no momentum, which
AlgoPerf tunes.) Differences: the second-moment decay is the paper's ``1 - t^-0.8``, capped at
``beta2`` = 0.99, where AlgoPerf uses a bias-corrected EMA with decay 0.99; momentum is kept in the
parameters' dtype (the library defaults to bfloat16). Schedule: linear warmup, cosine decay to 0.
Search space: that of AlgoPerf's Adafactor baseline. Self-tuning point: the NadamW point with
beta1 0.9 and the second-moment cap beta2 0.99.
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

SELF_TUNING = self_tuning.nadamw(one_minus_beta1=0.1, beta2=0.99)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """Adafactor with momentum, explicit learning rate and update clipping at 1."""
    return pytorch_optimizer.AdaFactor(
        model.parameters(),
        **adam_arguments(hp),
        decay_rate=-0.8,
        weight_decouple=True,
        clip_threshold=1.0,
        scale_parameter=False,
        relative_step=False,
        eps1=1e-30,
        momentum_dtype=next(model.parameters()).dtype,
    )


SUBMISSION = make_submission("adafactor", build, defaults=SELF_TUNING, schedule=warmup_cosine)
