"""Which modules of a package are baselines: all but the library they share.

A baseline is one module defining ``SUBMISSION`` (and its search space in ``search_spaces/``);
finding them by name, without importing them, keeps a new baseline a drop-in: no list to edit.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable

# The modules of ``optbench.algorithms`` that the baselines share and that define no submission.
LIBRARY = frozenset(
    {"batch_sizes", "discovery", "hyperparameters", "recipe", "schedules", "self_tuning"}
)


def baseline_names(search_path: Iterable[str]) -> tuple[str, ...]:
    """Names of the baseline modules on ``search_path`` (a package's ``__path__``), alphabetical.

    Sub-packages, private modules (``_name``) and :data:`LIBRARY` are not baselines.
    """
    names = {
        module.name
        for module in pkgutil.iter_modules(list(search_path))
        if not module.ispkg and not module.name.startswith("_") and module.name not in LIBRARY
    }
    return tuple(sorted(names))
