"""NadamW, AlgoPerf's reference baseline: NAdam with decoupled weight decay, linear warmup and
cosine decay to 0 at ``step_hint``. Search space: that of AlgoPerf's NadamW baseline. Self-tuning
point: that of AlgoPerf's self-tuning NadamW submission."""

from typing import Any

from torch import nn

from optbench import spec
from optbench.algorithms import self_tuning
from optbench.algorithms.hyperparameters import adam_arguments
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine
from optbench.optim import NAdamW

SELF_TUNING = self_tuning.nadamw()


def build(model: nn.Module, hp: Any, workload: spec.Workload) -> NAdamW:
    """NAdamW (AlgoPerf's form of NAdam) with the trial's hyperparameters."""
    return NAdamW(model.parameters(), **adam_arguments(hp), eps=1e-8)


SUBMISSION = make_submission("nadamw", build, defaults=SELF_TUNING, schedule=warmup_cosine)
