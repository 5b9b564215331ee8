"""A submission: the five AlgoPerf functions, loaded from a baseline name or a Python file."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optbench import search_space
from optbench.compat import shim_path
from optbench.errors import UserError

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
    extras: dict[str, Any] = field(default_factory=dict)

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


def from_module(module: Any, name: str, search_space_path: Path | None = None) -> Submission:
    """A Submission from a module object (``SUBMISSION`` attribute, or the five functions)."""
    built = getattr(module, "SUBMISSION", None)
    if isinstance(built, Submission):
        return built
    missing = [f for f in REQUIRED if not callable(getattr(module, f, None))]
    if missing:
        raise UserError(f"submission {name!r} lacks required function(s): {', '.join(missing)}")
    return Submission(
        name=name,
        get_batch_size=module.get_batch_size,
        init_optimizer_state=module.init_optimizer_state,
        update_params=module.update_params,
        data_selection=module.data_selection,
        prepare_for_eval=getattr(module, "prepare_for_eval", None),
        search_space_path=search_space_path,
        source=getattr(module, "__file__", "") or name,
    )


def _import_file(path: Path) -> Any:
    module_name = f"optbench_submission_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    added = []
    for extra in (str(path.resolve().parent),):
        if extra not in sys.path:
            sys.path.insert(0, extra)
            added.append(extra)
    if shim_path() not in sys.path:
        sys.path.append(shim_path())  # after site-packages: a real AlgoPerf install wins
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise UserError(
            f"submission {path} failed to import: {type(exc).__name__}: {exc} "
            f"({Path(where.filename).name}:{where.lineno})"
        ) from None
    finally:
        for extra in added:
            sys.path.remove(extra)
    return module


def load_submission(name_or_path: str) -> Submission:
    """A baseline by name (see ``optbench list``) or a submission file (``.py``)."""
    from optbench.algorithms import BASELINES

    if name_or_path in BASELINES:
        module = importlib.import_module(f"optbench.algorithms.{name_or_path}")
        return from_module(module, name_or_path)
    path = Path(name_or_path)
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise UserError(f"submission file not found: {path}")
        beside = path.resolve().parent / "tuning_search_space.json"
        return from_module(_import_file(path), path.stem, beside if beside.exists() else None)
    close = difflib.get_close_matches(name_or_path, BASELINES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown submission {name_or_path!r}{hint} (a baseline name or a .py file)")
