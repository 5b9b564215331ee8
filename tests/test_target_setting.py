"""The target-setting procedure: its output follows from its recorded, step-based runs."""

from __future__ import annotations

import copy
import math
import statistics
from pathlib import Path

import pytest

from optbench import results, target_setting
from optbench.errors import UserError
from optbench.executors import InlineExecutor
from optbench.target_setting import calibrate_budget, committed_entry, set_targets
from optbench.workloads.base import BASE_BUDGET_FIELDS, settings_for


def _procedure(experiment_dir: Path, **options) -> dict:
    """fmnist_mlp smoke targets; by default from one 20-step NadamW search run and one re-run,
    budget kept."""
    settings = dict(steps=20, evals=2, trials=0, reruns=1, algorithms=("nadamw",), budget=False)
    return set_targets(
        "fmnist_mlp",
        "smoke",
        experiment_dir=experiment_dir,
        executor=InlineExecutor(),
        **{**settings, **options},
    )


def test_targets_follow_from_the_recorded_reruns(tmp_path):
    entry = _procedure(
        tmp_path,
        steps=60,
        evals=6,
        trials=1,
        reruns=3,
        algorithms=("nadamw", "momentum"),
        budget=True,
    )
    record = entry["target_setting"]
    # each algorithm: its self-tuning point (trial 0) and one quasi-random point
    assert [(s["algorithm"], s["trial"]) for s in record["search"]] == [
        ("nadamw", 0),
        ("nadamw", 1),
        ("momentum", 0),
        ("momentum", 1),
    ]
    assert record["search"][0]["hyperparameters"]["learning_rate"] == pytest.approx(1.7486e-3, 1e-3)
    completed = 0
    for run in (tmp_path / "search").rglob("eval_measurements.csv"):
        if results.read_json(run.parent / "result.json")["status"] == "failed":
            continue  # a diverged point stops early (momentum's quasi-random lr is large)
        steps = [int(r["global_step"]) for r in results.read_eval_measurements(run)]
        assert steps == [1, 10, 20, 30, 40, 50, 60]  # exactly `steps` steps, evals every 10
        completed += 1
    assert completed >= 2
    picked = record["picked"]
    assert picked["best_validation"] == max(s["best_validation"] for s in record["search"])
    assert entry["validation_target_value"] == target_setting.round_target(
        statistics.median(record["rerun_best_validation"]), higher=True
    )
    assert entry["step_hint"] == 60
    reached = [s for s in record["rerun_steps_to_target"] if s is not None]
    assert len(reached) >= 2  # the median run and those above it reach the median best
    assert record["steps_needed"] == max(reached)
    assert entry["min_steps_to_target"] == max(1, min(reached) // 4)
    assert len(set(record["rerun_seeds"])) == 3
    seconds = record["steps_needed"] * entry["calibration_seconds_per_step"]
    budget = entry["max_allowed_runtime_sec"]
    assert seconds / 0.75 <= budget < seconds / 0.75 + 5 and budget % 5 == 0
    assert math.isfinite(entry["calibration_gflops"])

    # re-deriving the budget from the record alone gives the same formula's answer
    again = calibrate_budget("fmnist_mlp", "smoke", entry)
    seconds = record["steps_needed"] * again["calibration_seconds_per_step"]
    assert seconds / 0.75 <= again["max_allowed_runtime_sec"] < seconds / 0.75 + 5


def test_budgets_only_needs_a_recorded_procedure():
    with pytest.raises(UserError, match="optbench targets"):
        committed_entry("fmnist_mlp", "smoke")  # hand-set smoke targets: nothing to time


def test_search_runs_are_independent_of_machine_speed(tmp_path: Path):
    """Same seeds, same steps: the recorded search values repeat exactly (they count steps)."""
    a, b = _procedure(tmp_path / "a"), _procedure(tmp_path / "b")
    assert a["target_setting"]["search"] == b["target_setting"]["search"]
    assert a["validation_target_value"] == b["validation_target_value"]


def test_a_kept_budget_keeps_the_speed_it_was_timed_at(tmp_path: Path, monkeypatch):
    """budget=False leaves the committed budget and its calibration fields as they were."""
    committed = {"calibration_gflops": 123.4, "calibration_seconds_per_step": 0.0125}
    monkeypatch.setattr(
        target_setting, "targets_table", lambda name: {"smoke": {"step_hint": 1, **committed}}
    )
    entry = _procedure(tmp_path)
    assert {k: entry[k] for k in committed} == committed
    assert (
        entry["max_allowed_runtime_sec"]
        == settings_for("fmnist_mlp", "smoke").max_allowed_runtime_sec
    )


def test_a_variant_gets_targets_and_keeps_its_base_budget(tmp_path: Path):
    """AlgoPerf: variants go through the same procedure and keep their base's budget."""
    base = settings_for("molecules_gnn", "smoke")
    entry = set_targets(
        "molecules_gnn_gelu",
        "smoke",
        experiment_dir=tmp_path,
        executor=InlineExecutor(),
        evals=4,
        trials=0,
        reruns=1,
        algorithms=("nadamw",),
    )  # budget=True: ignored for a variant, nothing is timed
    assert not set(BASE_BUDGET_FIELDS) & set(entry)
    assert "calibration_seconds_per_step" not in entry
    assert entry["target_setting"]["steps"] == base.step_hint
    assert entry["validation_target_value"] == target_setting.round_target(
        entry["target_setting"]["rerun_best_validation"][0], higher=True
    )
    assert "molecules_gnn's" in entry["source"]
    with pytest.raises(UserError, match="leave out --steps"):
        set_targets(
            "molecules_gnn_gelu",
            "smoke",
            experiment_dir=tmp_path,
            executor=InlineExecutor(),
            steps=base.step_hint + 1,
        )
    with pytest.raises(UserError, match="time molecules_gnn instead"):
        committed_entry("molecules_gnn_gelu", "smoke")


def _row(step: int, validation: float, train: float, metric: str = "accuracy") -> dict:
    return {"global_step": step, f"validation/{metric}": validation, f"train/{metric}": train}


def test_train_gap_from_synthetic_reruns():
    """Target 0.80 (accuracy): run A first reaches it at step 10 with train 0.74 (lag 0.06), run
    B at step 20 with train 0.83 (lag -0.03), run C never: gap = 1.5 * 0.06 + 0.01 = 0.1."""
    a = [_row(1, 0.50, 0.60), _row(10, 0.81, 0.74), _row(20, 0.85, 0.90)]
    b = [_row(1, 0.40, 0.45), _row(10, 0.79, 0.70), _row(20, 0.80, 0.83)]
    c = [_row(1, 0.40, 0.45), _row(10, 0.70, 0.75)]
    lags = [target_setting.train_lag_at_target(r, "accuracy", 0.80, True) for r in (a, b, c)]
    assert lags == [pytest.approx(0.06), pytest.approx(-0.03), None]
    assert target_setting.train_gap(lags) == 0.1
    # lower is better (WER 0.2): train 0.25 at the first eval reaching it lags by 0.05
    wer = [_row(5, 0.30, 0.20, "wer"), _row(10, 0.19, 0.25, "wer"), _row(15, 0.1, 0.1, "wer")]
    lag = target_setting.train_lag_at_target(wer, "wer", 0.2, False)
    assert lag == pytest.approx(0.05)
    assert target_setting.train_gap([lag, None]) == 0.085
    # every run fits train past the target: the epsilon alone; no run reaching it: no gap
    assert target_setting.train_gap([-0.03, -0.2]) == 0.01
    assert target_setting.train_gap([None, None]) is None
    # a missing train metric at the reaching eval gives no lag
    assert (
        target_setting.train_lag_at_target([{"validation/accuracy": 0.9}], "accuracy", 0.8, True)
        is None
    )


def test_rerun_summary_and_its_gap_pass_the_plausibility_check():
    """The medians are the targets, and no re-run is flagged by the gap it set."""
    from optbench import integrity

    runs = [
        [_row(10, 0.70, 0.72), _row(20, 0.82, 0.75), _row(30, 0.84, 0.86)],
        [_row(10, 0.80, 0.79), _row(20, 0.81, 0.85), _row(30, 0.78, 0.90)],
        [_row(10, 0.60, 0.62), _row(20, 0.75, 0.80), _row(30, 0.80, 0.90)],
    ]
    for run in runs:
        for i, row in enumerate(run):
            row["test/accuracy"] = 0.5 + 0.1 * i
    summary = target_setting.rerun_summary(runs, "accuracy", higher=True)
    assert summary["rerun_best_validation"] == [0.84, 0.81, 0.80]
    assert summary["validation_target_value"] == 0.81
    assert summary["test_target_value"] == 0.7
    assert summary["rerun_steps_to_target"] == [20, 20, None]
    lags = summary["rerun_train_lag_at_target"]
    assert lags[0] == pytest.approx(0.06) and lags[1] == pytest.approx(-0.04) and lags[2] is None
    assert summary["train_gap"] == 0.1
    for run, step in zip(runs, summary["rerun_steps_to_target"], strict=True):
        if step is not None:
            flags = integrity.plausibility_flags(
                run, step, "accuracy", True, 0.81, None, summary["train_gap"]
            )
            assert flags == []
    # a train metric lagging beyond the gap is flagged
    leaked = [_row(20, 0.81, 0.81 - summary["train_gap"] - 0.01)]
    assert integrity.plausibility_flags(leaked, 20, "accuracy", True, 0.81, None, 0.1) != []


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One procedure's entry (40 steps, 2 re-runs), shared by the re-run tests (each a copy)."""
    return _procedure(tmp_path_factory.mktemp("procedure"), steps=40, evals=4, reruns=2)


def test_repeating_the_reruns_gives_the_committed_targets_and_gap(
    tmp_path: Path, monkeypatch, recorded: dict
):
    """measure_train_gap repeats the recorded re-runs exactly: same targets and train_gap as the
    procedure that recorded them."""
    entry = copy.deepcopy(recorded)
    assert entry["train_gap"] is not None
    assert entry["train_gap"] == target_setting.train_gap(
        entry["target_setting"]["rerun_train_lag_at_target"]
    )
    monkeypatch.setattr(target_setting, "targets_table", lambda name: {"smoke": entry})
    again = target_setting.measure_train_gap(
        "fmnist_mlp", "smoke", experiment_dir=tmp_path / "again", executor=InlineExecutor()
    )
    check = again["target_setting"]["train_gap_reruns"]
    assert check["matches_committed"] is True
    assert check["rerun_best_validation"] == entry["target_setting"]["rerun_best_validation"]
    assert again["train_gap"] == entry["train_gap"]
    assert again["validation_target_value"] == entry["validation_target_value"]
    assert len(list((tmp_path / "again" / "reruns").rglob("eval_measurements.csv"))) == 2


def test_targets_round_towards_the_easier_side():
    """The re-run at the median still reaches its rounded target: 32 word errors in 1,531
    (WER 0.0209014) meet 0.020902, not 0.020901; values with at most 6 decimals stay as they are."""
    round_target = target_setting.round_target
    wer = 32 / 1531
    assert round_target(wer, higher=False) == 0.020902 and wer <= 0.020902
    assert round_target(0.4817191101, higher=False) == 0.48172
    assert round_target(2.3683428764, higher=False) == 2.368343
    assert round_target(0.8584999, higher=True) == 0.858499
    assert round_target(0.7484619503, higher=True) == 0.748461
    assert round_target(0.9012, higher=True) == 0.9012
    assert round_target(0.0735, higher=False) == 0.0735
    assert target_setting.same_targets({"v": 0.48172}, {"v": 0.481719})
    assert not target_setting.same_targets({"v": 2.368347}, {"v": 2.368343})
    assert not target_setting.same_targets({"v": 0.9}, {"v": None})


def _committed_entry(recorded: dict, monkeypatch) -> dict:
    entry = copy.deepcopy(recorded)
    monkeypatch.setattr(target_setting, "targets_table", lambda name: {"smoke": entry})
    return entry


def test_reruns_use_the_recorded_thread_count(tmp_path: Path, monkeypatch, recorded: dict):
    """Float reductions depend on the thread count, so the re-runs repeat the recorded one; the
    caller's count is restored afterwards."""
    import torch

    entry = _committed_entry(recorded, monkeypatch)
    entry["target_setting"]["environment"]["torch_threads"] = 1
    seen, run_plan = [], target_setting.tuning.run_plan

    def spy(specs, executor, **kwargs):
        seen.append(torch.get_num_threads())
        return run_plan(specs, executor, **kwargs)

    monkeypatch.setattr(target_setting.tuning, "run_plan", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        again = target_setting.measure_train_gap(
            "fmnist_mlp", "smoke", experiment_dir=tmp_path / "again", executor=InlineExecutor()
        )
        assert seen == [1] and torch.get_num_threads() == 2
        assert again["target_setting"]["train_gap_reruns"]["environment"]["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_a_failed_rerun_is_a_one_line_error_not_a_target(
    tmp_path: Path, monkeypatch, recorded: dict
):
    """A re-run that did not complete would give a best value of -inf: refused, nothing set."""
    _committed_entry(recorded, monkeypatch)

    def crash(specs, executor, **kwargs):
        for spec in specs:
            Path(spec.trial_dir).mkdir(parents=True, exist_ok=True)
            (Path(spec.trial_dir) / "result.json").write_text(
                '{"status": "failed", "failure": "crashed: ConnectionResetError"}'
            )

    monkeypatch.setattr(target_setting.tuning, "run_plan", crash)
    with pytest.raises(UserError, match=r"did not complete \(failed: crashed"):
        target_setting.measure_train_gap(
            "fmnist_mlp", "smoke", experiment_dir=tmp_path / "again", executor=InlineExecutor()
        )
