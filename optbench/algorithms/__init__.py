"""Baseline training algorithms, each a short recipe built with :func:`make_submission`.

Every module of this package is a baseline, named ``--submission MODULE``, except the library
the baselines share (:data:`optbench.algorithms.discovery.LIBRARY`).
"""

from optbench.algorithms.discovery import baseline_names
from optbench.algorithms.hyperparameters import resolve_hyperparameters
from optbench.algorithms.recipe import make_submission


def baselines() -> tuple[str, ...]:
    """The baselines' names, alphabetical, found afresh on this package's path."""
    return baseline_names(__path__)


# The baselines found at import, alphabetical.
BASELINES: tuple[str, ...] = baselines()

__all__ = ["BASELINES", "baselines", "make_submission", "resolve_hyperparameters"]
