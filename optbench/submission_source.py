"""A submission known by where its source lives, imported only where it runs.

The runner (the supervisor of a trial) never imports a submission's code: code that runs at
import could patch the clock, the metrics or the targets of the process that records them. It
holds a :class:`SubmissionSource` instead (name, digest, source, search space: all read from files),
and the trial's worker process calls it to import the submission there. The name and digest are
what optbench loaded, never what the submission declares about itself.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from optbench import search_space, sources
from optbench.errors import UserError


@dataclass(frozen=True)
class SubmissionSource:
    """Where a submission lives and who it is; calling it imports it (in the worker)."""

    spec: str  # what :func:`optbench.submission.load_submission` takes
    import_root: str | None
    name: str
    digest: str
    source: str
    search_space_path: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # a baseline's (its self-tuning point)

    def __call__(self) -> Any:
        """The loaded :class:`~optbench.submission.Submission`, under this name and digest."""
        from optbench.submission import load_submission

        loaded = load_submission(self.spec, self.import_root)
        return replace(loaded, name=self.name, digest=self.digest, source=self.source)

    def search_space(self) -> search_space.SearchSpace | None:
        """The search space the submission ships, if any."""
        return search_space.load(self.search_space_path) if self.search_space_path else None


def describe(name_or_path: str, import_root: str | Path | None = None) -> SubmissionSource:
    """The :class:`SubmissionSource` of a baseline name, a file, a folder or a dotted module
    (what ``load_submission`` accepts), read from files without running the submission's code.

    A dotted module is found with ``importlib.util.find_spec``, which imports its parent
    packages (their ``__init__``), as Python's import system must to locate it.
    """
    from optbench.algorithms import BASELINES
    from optbench.submission import _dotted, _submission_file, worker_source

    root = str(Path(import_root).resolve()) if import_root is not None else None
    if root is not None and not Path(root).is_dir():
        raise UserError(f"--import-root {import_root} is not a folder")
    if name_or_path in BASELINES:
        module = importlib.import_module(f"optbench.algorithms.{name_or_path}")
        file = Path(module.__file__)
        built = getattr(module, "SUBMISSION", None)
        return SubmissionSource(
            name_or_path,
            root,
            name_or_path,
            sources.digest(file),
            name_or_path,
            getattr(built, "search_space_path", None),
            dict(getattr(built, "extras", {})),
        )
    path = Path(name_or_path)
    if path.exists():
        file = _submission_file(path)
        name = sources.submission_name(file, folder_given=path.is_dir())
    elif _dotted(name_or_path) and path.suffix != ".py":
        file = _find_module_file(name_or_path, root)
        name = sources.submission_name(file)
    else:
        from optbench.submission import load_submission

        load_submission(name_or_path, import_root)  # raises the one-line error that fits
        raise AssertionError("unreachable")
    beside = file.resolve().parent / "tuning_search_space.json"
    return SubmissionSource(
        worker_source(name_or_path),
        root,
        name,
        sources.digest(file),
        str(file.resolve()),
        beside if beside.exists() else None,
    )


def _find_module_file(dotted: str, root: str | None) -> Path:
    import sys

    for path in (root, str(Path.cwd())):
        if path is not None and path not in sys.path:
            sys.path.insert(0, path)
    try:
        spec = importlib.util.find_spec(dotted)
    except (ImportError, ValueError) as exc:
        raise UserError(f"submission {dotted}: {exc}") from None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        raise UserError(f"submission module {dotted!r} not found (is its folder on the path?)")
    return Path(spec.origin)
