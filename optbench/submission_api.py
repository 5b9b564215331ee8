"""``Submission``: the functions of one training algorithm, as AlgoPerf's API defines them.

The type alone, apart from :mod:`optbench.submission` (which finds and loads submissions, the
baselines among them), so the baselines can build Submissions without importing their loader.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optbench import search_space

REQUIRED = ("get_batch_size", "init_optimizer_state", "update_params", "data_selection")


@dataclass
class Submission:
    """The functions of one training algorithm, as AlgoPerf's API defines them."""

    name: str
    get_batch_size: Callable[[str], int]
    init_optimizer_state: Callable[..., Any]
    update_params: Callable[..., Any]
    data_selection: Callable[..., Any]
    prepare_for_eval: Callable[..., Any] | None = None
    search_space_path: Path | None = None
    source: str = ""
    digest: str = ""  # of the source tree; results of another digest are never reused
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, functions: Any, name: str, **fields: Any) -> Submission:
        """A Submission of the functions ``functions`` holds as attributes (a module or any
        object; ``prepare_for_eval`` is optional), with ``fields`` set or overridden."""
        found = {f: getattr(functions, f) for f in REQUIRED}
        found["prepare_for_eval"] = getattr(functions, "prepare_for_eval", None)
        return cls(name=name, **{**found, **fields})

    @property
    def update_params_takes_train_state(self) -> bool:
        """Whether ``update_params`` declares ``train_state`` (only then is it passed)."""
        try:
            return "train_state" in inspect.signature(self.update_params).parameters
        except (TypeError, ValueError):
            return False

    def search_space(self) -> search_space.SearchSpace | None:
        """The search space the submission ships, if any."""
        return search_space.load(self.search_space_path) if self.search_space_path else None
