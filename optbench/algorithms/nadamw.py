"""NadamW, AlgoPerf's reference baseline: NAdam with decoupled weight decay, linear warmup and
cosine decay to 0 at ``step_hint``. Search space and self-tuning point: ALGOPERF.md §8
(AlgoPerf's NadamW baseline and its self-tuning submission)."""

from optbench.algorithms.recipe import make_submission
from optbench.algorithms.schedules import warmup_cosine
from optbench.optim import NAdamW

SELF_TUNING = {
    "learning_rate": 1.7486387539278373e-3,
    "one_minus_beta1": 0.06733926164,
    "beta2": 0.9955159689799007,
    "weight_decay": 0.08121616522670176,
    "warmup_factor": 0.02,
    "dropout_rate": 0.1,
    "label_smoothing": 0.0,
}

SUBMISSION = make_submission(
    "nadamw",
    lambda model, hp, workload: NAdamW(
        model.parameters(),
        lr=hp.learning_rate,
        betas=(hp.beta1, hp.beta2),
        eps=1e-8,
        weight_decay=hp.weight_decay,
    ),
    defaults=SELF_TUNING,
    schedule=warmup_cosine,
)
