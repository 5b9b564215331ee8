"""`optbench run` end to end on the smoke workload: baselines, AlgoPerf-style files, bad input."""

from __future__ import annotations

import csv
import json

import pytest

from optbench.cli import main

SMOKE = ["--workload", "fmnist_mlp", "--size", "smoke", "--no-progress"]

ALGOPERF_SUBMISSION = """
from absl import logging
import torch

from {package} import spec
from {package}.pytorch_utils import pytorch_setup

USE_PYTORCH_DDP, RANK, DEVICE, N_GPUS = pytorch_setup()


def get_batch_size(workload_name):
    if workload_name == "mnist":
        return 32
    raise ValueError(f"Unsupported workload name: {{workload_name}}.")


def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    del model_state, rng
    return {{"optimizer": torch.optim.Adam(model_params.parameters(),
                                          lr=hyperparameters.learning_rate)}}


def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results,
                  global_step, rng):
    current_param_container.train()
    optimizer_state["optimizer"].zero_grad()
    logits, new_model_state = workload.model_fn(
        params=current_param_container,
        augmented_and_preprocessed_input_batch=batch,
        model_state=model_state,
        mode=spec.ForwardPassMode.TRAIN,
        rng=rng,
        update_batch_norm=True)
    loss_dict = workload.loss_fn(label_batch=batch["targets"], logits_batch=logits)
    loss = loss_dict["summed"] / loss_dict["n_valid_examples"]
    loss.backward()
    optimizer_state["optimizer"].step()
    if global_step % 100 == 0 and workload.metrics_logger is not None:
        workload.metrics_logger.append_scalar_metrics({{"loss": loss.item()}}, global_step)
    logging.info("step %d", global_step)
    assert isinstance(current_params_types, dict)
    assert loss_type == spec.LossType.SOFTMAX_CROSS_ENTROPY
    return (optimizer_state, current_param_container, new_model_state)


def data_selection(workload, input_queue, optimizer_state, current_param_container,
                   model_state, hyperparameters, global_step, rng):
    return next(input_queue)
"""


