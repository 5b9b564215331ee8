"""Baseline training algorithms, each a short recipe built with :func:`make_submission`."""

from optbench.algorithms.recipe import make_submission, resolve_hyperparameters

# Names usable as ``--submission NAME``; each is a module of this package.
BASELINES: tuple[str, ...] = (
    "nadamw",
    "adamw",
    "momentum",
    "nesterov",
    "lamb",
    "adafactor",
    "sam",
    "shampoo",
    "lion",
    "adan",
    "sophia",
    "schedule_free_adamw",
    "muon",
)

__all__ = ["BASELINES", "make_submission", "resolve_hyperparameters"]
