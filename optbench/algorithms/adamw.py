"""AdamW (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization"), AlgoPerf's baseline.

Library: ``torch.optim.AdamW``. Its weight decay is scaled by the learning rate
(``p <- p (1 - lr wd)``), as in AlgoPerf, whereas the paper decays by ``eta_t * lambda`` with the
schedule multiplier ``eta_t`` alone (independent of the base rate alpha). Schedule: linear warmup,
cosine decay to 0 at ``step_hint`` (AlgoPerf's). Search space: ALGOPERF.md §8 (AdamW row).
Self-tuning point: AlgoPerf's NadamW self-tuning point (§8); AdamW differs from NadamW only by the
Nesterov look-ahead of the first moment.
"""

from typing import Any

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
    "warmup_factor": 0.02,
    "dropout_rate": 0.1,
    "label_smoothing": 0.0,
}


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """AdamW with the trial's hyperparameters."""
    return torch.optim.AdamW(
        model.parameters(),
        lr=hp.learning_rate,
        betas=(hp.beta1, hp.beta2),
        eps=1e-8,
        weight_decay=hp.weight_decay,
    )


SUBMISSION = make_submission("adamw", build, defaults=SELF_TUNING, schedule=warmup_cosine)
