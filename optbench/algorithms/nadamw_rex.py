"""NadamW with the REX schedule (Chen et al., 2022, "REX: Revisiting Budgeted Training with an
Improved Schedule"): AlgoPerf's NadamW baseline, its linear warmup then the multiplier
``(1 - z) / (1/2 + (1 - z) / 2)`` instead of the cosine, ``z`` the fraction of the steps after
warmup done, 0 at ``step_hint``. REX holds the rate higher than the cosine late in training, and
the paper finds it as good or better across budgets. Search space and self-tuning point:
NadamW's, so the two differ only by the schedule.
"""

from optbench.algorithms import nadamw
from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import rex

SELF_TUNING = dict(nadamw.SELF_TUNING)

SUBMISSION = make_submission("nadamw_rex", nadamw.build, defaults=SELF_TUNING, schedule=rex)
