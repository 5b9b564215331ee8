"""Baselines are found, not listed: a module of ``optbench.algorithms`` defining ``SUBMISSION`` is
a baseline by its name, and the shared library is not."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import optbench.algorithms as algorithms
from optbench.algorithms.discovery import LIBRARY, baseline_names
from optbench.submission import load_submission, worker_source
from optbench.submission_api import Submission

EXTRA = '''"""A baseline dropped into the package's path."""

import torch

from optbench.algorithms.recipe import make_submission

SELF_TUNING = {"learning_rate": 0.1}

SUBMISSION = make_submission(
    "extra_sgd",
    lambda model, hp, workload: torch.optim.SGD(model.parameters(), lr=hp.learning_rate),
    defaults=SELF_TUNING,
)
'''


def test_baseline_names_skip_the_library_private_modules_and_packages(tmp_path):
    for name in ("zeta.py", "alpha.py", "recipe.py", "schedules.py", "_helper.py", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "__init__.py").write_text("")
    assert baseline_names([str(tmp_path)]) == ("alpha", "zeta")


def test_a_module_added_to_the_package_is_a_baseline_by_name(tmp_path, monkeypatch):
    (tmp_path / "extra_sgd.py").write_text(EXTRA)
    monkeypatch.setattr(algorithms, "__path__", [*algorithms.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "optbench.algorithms.extra_sgd", raising=False)
    try:
        assert "extra_sgd" in algorithms.baselines()
        submission = load_submission("extra_sgd")
        assert submission.name == "extra_sgd"
        assert submission.extras["defaults"] == {"learning_rate": 0.1}
        assert submission.digest  # identified by its source, as the shipped baselines are
        assert worker_source("extra_sgd") == "extra_sgd"  # loaded by name, not as a path
    finally:
        sys.modules.pop("optbench.algorithms.extra_sgd", None)
    assert "extra_sgd" not in algorithms.BASELINES  # the import-time tuple is unchanged


def test_the_shipped_baselines_are_exactly_the_modules_defining_a_submission():
    modules = {m.name for m in pkgutil.iter_modules(algorithms.__path__)}
    assert modules >= LIBRARY, "a library module was renamed: update LIBRARY"
    defining = set()
    for name in modules:
        built = getattr(importlib.import_module(f"optbench.algorithms.{name}"), "SUBMISSION", None)
        if built is not None:
            assert isinstance(built, Submission) and built.name == name
            defining.add(name)
    assert defining == set(algorithms.BASELINES) == set(algorithms.baselines())
    assert list(algorithms.BASELINES) == sorted(algorithms.BASELINES)