def _one_line_error(capsys, code):
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("optbench: error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize("package", ["algoperf", "algorithmic_efficiency"])
def test_algoperf_style_submission_runs_unchanged(tmp_path, capsys, package):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "submission.py").write_text(ALGOPERF_SUBMISSION.format(package=package))
    (folder / "tuning_search_space.json").write_text(json.dumps([{"learning_rate": 1e-3}]))
    exp = tmp_path / "exp"
    code = main(
        ["run", "--submission", str(folder / "submission.py"), *SMOKE, "--experiment-dir", str(exp)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "time-to-target" in out
    trial = exp / "sub" / "study_1" / "fmnist_mlp_pytorch" / "trial_1"  # named by its folder
    assert json.loads((trial / "hparams.json").read_text()) == {"learning_rate": 1e-3}
    meta = json.loads((trial / "meta_data.json").read_text())
    # Asked as 'fmnist_mlp', then as AlgoPerf's 'mnist': 32 is 2x AlgoPerf's NadamW batch (16),
    # so it gets 2x optbench's reference (128).
    assert meta["batch_size"] == 256
    assert meta["batch_size_choice"]["rule"] == "algoperf-scaled"
    assert meta["ruleset"] == "external"


def test_baseline_run_writes_algoperf_layout(tmp_path, capsys):
    exp = tmp_path / "exp"
    assert main(["run", "--submission", "nadamw", *SMOKE, "--experiment-dir", str(exp)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[0]
    assert first.startswith("fmnist_mlp: time-to-target ") and "trial dir: " in first
    trial = exp / "nadamw" / "study_1" / "fmnist_mlp_pytorch" / "trial_1"
    with open(trial / "eval_measurements.csv") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "accumulated_eval_time",
        "accumulated_logging_time",
        "accumulated_submission_time",
        "global_step",
        "preemption_count",
        "score",
        "test/accuracy",
        "test/loss",
        "test/num_examples",
        "total_duration",
        "train/accuracy",
        "train/loss",
        "validation/accuracy",
        "validation/loss",
        "validation/num_examples",
    ]
    meta = json.loads((trial / "meta_data.json").read_text())
    assert meta["workload"]["mirrors"] == "mnist" and meta["seed"] == 0
    assert meta["environment"]["torch"].startswith("2.")
    assert json.loads((trial / "hparams.json").read_text()) is None  # self-tuning
    result = json.loads((trial / "result.json").read_text())
    assert result["reached_target"] and result["status"] == "completed"
    # where the trial's wall time went: every phase recorded, the loop covers the submission
    wall = result["wall_sec"]
    assert set(wall) == {"setup", "loop", "finish"} and min(wall.values()) >= 0
    assert wall["loop"] >= result["submission_time"]


def test_batch_size_override_and_budget_scale(tmp_path, capsys):
    exp = tmp_path / "exp"
    code = main(
        [
            "run",
            *SMOKE,
            "--experiment-dir",
            str(exp),
            "--batch-size",
            "64",
            "--budget-scale",
            "0.5",
            "--max-steps",
            "5",
        ]
    )
    assert code == 0
    meta = json.loads(next(exp.rglob("meta_data.json")).read_text())
    # Self-tuning (a baseline without a search space given): AlgoPerf v0.6's 1.5x budget.
    assert meta["batch_size"] == 64 and meta["budget_sec"] == 20.0 * 0.5 * 1.5
    assert "stopped by step_cap after" in capsys.readouterr().out


def test_unknown_workload(capsys):
    err = _one_line_error(capsys, main(["run", "--workload", "fmnist_mpl"]))
    assert "unknown workload 'fmnist_mpl'" in err and "did you mean 'fmnist_mlp'" in err


def test_unknown_submission(capsys):
    err = _one_line_error(capsys, main(["run", "--submission", "nadamm", *SMOKE]))
    assert "unknown submission 'nadamm'" in err


def test_submission_missing_a_function(tmp_path, capsys):
    path = tmp_path / "partial.py"
    path.write_text("def get_batch_size(name):\n    return 8\n")
    err = _one_line_error(capsys, main(["run", "--submission", str(path), *SMOKE]))
    assert "lacks required function(s): init_optimizer_state, update_params, data_selection" in err


def test_submission_that_does_not_import(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("import not_a_module_anywhere\n")
    err = _one_line_error(capsys, main(["run", "--submission", str(path), *SMOKE]))
    assert "failed to import" in err and "ModuleNotFoundError" in err


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "malformed JSON"),
        ('{"learning_rate": {"min": 1, "max": 0.1}}', "empty range"),
        ('{"learning_rate": {"min": -1, "max": 1, "scaling": "log"}}', "not positive"),
        ('{"learning_rate": {"min": "a", "max": 1}}', "finite numbers"),
        ('{"learning_rate": {"feasible_points": []}}', "non-empty list"),
        ("[]", "non-empty list of objects"),
        ("3", "expected an object"),
    ],
)
def test_malformed_search_space(tmp_path, capsys, content, expected):
    path = tmp_path / "space.json"
    path.write_text(content)
    exp = tmp_path / "exp"
    err = _one_line_error(
        capsys,
        main(["run", *SMOKE, "--tuning-search-space", str(path), "--experiment-dir", str(exp)]),
    )
    assert expected in err and str(path) in err
    assert not exp.exists()  # nothing written on bad input


def test_bad_numbers_are_one_line_errors(capsys):
    _one_line_error(capsys, main(["run", *SMOKE, "--budget-scale", "0"]))
    _one_line_error(capsys, main(["run", *SMOKE, "--budget-scale", "-1"]))
    _one_line_error(capsys, main(["run", *SMOKE, "--size", "huge"]))


def test_refuses_to_overwrite_a_finished_trial(tmp_path, capsys):
    exp = tmp_path / "exp"
    assert main(["run", *SMOKE, "--experiment-dir", str(exp), "--max-steps", "2"]) == 0
    result = next(exp.rglob("result.json"))
    before = result.read_bytes()
    err = _one_line_error(capsys, main(["run", *SMOKE, "--experiment-dir", str(exp)]))
    assert "already holds a finished trial" in err
    assert result.read_bytes() == before


def test_run_ends_with_a_summary_and_a_report(tmp_path, capsys):
    exp = tmp_path / "exp"
    code = main(["run", *SMOKE, "--experiment-dir", str(exp), "--max-steps", "5"])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    # (a busy machine may add ", 1 flagged": the speed probe's flag, not the run's)
    start = next(
        i
        for i, line in enumerate(out)
        if line.startswith("Summary: nadamw, self-tuning: 0 of 1 targets reached")
    )
    header, row = out[start + 1].split(), out[start + 2].split()
    assert header[:3] == ["workload", "result", "time"]
    assert row[:5] == ["fmnist_mlp", "not", "reached", "-", "(5)"]
    # the smoke size has no target-setting record (the flags column between may hold the
    # speed probe's count on a busy machine)
    assert row[-2:] == ["no", "reference"] and len(row) in (7, 8)
    assert out[-1] == f"report: {exp / 'report.html'}"
    assert "<h2>Leaderboard</h2>" in (exp / "report.html").read_text()


def test_summary_compares_with_the_committed_reference():
    from types import SimpleNamespace

    from optbench.report import summary

    entry = {
        "calibration_seconds_per_step": 0.05,
        "target_setting": {
            "picked": {"algorithm": "nesterov"},
            "rerun_steps_to_target": [None, 1000, 1200],
        },
    }
    ref = summary.reference_from_entry(entry)
    assert ref == summary.Reference("nesterov", 1100.0, 55.0, measured=False)
    assert ref.describe() == "nesterov (tuned): 1100 steps, ~55.0 s"
    assert summary.reference_from_entry({}) is None
    timed = summary.reference("fmnist_mlp", "mini")  # its re-runs were timed
    assert timed is not None and timed.measured and timed.seconds is not None
    reached = SimpleNamespace(
        status="completed", reached_target=True, time_to_target=timed.seconds / 2,
        steps_to_target=1500, global_step=1600, flags=["slow machine"],
    )  # fmt: skip
    failed = SimpleNamespace(
        status="failed", reached_target=False, time_to_target=None, steps_to_target=None,
        global_step=3, flags=[],
    )  # fmt: skip
    text = summary.format_run_summary(
        "nadamw", "self", [("fmnist_mlp", "mini", reached), ("fmnist_mlp", "smoke", failed)]
    )
    lines = text.splitlines()
    assert lines[1] == (
        "Summary: nadamw, self-tuning: 1 of 2 targets reached, 1 trial(s) failed, "
        "1 flagged (see the FLAG lines)"
    )
    assert lines[3].split()[:5] == [
        "fmnist_mlp",
        "reached",
        f"{timed.seconds / 2:.1f}",
        "1500",
        "1",
    ]
    assert lines[3].endswith("0.50x") and timed.describe() in lines[3]
    assert lines[4].split() == ["fmnist_mlp", "FAILED", "-", "-", "no", "reference"]


def test_run_prints_each_flag_of_a_trial():
    from types import SimpleNamespace

    from optbench.commands.run import describe

    workload = SimpleNamespace(
        name="fmnist_mlp", target_metric_name="accuracy", metric_higher_is_better=True,
        validation_target_value=0.78,
    )  # fmt: skip
    result = SimpleNamespace(
        status="completed", reached_target=True, time_to_target=1.5, steps_to_target=7,
        trial_dir="exp/t", flags=["implausibly fast: 7 batches", "slow machine: 80 GFLOP/s"],
    )  # fmt: skip
    assert describe(result, workload).splitlines() == [
        "fmnist_mlp: time-to-target 1.50 s (step 7; target validation/accuracy >= 0.78); "
        "trial dir: exp/t",
        "  FLAG fmnist_mlp: implausibly fast: 7 batches",
        "  FLAG fmnist_mlp: slow machine: 80 GFLOP/s",
    ]


def test_a_huge_batch_size_is_capped_at_the_training_split(tmp_path, capsys):
    exp = tmp_path / "exp"
    argv = ["run", *SMOKE, "--experiment-dir", str(exp), "--batch-size", str(10**9)]
    assert main([*argv, "--max-steps", "2", "--no-report"]) == 0
    meta = json.loads(next(exp.rglob("meta_data.json")).read_text())
    choice = meta["batch_size_choice"]
    assert choice["rule"] == "given"  # --batch-size replaces the answer (none asked)
    assert 0 < meta["batch_size"] == choice["used"] == choice["capped_at"] < 10**9
    result = json.loads(next(exp.rglob("result.json")).read_text())
    assert result["status"] == "completed" and result["global_step"] == 2
