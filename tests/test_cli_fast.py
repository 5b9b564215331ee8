"""`optbench --version` / `--help` and `import optbench` stay light, and the public API resolves."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import optbench
from optbench.commands import COMMANDS

HEAVY = ("torch", "numpy", "pandas", "scipy", "matplotlib", "optbench.workloads", "optbench.runner")

PROBE = """
import contextlib, io, json, sys
import optbench, optbench.cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    codes = [optbench.cli.main([arg]) for arg in {args!r}]
loaded = sorted({{m.split(".")[0] if not m.startswith("optbench") else m for m in sys.modules}})
print(json.dumps({{"codes": codes, "out": out.getvalue(), "modules": loaded}}))
"""


def _probe(*args: str) -> dict:
    """Run ``optbench.cli.main(arg)`` for each arg in a fresh interpreter; what it loaded."""
    code = PROBE.format(args=list(args))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_import_version_and_help_do_not_import_torch():
    probe = _probe("--version", "--help")
    assert probe["codes"] == [0, 0]
    assert f"optbench {optbench.__version__}" in probe["out"]
    for name, (_, help_text, _) in COMMANDS.items():  # every command listed with its help
        assert name in probe["out"] and help_text.split()[0] in probe["out"]
    heavy = [m for m in probe["modules"] if m in HEAVY]
    assert heavy == [], f"--version/--help imported {heavy}"


def test_a_command_still_parses_in_full(capsys):
    from optbench.cli import main

    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--hparams-index" in out and "--workload" in out


def test_unknown_command_is_a_one_line_error(capsys):
    from optbench.cli import main

    assert main(["rnu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("optbench: error: ") and "invalid choice: 'rnu'" in err
    assert "\n" not in err


def test_public_api_names_resolve_lazily():
    code = (
        "import json, sys, optbench; before = 'torch' in sys.modules; "
        "names = {n: type(getattr(optbench, n)).__name__ for n in optbench.__all__}; "
        "print(json.dumps([before, names]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    torch_before, kinds = json.loads(done.stdout)
    assert torch_before is False  # import optbench alone loads nothing heavy
    assert set(kinds) == set(optbench.__all__)
    assert kinds["run_trial"] == kinds["score_experiment"] == "function"
    assert kinds["WORKLOADS"] == "dict" and kinds["__version__"] == "str"
    assert set(optbench.__all__) <= set(dir(optbench))


def test_public_api_objects_are_the_modules_own():
    from optbench import scoring, submission

    assert optbench.score_experiment is scoring.score_experiment
    assert optbench.load_submission is submission.load_submission
    assert "fmnist_mlp" in optbench.WORKLOADS
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        _ = optbench.not_a_name
