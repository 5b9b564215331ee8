"""Nesterov momentum (Nesterov, 1983; in the form of Sutskever et al., 2013), AlgoPerf's baseline.

Library: ``torch.optim.SGD(momentum=beta1, nesterov=True)``: ``b <- beta1 b + (g + wd p)``,
``p <- p - lr (g + wd p + beta1 b)``, the look-ahead step of Sutskever et al. rewritten at the
current iterate; weight decay is the coupled L2 penalty, as in AlgoPerf. Schedule: linear warmup,
then linear decay to ``end_factor`` at ``step_hint`` (AlgoPerf's decay spans 0.9 of the steps and
then holds). Search space: that of AlgoPerf's Nesterov baseline (heavy ball's). Self-tuning
point: heavy ball's.
"""

from functools import partial

from optbench.algorithms import momentum
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_linear_decay

SELF_TUNING = dict(momentum.SELF_TUNING)

build = partial(momentum.build, nesterov=True)

SUBMISSION = make_submission("nesterov", build, defaults=SELF_TUNING, schedule=warmup_linear_decay)
