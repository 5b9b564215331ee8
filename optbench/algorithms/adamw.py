"""AdamW (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization"), AlgoPerf's baseline.

Library: ``torch.optim.AdamW``. Its weight decay is scaled by the learning rate
(``p <- p (1 - lr wd)``), as in AlgoPerf, whereas the paper decays by ``eta_t * lambda`` with the
schedule multiplier ``eta_t`` alone (independent of the base rate alpha). Schedule: linear warmup,
cosine decay to 0 at ``step_hint`` (AlgoPerf's). Search space: that of AlgoPerf's AdamW baseline.
Self-tuning point: AlgoPerf's NadamW self-tuning point; AdamW differs from NadamW only by the
Nesterov look-ahead of the first moment.
"""

from typing import Any

import torch
from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.hyperparameters import adam_arguments
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine

SELF_TUNING = self_tuning.nadamw()


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """AdamW with the trial's hyperparameters."""
    return torch.optim.AdamW(model.parameters(), **adam_arguments(hp), eps=1e-8)


SUBMISSION = make_submission("adamw", build, defaults=SELF_TUNING, schedule=warmup_cosine)
