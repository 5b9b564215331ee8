"""Shampoo with Adam grafting (Gupta et al., 2018; Anil et al., 2020), in the form of Distributed
Shampoo (Shi et al., 2023), AlgoPerf's Shampoo baseline and v0.5 external-tuning winner.

Library: none fits (``pytorch_optimizer.Shampoo`` has no grafting; its ``ScalableShampoo`` grafts
to SGD, AdaGrad or RMSProp but not Adam), so :class:`optbench.optim.shampoo.Shampoo`, written here
and tested against the equations in its docstring. It differs from Distributed Shampoo in that 1-D
parameters take the grafted Adam step alone, higher-order tensors are preconditioned as matrices,
and inverse roots come from a float64 eigendecomposition. Before ``start_preconditioning_step`` the
update is AdamW's. Schedule: linear warmup, cosine decay to 0. Search space: that of AlgoPerf's
Shampoo baseline. Self-tuning point: the NadamW point with betas (0.9, 0.999), inverse roots
every 10 steps from step 10.
"""

from typing import Any

from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.hyperparameters import adam_arguments
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine
from optbench.optim.shampoo import Shampoo

SELF_TUNING = self_tuning.nadamw(
    one_minus_beta1=0.1, beta2=0.999, precondition_frequency=10, start_preconditioning_step=10
)


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> Shampoo:
    """Blocked Shampoo (blocks of at most 1024) grafted to Adam, decoupled weight decay."""
    return Shampoo(
        model.parameters(),
        **adam_arguments(hp),
        eps=1e-8,
        matrix_eps=1e-12,
        precondition_frequency=int(hp.precondition_frequency),
        start_preconditioning_step=int(hp.start_preconditioning_step),
        max_preconditioner_dim=1024,
    )


SUBMISSION = make_submission("shampoo", build, defaults=SELF_TUNING, schedule=warmup_cosine)
