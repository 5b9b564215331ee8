"""Exit status of run/tune/validate (0 done, 3 a trial failed, 2 bad input, 1 crash, 130 Ctrl-C),
and an interrupted trial is never recorded as a result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from optbench import results, tuning
from optbench.cli import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, EXIT_TRIAL_FAILED, main

SMOKE = ["--size", "smoke", "--no-progress"]
ROOT = Path(__file__).resolve().parents[1]

SUBMISSION = """
import pathlib, time
from optbench.algorithms import nadamw

_base = nadamw.SUBMISSION
get_batch_size = _base.get_batch_size
init_optimizer_state = _base.init_optimizer_state
data_selection = _base.data_selection
STARTED = pathlib.Path(__file__).with_name("started")


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng):
    if global_step == 3:
        {body}
    return _base.update_params(workload, current_param_container, current_params_types,
                               model_state, hyperparameters, batch, loss_type,
                               optimizer_state, eval_results, global_step, rng)
"""


def _submission(folder: Path, name: str, body: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(SUBMISSION.format(body=body))
    return str(path)


def _results(exp: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(exp.rglob("result.json"))]


def test_every_exit_code_is_documented():
    readme = (ROOT / "README.md").read_text()
    errors = (ROOT / "docs" / "ERRORS.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme and f"| {code} |" in errors, code


def test_run_exits_3_when_its_trial_failed_and_records_it(tmp_path, capsys):
    sub = _submission(tmp_path / "subs", "raiser", "raise RuntimeError('on purpose')")
    exp = tmp_path / "exp"
    code = main(["run", "--submission", sub, "--workload", "fmnist_mlp", *SMOKE,
                 "--experiment-dir", str(exp), "--max-steps", "6", "--no-report"])  # fmt: skip
    assert code == EXIT_TRIAL_FAILED, capsys.readouterr()
    [result] = _results(exp)
    assert result["status"] == "failed" and "on purpose" in result["failure"]


def test_tune_exits_3_when_every_trial_failed_and_0_when_all_ran(tmp_path, capsys):
    base = ["tune", "--ruleset", "self", "--studies", "2", "--workloads", "fmnist_mlp", *SMOKE,
            "--executor", "inline", "--max-steps", "4"]  # fmt: skip
    sub = _submission(tmp_path / "subs", "raiser", "raise RuntimeError('on purpose')")
    bad = tmp_path / "bad"
    assert main([*base, "--submission", sub, "--experiment-dir", str(bad)]) == EXIT_TRIAL_FAILED
    assert [r["status"] for r in _results(bad)] == ["failed", "failed"]
    good = tmp_path / "good"
    assert main([*base, "--submission", "nadamw", "--experiment-dir", str(good)]) == EXIT_OK
    assert [r["status"] for r in _results(good)] == ["completed", "completed"]
    assert "2 of 2 trial(s) failed" in capsys.readouterr().out


def test_an_internal_error_exits_1_with_a_traceback(tmp_path):
    code = textwrap.dedent("""
        import sys
        from optbench import cli
        from optbench.commands import list_cmd
        def broken(args):
            raise RuntimeError("a bug")
        list_cmd._main = broken
        sys.exit(cli.main(["list"]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: a bug" in done.stderr


class _Interrupting:
    """An executor whose trial is interrupted: the worker records the KeyboardInterrupt as a
    crash (as a worker catching BaseException does) and this process is interrupted too."""

    def __init__(self, raise_here: bool) -> None:
        self.raise_here = raise_here

    def run(self, spec):
        from optbench.executors import record_failure

        summary = record_failure(spec, "crashed: KeyboardInterrupt: ")
        if self.raise_here:
            raise KeyboardInterrupt
        return summary


@pytest.mark.parametrize("raise_here", [True, False], ids=["both-interrupted", "worker-only"])
def test_run_plan_never_records_an_interrupted_trial(tmp_path, raise_here):
    specs = tuning.plan(
        submission="nadamw",
        submission_name="nadamw",
        workloads=["fmnist_mlp"],
        size="smoke",
        rules=tuning.ruleset("self", studies=2),
        space=None,
        experiment_dir=tmp_path,
    )
    with pytest.raises(KeyboardInterrupt):
        tuning.run_plan(specs, _Interrupting(raise_here))
    first = Path(specs[0].trial_dir)
    assert not (first / "result.json").exists() and not (first / "error.txt").exists()
    assert not any(tmp_path.rglob("*.lock"))  # the locks are released on the way out
    assert not tuning.is_finished(specs[0])  # so resuming runs it again


def test_ctrl_c_to_tune_exits_130_and_resume_finishes_the_trial(tmp_path):
    """A real Ctrl-C (SIGINT to the whole process group) during a trial in a worker process."""
    body = "if not STARTED.exists(): STARTED.touch(); time.sleep(15)"  # once: not on resuming
    sub = _submission(tmp_path / "subs", "slow", body)
    exp = tmp_path / "exp"
    argv = [sys.executable, "-m", "optbench", "tune", "--submission", sub, "--ruleset", "self",
            "--studies", "1", "--workloads", "fmnist_mlp", *SMOKE, "--experiment-dir", str(exp),
            "--max-steps", "5"]  # fmt: skip
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(
            argv,
            start_new_session=True,
            stderr=err,
            # as from a terminal: a job started in the background by a shell ignores SIGINT
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 120
        while not (tmp_path / "subs" / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "optbench: interrupted" in err
    trial = results.trial_dir(exp, "slow", 1, "fmnist_mlp", 1)
    assert not (trial / "result.json").exists()
    assert not any(exp.rglob("*.lock"))
    done = subprocess.run(argv, capture_output=True, text=True)  # resumes: runs the trial again
    assert done.returncode == EXIT_OK, done.stderr
    assert json.loads((trial / "result.json").read_text())["status"] == "completed"
