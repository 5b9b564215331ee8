"""Shampoo with Adam grafting (Gupta et al., 2018; Anil et al., 2020), in the form of Distributed
Shampoo (Shi et al., 2023), AlgoPerf's Shampoo baseline and v0.5 external-tuning winner.

Library: none fits (``pytorch_optimizer.Shampoo`` has no grafting; its ``ScalableShampoo`` grafts
to SGD, AdaGrad or RMSProp but not Adam), so :class:`optbench.optim.shampoo.Shampoo`, written here
and tested against the equations in its docstring. It differs from Distributed Shampoo in that 1-D
parameters take the grafted Adam step alone, higher-order tensors are preconditioned as matrices,
and inverse roots come from a float64 eigendecomposition. Before ``start_preconditioning_step`` the
update is AdamW's. Schedule: linear warmup, cosine decay to 0. Search space: ALGOPERF.md §8
(Shampoo row). Self-tuning point: the NadamW point's learning rate, weight decay and warmup,
betas (0.9, 0.999), inverse roots every 10 steps from step 10.
"""

from typing import Any

from torch import nn

from optbench import spec
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine
from optbench.optim.shampoo import Shampoo

SELF_TUNING = {
    "learning_rate": 1.7486387539278373e-3,
    "one_minus_beta1": 0.1,
    "beta2": 0.999,
    "weight_decay": 0.08121616522670176,
    "precondition_frequency": 10,
    "start_preconditioning_step": 10,
    "warmup_factor": 0.02,
    "dropout_rate": 0.1,
    "label_smoothing": 0.0,
}


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> Shampoo:
    """Blocked Shampoo (blocks of at most 1024) grafted to Adam, decoupled weight decay."""
    return Shampoo(
        model.parameters(),
        lr=hp.learning_rate,
        betas=(hp.beta1, hp.beta2),
        eps=1e-8,
        weight_decay=hp.weight_decay,
        matrix_eps=1e-12,
        precondition_frequency=int(hp.precondition_frequency),
        start_preconditioning_step=int(hp.start_preconditioning_step),
        max_preconditioner_dim=1024,
    )


SUBMISSION = make_submission("shampoo", build, defaults=SELF_TUNING, schedule=warmup_cosine)
