"""Every row of docs/ERRORS.md: bad input gets one line, exit code 2, and no result file changes."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch

from optbench.cli import main

ERRORS_DOC = Path(__file__).resolve().parents[1] / "docs" / "ERRORS.md"
SMOKE = ["--workload", "fmnist_mlp", "--size", "smoke", "--no-progress"]

WRONG_RETURN = """
from optbench.algorithms import nadamw
_b = nadamw.SUBMISSION
get_batch_size = _b.get_batch_size
init_optimizer_state = _b.init_optimizer_state
data_selection = _b.data_selection
def update_params(**kwargs):
    return 42
"""
BAD_BATCH = WRONG_RETURN.replace(
    "get_batch_size = _b.get_batch_size", "get_batch_size = lambda name: 'big'"
)


def _targets(tmp: Path, workload: str, *options: str) -> list[str]:
    """``optbench targets`` on one smoke workload, writing under ``tmp``."""
    return [
        "targets",
        "--workloads",
        workload,
        "--size",
        "smoke",
        *options,
        "--experiment-dir",
        str(tmp / "targets"),
    ]


def _folder(root: Path, name: str, *modules: str) -> str:
    (root / name).mkdir()
    for module in modules:
        (root / name / module).write_text("")
    return str(root / name)


def _files(root: Path, name: str, text: str) -> str:
    path = root / name
    path.write_text(text)
    return str(path)


def _run_file(root: Path, name: str, text: str, *options: str) -> list[str]:
    """``optbench run`` on the smoke workload of submission file ``name`` (holding ``text``,
    written under ``root``)."""
    return ["run", "--submission", _files(root, name, text), *SMOKE, *options]


def _locked(root: Path) -> str:
    """An experiment folder whose fmnist_mlp trial is locked by a live process (this one)."""
    trial = root / "locked" / "nadamw" / "study_1" / "fmnist_mlp_pytorch" / "trial_1"
    trial.parent.mkdir(parents=True)
    trial.with_name("trial_1.lock").write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": 0})
    )
    return str(root / "locked")


def _two_sizes(root: Path) -> str:
    """An experiment holding fmnist_mlp trials run at two sizes."""
    for size, study in (("smoke", 1), ("mini", 2)):
        trial = root / "mixed" / "a" / f"study_{study}" / "fmnist_mlp_pytorch" / "trial_1"
        trial.mkdir(parents=True)
        (trial / "eval_measurements.csv").write_text("score,validation/accuracy\n1.0,0.9\n")
        workload = {"name": "fmnist_mlp", "size": size, "base_workload": None}
        workload.update(target_metric_name="accuracy", validation_target_value=0.5)
        (trial / "meta_data.json").write_text(json.dumps({"workload": workload}))
        (trial / "result.json").write_text('{"status": "completed"}')
    return str(root / "mixed")


def _targets_file(root: Path, metric: str, value: str) -> str:
    spec = (
        f'{{"target_metric_name": "{metric}", "validation_target_value": {value}, '
        '"target_metric_goal": "maximize"}'
    )
    return _files(root, "targets.json", f'{{"workloads": {{"fmnist_mlp": {spec}}}}}')


# id -> (argv builder given (tmp, existing experiment dir), expected fragment of the message)
CASES = {
    "unknown-workload": (lambda t, e: ["run", "--workload", "fmnist_mpl"], "did you mean"),
    "unknown-submission": (
        lambda t, e: ["run", "--submission", "adamv", *SMOKE],
        "unknown submission",
    ),
    "unknown-size": (
        lambda t, e: ["run", "--workload", "fmnist_mlp", "--size", "big"],
        "invalid choice",
    ),
    "submission-file-missing": (
        lambda t, e: ["run", "--submission", str(t / "no.py"), *SMOKE],
        "not found",
    ),
    "submission-does-not-import": (
        lambda t, e: _run_file(t, "bad.py", "def broken(:\n"),
        "failed to import",
    ),
    "submission-misses-functions": (
        lambda t, e: _run_file(t, "half.py", "def get_batch_size(n):\n    return 8\n"),
        "lacks required function(s)",
    ),
    "submission-wrong-batch-size-type": (
        lambda t, e: _run_file(t, "bs.py", BAD_BATCH, "--experiment-dir", str(t / "new")),
        "not a positive int",
    ),
    "submission-wrong-return-type": (
        lambda t, e: _run_file(t, "ret.py", WRONG_RETURN, "--experiment-dir", str(t / "new")),
        "must return (optimizer_state, params, model_state), got int",
    ),
    "search-space-malformed-json": (
        lambda t, e: ["run", *SMOKE, "--tuning-search-space", _files(t, "s.json", "{x")],
        "malformed JSON",
    ),
    "search-space-wrong-type": (
        lambda t, e: [
            "run",
            *SMOKE,
            "--tuning-search-space",
            _files(t, "s.json", '{"lr": {"min": "a", "max": 1}}'),
        ],
        "finite numbers",
    ),
    "search-space-empty-range": (
        lambda t, e: [
            "run",
            *SMOKE,
            "--tuning-search-space",
            _files(t, "s.json", '{"lr": {"min": 1, "max": 0.5}}'),
        ],
        "empty range",
    ),
    "search-space-empty-points": (
        lambda t, e: [
            "run",
            *SMOKE,
            "--tuning-search-space",
            _files(t, "s.json", '{"lr": {"feasible_points": []}}'),
        ],
        "non-empty list",
    ),
    "hparams-index-out-of-range": (
        lambda t, e: [
            "run",
            *SMOKE,
            "--tuning-search-space",
            _files(t, "s.json", '[{"learning_rate": 0.001}]'),
            "--hparams-index",
            "3",
        ],
        "outside the 1 points",
    ),
    "budget-scale-zero": (lambda t, e: ["run", *SMOKE, "--budget-scale", "0"], "positive"),
    "budget-scale-negative": (lambda t, e: ["run", *SMOKE, "--budget-scale", "-2"], "positive"),
    "batch-size-zero": (lambda t, e: ["run", *SMOKE, "--batch-size", "0"], "positive"),
    "studies-zero": (lambda t, e: ["tune", "--submission", "nadamw", "--studies", "0"], "positive"),
    "self-tuning-several-trials": (
        lambda t, e: [
            "tune",
            "--submission",
            "nadamw",
            "--ruleset",
            "self",
            "--trials",
            "2",
            "--workloads",
            "fmnist_mlp",
            "--size",
            "smoke",
        ],
        "exactly one trial",
    ),
    "experiment-dir-unwritable": (
        lambda t, e: ["run", *SMOKE, "--experiment-dir", str(t / "ro" / "exp")],
        "not writable",
    ),
    "experiment-dir-other-version": (
        lambda t, e: [
            "tune",
            "--submission",
            "nadamw",
            "--workloads",
            "fmnist_mlp",
            "--size",
            "smoke",
            "--experiment-dir",
            str(e),
        ],
        "optbench_version",
    ),
    "run-over-a-finished-trial": (
        lambda t, e: ["run", *SMOKE, "--experiment-dir", str(e)],
        "already holds a finished",
    ),
    "score-missing-dir": (lambda t, e: ["score", str(t / "nowhere")], "not"),
    "score-unknown-baseline": (lambda t, e: ["score", str(e), "--baseline", "nadamx"], "baseline"),
    "score-bad-targets": (
        lambda t, e: ["score", str(e), "--targets", _files(t, "t.json", "[1, 2]")],
        "targets",
    ),
    "score-missing-workload": (
        lambda t, e: [
            "score",
            str(e),
            "--targets",
            _files(
                t,
                "t.json",
                json.dumps(
                    {
                        "workloads": {
                            w: {"target_metric_name": "accuracy", "validation_target_value": 0.5}
                            for w in ("fmnist_mlp", "absent_wl")
                        },
                        "base_workloads": ["fmnist_mlp", "absent_wl"],
                    }
                ),
            ),
        ],
        "no submission has runs of absent_wl",
    ),
    "score-ruleset-absent": (
        lambda t, e: ["score", _folder(t, "external_tuning"), "--ruleset", "self"],
        "no self_tuning/ folder under",
    ),
    "checkpoint-every-negative": (
        lambda t, e: ["run", *SMOKE, "--checkpoint-every", "-1"],
        "non-negative",
    ),
    "targets-steps-zero": (
        lambda t, e: ["targets", "--workloads", "fmnist_mlp", "--size", "smoke", "--steps", "0"],
        "positive",
    ),
    "targets-budgets-without-record": (
        lambda t, e: _targets(t, "fmnist_mlp", "--budgets-only"),
        "no recorded step-based target-setting runs",
    ),
    "targets-variant-steps": (
        lambda t, e: _targets(t, "molecules_gnn_gelu", "--steps", "7"),
        "leave out --steps",
    ),
    "targets-budgets-variant": (
        lambda t, e: _targets(t, "molecules_gnn_gelu", "--budgets-only"),
        "time molecules_gnn instead",
    ),
    "submission-folder-without-module": (
        lambda t, e: ["run", "--submission", _folder(t, "two", "a.py", "b.py"), *SMOKE],
        "holds no submission.py and 2 other modules",
    ),
    "import-root-not-a-folder": (
        lambda t, e: ["run", "--import-root", str(t / "nowhere"), *SMOKE],
        "is not a folder",
    ),
    "submission-needs-algoperf-extra": (
        lambda t, e: _run_file(t, "o.py", "import optax\n"),
        "pip install 'optbench[algoperf]'",
    ),
    "submission-imports-checkout-path": (
        lambda t, e: _run_file(t, "c.py", "from submissions.team.algo import x\n"),
        "pass --import-root DIR",
    ),
    "submission-exits-at-import": (
        lambda t, e: _run_file(t, "x.py", "raise SystemExit(0)\n"),
        "called sys.exit(0) while importing",
    ),
    "get-batch-size-raises": (
        lambda t, e: _run_file(
            t, "gb.py", BAD_BATCH.replace("'big'", "name + 1"), "--experiment-dir", str(t / "new")
        ),
        "get_batch_size('fmnist_mlp') raised TypeError",
    ),
    "submission-other-source-same-name": (
        lambda t, e: _run_file(t, "nadamw.py", WRONG_RETURN, "--experiment-dir", str(e)),
        "holds a trial of another source of a submission named 'nadamw'",
    ),
    "validate-leaderboard-missing": (
        lambda t, e: ["validate", "nadamw", "--leaderboard", str(t / "no.csv"), "--score-only"],
        "no.csv",
    ),
    "validate-name-malformed": (
        lambda t, e: [
            "validate",
            "nadamw",
            "--leaderboard",
            _files(t, "b.csv", "submission,score\nnadamw,1\n"),
            "--name",
            "x",
        ],
        "expected OURS=THEIRS",
    ),
    "workload-empty": (lambda t, e: ["run", "--workload", ""], "unknown workload ''"),
    "device-without-cuda": (
        lambda t, e: ["run", *SMOKE, "--device", "cuda"],
        "no CUDA device",
    ),
    "seed-out-of-range": (lambda t, e: ["run", *SMOKE, "--seed", str(2**64)], "[0, 2**31)"),
    "wall-limit-nan": (
        lambda t, e: ["tune", "--submission", "nadamw", "--wall-limit", "nan"],
        "must be a positive number, got nan",
    ),
    "data-dir-missing": (
        lambda t, e: ["run", *SMOKE, "--data-dir", str(t / "nowhere")],
        "no such folder",
    ),
    "search-space-unknown-key": (
        lambda t, e: [
            "run",
            *SMOKE,
            "--tuning-search-space",
            _files(t, "s.json", '{"learning_rate": {"min": 1e-4, "max": 1e-2, "scalling": "log"}}'),
        ],
        "'scalling' is not a key of a dimension; did you mean 'scaling'?",
    ),
    "hyperparameter-unknown-name": (
        lambda t, e: [
            "run",
            *SMOKE,
            "--tuning-search-space",
            _files(t, "s.json", '[{"learnin_rate": 0.001}]'),
        ],
        "'learnin_rate' is not a hyperparameter of 'nadamw'; did you mean 'learning_rate'?",
    ),
    "hparams-index-negative": (
        lambda t, e: ["run", *SMOKE, "--hparams-index", "-2"],
        "argument --hparams-index: must be a non-negative integer, got -2",
    ),
    "submission-folder-empty": (
        lambda t, e: ["run", "--submission", _folder(t, "empty"), *SMOKE],
        "holds no submission.py",
    ),
    "trial-locked": (
        lambda t, e: ["run", *SMOKE, "--experiment-dir", _locked(t)],
        f"is being run by process {os.getpid()}",
    ),
    "score-csv-unwritable": (
        lambda t, e: ["score", str(e), "--csv", str(t / "ro" / "board.csv")],
        "cannot write",
    ),
    "score-target-metric-unknown": (
        lambda t, e: ["score", str(e), "--targets", _targets_file(t, "accurcy", "0.5")],
        "no trial of fmnist_mlp has validation/accurcy, its target metric",
    ),
    "score-target-not-finite": (
        lambda t, e: ["score", str(e), "--targets", _targets_file(t, "accuracy", "NaN")],
        "validation_target_value must be a finite number, got nan",
    ),
    "score-two-sizes": (
        lambda t, e: ["score", _two_sizes(t)],
        "ran at sizes mini, smoke: score each size's experiment directory apart",
    ),
    "report-unwritable-output": (
        lambda t, e: ["report", str(e), "-o", str(t / "ro" / "r.html")],
        "cannot write",
    ),
}


@pytest.fixture(scope="module")
def finished_experiment(tmp_path_factory):
    """An experiment directory holding one finished smoke trial, from another 'version'."""
    exp = tmp_path_factory.mktemp("existing")
    assert main(["run", *SMOKE, "--experiment-dir", str(exp), "--max-steps", "3"]) == 0
    (exp / "optbench_experiment.json").write_text(
        json.dumps(
            {"optbench_version": "0.0.1", "size": "smoke", "seed": 0, "preset": "algoperf-v0.6"}
        )
    )
    return exp


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_row(case, tmp_path, capsys, finished_experiment):
    build, expected = CASES[case]
    if case == "device-without-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    # A regular file where a folder is needed: unwritable even for root (CI runs as root).
    (tmp_path / "ro").write_text("")
    before = _snapshot(finished_experiment)
    code = main(build(tmp_path, finished_experiment))
    out, err = capsys.readouterr()
    err = err.strip()
    assert code == 2, err
    assert not out, out  # checked before anything is printed (or written)
    assert "\n" not in err and err.startswith("optbench: error: "), err
    assert expected in err, err
    assert _snapshot(finished_experiment) == before  # no existing result file modified


def test_every_case_is_documented():
    doc = ERRORS_DOC.read_text()
    missing = [case for case in CASES if f"`{case}`" not in doc]
    assert not missing, f"docs/ERRORS.md lacks rows for {missing}"


def test_submission_name_that_is_no_folder_name(tmp_path):
    """``submission-name-not-a-folder``: from Python, a submission named ``../../x`` would file
    its trials outside the experiment directory."""
    from optbench import tuning
    from optbench.errors import UserError

    for name in ("../../x", "a/b", "..", ""):
        with pytest.raises(UserError, match="cannot be a folder name"):
            tuning.plan(
                submission="nadamw",
                submission_name=name,
                workloads=["fmnist_mlp"],
                size="smoke",
                rules=tuning.ruleset("self", studies=1),
                space=None,
                experiment_dir=tmp_path / "exp",
            )
    assert not any(tmp_path.iterdir())


# --- Hardware profiles (optbench/profiles.py, docs/PROFILES.md) ----------------------------
def _profile_file(root: Path, name: str, device: str = "cpu", **entry: object) -> str:
    """A profile file of a 1-thread slot on ``device`` with a fmnist_mlp smoke ``entry``."""
    from optbench import profiles

    data = {
        "format": profiles.FORMAT,
        "name": name,
        "slot": {"device": device, "threads": 1},
        "workloads": {"fmnist_mlp": {"smoke": {"max_allowed_runtime_sec": 1.0, **entry}}},
    }
    return _files(root, f"{name}.json", json.dumps(data))


def _mixed_profiles(root: Path) -> str:
    """An experiment holding a trial of the default profile and one of another profile."""
    for submission, profile in (("a", None), ("b", {"name": "other", "digest": "0" * 64})):
        trial = root / "mixed" / submission / "study_1" / "fmnist_mlp_pytorch" / "trial_1"
        trial.mkdir(parents=True)
        (trial / "eval_measurements.csv").write_text("score,validation/accuracy\n1.0,0.9\n")
        workload = {"name": "fmnist_mlp", "size": "smoke", "base_workload": None}
        meta = {"workload": workload, **({"profile": profile} if profile else {})}
        (trial / "meta_data.json").write_text(json.dumps(meta))
        (trial / "result.json").write_text('{"status": "completed"}')
    return str(root / "mixed")


def _other_profile_experiment(root: Path) -> str:
    """A tune experiment directory recorded under another hardware profile."""
    from optbench import __version__

    config = {"optbench_version": __version__, "size": "smoke", "seed": 0}
    config.update(preset="algoperf-v0.6", profile=f"other (sha256 {'0' * 64})")
    (root / "optbench_experiment.json").write_text(json.dumps(config))
    return str(root)


TUNE_SMOKE = ["tune", "--submission", "nadamw", "--ruleset", "self", "--studies", "1"]
TUNE_SMOKE += ["--workloads", "fmnist_mlp", "--size", "smoke", "--no-progress"]
CALIBRATE = ["calibrate", "--workloads", "fmnist_mlp"]

PROFILE_CASES = {
    "profile-unknown": (
        lambda t: ["run", *SMOKE, "--profile", "cpu-3threads"],
        "no profile 'cpu-3threads': neither a profile file nor a built-in profile",
    ),
    "profile-malformed": (
        lambda t: ["run", *SMOKE, "--profile", _files(t, "p.json", "{")],
        "malformed profile",
    ),
    "profile-holds-targets": (
        lambda t: ["run", *SMOKE, "--profile", _profile_file(t, "p", step_hint=10)],
        "holds 'step_hint': targets and step hints are machine-independent",
    ),
    "profile-other-device": (
        lambda t: ["run", *SMOKE, "--device", "cpu", "--profile", _profile_file(t, "g", "cuda")],
        "profile g was calibrated on cuda, this run uses cpu",
    ),
    "profile-other-threads": (
        lambda t: [*TUNE_SMOKE, "--threads-per-trial", "1", "--experiment-dir", str(t / "e")],
        "profile cpu-2threads is for 2-thread slots, not 1",
    ),
    "profile-no-budget": (
        lambda t: ["run", "--workload", "fmnist_mlp", "--profile", _profile_file(t, "p")],
        "profile p has no budget for fmnist_mlp at size mini",
    ),
    "slots-exceed-cpus": (
        lambda t: [*CALIBRATE, "--threads", "100000"],
        "1 slot(s) of 100000 thread(s) need 100000 CPUs",
    ),
    "jobs-inline": (
        lambda t: [
            *TUNE_SMOKE,
            *("--jobs", "2", "--executor", "inline", "--profile", _profile_file(t, "p")),
        ],
        "--jobs N > 1 runs trials in worker processes: leave out --executor inline",
    ),
    "calibrate-steps": (
        lambda t: [*CALIBRATE, "--steps", "25"],
        "--steps must be a multiple of 10 and at least 20",
    ),
    "calibrate-variant": (
        lambda t: ["calibrate", "--workloads", "fmnist_resnet_silu"],
        "fmnist_resnet_silu is a variant: it has fmnist_resnet's budget; calibrate fmnist_resnet",
    ),
    "calibrate-without-record": (
        lambda t: [*CALIBRATE, "--size", "smoke"],
        "fmnist_mlp (smoke) has no recorded target-setting runs",
    ),
    "calibrate-output-unwritable": (
        lambda t: [*CALIBRATE, "-o", str(t / "ro" / "p.json")],
        "cannot write",
    ),
    "score-mixed-profiles": (
        lambda t: ["score", _mixed_profiles(t)],
        "trials of different hardware profiles cannot be ranked together",
    ),
    "experiment-dir-other-profile": (
        lambda t: [*TUNE_SMOKE, "--experiment-dir", _other_profile_experiment(t / "x")],
        "holds an experiment with profile='other (sha256 000",
    ),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_profile_bad_input_row(case, tmp_path, capsys):
    build, expected = PROFILE_CASES[case]
    (tmp_path / "ro").write_text("")  # a file where a folder is needed
    (tmp_path / "x").mkdir()
    code = main(build(tmp_path))
    out, err = capsys.readouterr()
    err = err.strip()
    assert code == 2, err
    assert not out, out
    assert "\n" not in err and err.startswith("optbench: error: "), err
    assert expected in err, err


def test_cuda_without_profile():
    """``cuda-without-profile``: from Python (no CUDA here), as ``run``/``tune`` check it."""
    from optbench import profiles
    from optbench.errors import UserError

    with pytest.raises(
        UserError, match="run optbench calibrate --device cuda --steps 100 -o FILE first"
    ):
        profiles.for_trials(None, "cuda", "mini")


def test_every_profile_case_is_documented():
    doc = ERRORS_DOC.read_text()
    cases = [*PROFILE_CASES, "cuda-without-profile"]
    missing = [case for case in cases if f"`{case}`" not in doc]
    assert not missing, f"docs/ERRORS.md lacks rows for {missing}"


# The executor options of ``tune`` (--executor ray, --address): id -> (argv given tmp, message).
TUNE_RAY = ["tune", "--submission", "nadamw", "--workloads", "fmnist_mlp", "--size", "smoke"]


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EXECUTOR_CASES = {
    "address-without-ray": (
        lambda t: [*TUNE_RAY, "--address", "auto"],
        "--address names a Ray cluster: it applies to --executor ray only",
    ),
    "address-malformed": (
        lambda t: [*TUNE_RAY, "--executor", "ray", "--address", "headnode"],
        "argument --address: expected auto, local or HOST:PORT (a Ray head node's address), "
        "got 'headnode'",
    ),
    "memory-limit-with-ray": (
        lambda t: [*TUNE_RAY, "--executor", "ray", "--memory-limit", "4"],
        "--memory-limit applies to --executor process only",
    ),
    "jobs-with-ray": (
        lambda t: [*TUNE_RAY, "--executor", "ray", "--jobs", "2"],
        "--jobs applies to --executor process only",
    ),
    "ray-cluster-unreachable": (
        lambda t: [*TUNE_RAY, "--executor", "ray", "--address", f"127.0.0.1:{_closed_port()}"],
        "no Ray cluster answers at 127.0.0.1:",
    ),
}


def _bad_tune(argv: list[str], tmp: Path, capsys) -> str:
    """Run ``argv`` into ``tmp/exp``; its one-line error, after checking exit 2 and that
    nothing was printed or written."""
    code = main([*argv, "--experiment-dir", str(tmp / "exp")])
    out, err = capsys.readouterr()
    err = err.strip()
    assert code == 2, err
    assert not out, out
    assert "\n" not in err and err.startswith("optbench: error: "), err
    assert not (tmp / "exp").exists()
    return err


@pytest.mark.parametrize("case", sorted(EXECUTOR_CASES))
def test_executor_bad_input_row(case, tmp_path, capsys):
    build, expected = EXECUTOR_CASES[case]
    assert expected in _bad_tune(build(tmp_path), tmp_path, capsys)


def test_executor_ray_without_ray(tmp_path, capsys, monkeypatch):
    """``executor-ray-missing``: ray not installed (hidden here, where CI installs it)."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ModuleNotFoundError
    err = _bad_tune([*TUNE_RAY, "--executor", "ray"], tmp_path, capsys)
    assert err.endswith(
        "--executor ray needs 'ray', which this environment lacks: pip install 'optbench[ray]'"
    ), err


def test_every_executor_case_is_documented():
    doc = ERRORS_DOC.read_text()
    missing = [c for c in [*EXECUTOR_CASES, "executor-ray-missing"] if f"`{c}`" not in doc]
    assert not missing, f"docs/ERRORS.md lacks rows for {missing}"
