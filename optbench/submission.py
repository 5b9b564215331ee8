"""A submission: the five AlgoPerf functions, loaded from a baseline name or a Python file."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from optbench import algorithms, sources
from optbench.compat import shim_path
from optbench.errors import UserError
from optbench.submission_api import REQUIRED, Submission

__all__ = ["Submission", "from_module", "load_submission", "worker_source"]


def from_module(module: Any, name: str, search_space_path: Path | None = None) -> Submission:
    """A Submission from a module object (``SUBMISSION`` attribute, or the five functions)."""
    built = getattr(module, "SUBMISSION", None)
    if isinstance(built, Submission):
        return built
    missing = [f for f in REQUIRED if not callable(getattr(module, f, None))]
    if missing:
        raise UserError(f"submission {name!r} lacks required function(s): {', '.join(missing)}")
    source = getattr(module, "__file__", "") or name
    return Submission.of(module, name, search_space_path=search_space_path, source=source)


# Modules that AlgoPerf's environment provides and optbench's does not by default.
_EXTRAS = {
    "optax": "algoperf",
    "jax": "algoperf",
    "jaxlib": "algoperf",
    "flax": "algoperf",
    "absl": "algoperf",
    "ray": "ray",
}


def _import_failure(where: str, exc: BaseException) -> UserError:
    """A one-line error for a submission that failed to import, with the fix where one is known."""
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    root = (missing or "").split(".")[0]
    if root in _EXTRAS:
        return UserError(
            f"submission {where} imports {root!r}, which AlgoPerf's environment has and this "
            f"one lacks: pip install 'optbench[{_EXTRAS[root]}]'"
        )
    if root in ("submissions", "algorithms", "reference_algorithms"):
        return UserError(
            f"submission {where} imports {missing!r} by an AlgoPerf checkout path: pass "
            "--import-root DIR, the folder that holds that path's first package"
        )
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return UserError(f"submission {where} failed to import: {type(exc).__name__}: {exc}{at}")


def _add_import_paths(*paths: str | Path) -> None:
    # Kept for the process's life: a submission may import lazily, inside its functions.
    for path in paths:
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    if shim_path() not in sys.path:
        sys.path.append(shim_path())  # after site-packages: a real AlgoPerf install wins


def _exec(module_name: str, where: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except SystemExit as exc:
        raise UserError(f"submission {where} called sys.exit({exc.code}) while importing") from None
    except Exception as exc:
        for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
            sys.modules.pop(name, None)
        raise _import_failure(where, exc) from None


def _import_file(path: Path) -> Any:
    """Import ``path`` as a module of a package rooted at its folder, as AlgoPerf's dotted import
    would, so ``from .helpers import x`` works whether or not the folder has ``__init__.py``."""
    folder = path.resolve().parent
    package = f"optbench_submission_{sources.digest_of_text(str(folder))[:12]}"
    if package not in sys.modules:
        spec = importlib.util.spec_from_loader(package, loader=None, is_package=True)
        assert spec is not None
        spec.submodule_search_locations = [str(folder)]
        sys.modules[package] = importlib.util.module_from_spec(spec)
    _add_import_paths(folder)
    return _exec(f"{package}.{path.stem}", str(path))


def _submission_file(path: Path) -> Path:
    """The module of a submission given as a file or a folder (``submission.py``, or the folder's
    only top-level ``.py`` file besides ``__init__.py``)."""
    if path.is_file():
        if path.suffix != ".py":
            raise UserError(f"submission {path} is not a Python (.py) file")
        return path
    if (path / "submission.py").is_file():
        return path / "submission.py"
    modules = [p for p in sorted(path.glob("*.py")) if p.name != "__init__.py"]
    if len(modules) == 1:
        return modules[0]
    raise UserError(
        f"submission folder {path} holds no submission.py"
        + (f" and {len(modules)} other modules; name the file" if modules else "")
    )


def _dotted(name: str) -> bool:
    return "." in name and all(part.isidentifier() for part in name.split("."))


def load_submission(name_or_path: str, import_root: str | Path | None = None) -> Submission:
    """A baseline by name (see ``optbench list``), a submission file, a folder holding one, or a
    dotted module path (AlgoPerf's way: ``importlib.import_module``).

    ``import_root`` is put first on the import path, for submissions that import themselves by an
    AlgoPerf checkout path (``submissions.submissions_algorithms_v0_5...``). The submission's name
    is its folder's (for ``submission.py`` or a folder) or its file's stem; its ``digest`` hashes
    its source tree (:mod:`optbench.sources`), so two sources never share results.
    """
    baselines = algorithms.baselines()
    if import_root is not None:
        root = Path(import_root)
        if not root.is_dir():
            raise UserError(f"--import-root {root} is not a folder")
        _add_import_paths(root.resolve())
    if name_or_path in baselines:
        module = importlib.import_module(f"optbench.algorithms.{name_or_path}")
        built = from_module(module, name_or_path)
        return replace(built, digest=sources.digest(Path(module.__file__)))
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".py" or not _dotted(name_or_path):
        if not path.exists() and (path.suffix == ".py" or len(path.parts) > 1):
            raise UserError(f"submission file or folder not found: {path}")
        if not path.exists():
            close = difflib.get_close_matches(name_or_path, baselines, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(
                f"unknown submission {name_or_path!r}{hint} (a baseline name, a .py file, a "
                "folder holding submission.py, or a dotted module path)"
            )
        file = _submission_file(path)
        module = _import_file(file)
        name = sources.submission_name(file, folder_given=path.is_dir())
    else:
        _add_import_paths(Path.cwd())
        module = _exec(name_or_path, name_or_path)
        if not getattr(module, "__file__", None):
            raise UserError(f"submission {name_or_path} is a package without a module file")
        file = Path(module.__file__)
        name = sources.submission_name(file)
    beside = file.resolve().parent / "tuning_search_space.json"
    loaded = from_module(module, name, beside if beside.exists() else None)
    # The name is where optbench found the submission, never what it declares about itself.
    return replace(loaded, name=name, source=str(file.resolve()), digest=sources.digest(file))


def worker_source(name_or_path: str) -> str:
    """What a worker process (possibly on another machine) loads: a baseline name or a dotted
    module as given, a file or folder as an absolute path."""
    path = Path(name_or_path)
    baseline = name_or_path in algorithms.baselines()
    return str(path.resolve()) if not baseline and path.exists() else name_or_path
