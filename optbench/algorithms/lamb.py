"""LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning"), AlgoPerf's baseline.

Library: ``pytorch_optimizer.Lamb`` with weight decay inside the trust ratio
(``weight_decouple=False``, as in the paper) and step size ``lr`` (``adam_debias=True``), so
``p <- p - lr * phi(||p||) * u / (||u|| + eps)`` with ``u = m / (sqrt(v) + eps) + wd p``.
Where the library differs from the paper (and from AlgoPerf's LAMB): ``m`` and ``v`` are not
bias-corrected inside ``u`` (this changes only the balance of ``u``'s two terms and ``eps``, the
trust ratio fixes the step's length), and ``phi`` clips the weight norm at 10. Schedule: linear
warmup, cosine decay to 0 at ``step_hint``. Search space: that of AlgoPerf's LAMB baseline.
Self-tuning point: the NadamW point with weight decay 0.01 (the paper's BERT setting), betas
(0.9, 0.999) and a rate of 5e-3, from the upper half of the search space's 1e-4..1e-2, since
LAMB's steps are relative (lr ||p|| per layer).
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
    learning_rate=5e-3, one_minus_beta1=0.1, beta2=0.999, weight_decay=0.01
)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> torch.optim.Optimizer:
    """LAMB with the paper's trust ratio (weight decay inside it, step length lr * ||p||)."""
    return pytorch_optimizer.Lamb(
        model.parameters(),
        **adam_arguments(hp),
        weight_decouple=False,
        adam_debias=True,
        eps=1e-8,
    )


SUBMISSION = make_submission("lamb", build, defaults=SELF_TUNING, schedule=warmup_cosine)
