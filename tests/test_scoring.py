"""Scoring rules on hand-made tables with hand-computed answers, loading, bootstrap and CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optbench import scoring
from optbench.cli import main
from optbench.errors import UserError

INF = math.inf
TAUS = np.linspace(1.0, 4.0, 100)
STEP = 3.0 / 99.0  # spacing of the official tau grid


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def write_trial(
    root: Path,
    submission: str,
    study: int,
    workload: str,
    trial: int,
    times: list[float],
    values: list[float],
    metric: str = "accuracy",
    meta: dict | None = None,
    result: dict | None = None,
) -> Path:
    """One trial directory in AlgoPerf's layout (optbench's meta/result files optional)."""
    folder = root / submission / f"study_{study}" / f"{workload}_pytorch" / f"trial_{trial}"
    folder.mkdir(parents=True)
    n = len(times)
    pd.DataFrame(
        {
            "accumulated_eval_time": np.arange(n, dtype=float),
            "accumulated_logging_time": np.zeros(n),
            "accumulated_submission_time": times,
            "global_step": np.arange(1, n + 1) * 10,
            "preemption_count": np.zeros(n, dtype=int),
            "score": times,
            "total_duration": np.asarray(times, dtype=float) + 1.0,
            f"train/{metric}": values,
            f"validation/{metric}": values,
            "validation/num_examples": np.full(n, 100),
        }
    ).to_csv(folder / "eval_measurements.csv", index=False)
    if meta is not None:
        (folder / "meta_data.json").write_text(json.dumps(meta))
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result))
    return folder


def meta(name: str, target: float = 0.8, budget: float = 1000.0, **extra) -> dict:
    """meta_data.json as optbench writes it."""
    workload = {
        "name": name,
        "base_workload": None,
        "held_out": False,
        "target_metric_name": "accuracy",
        "validation_target_value": target,
        "test_target_value": target - 0.01,
        "metric_higher_is_better": True,
        "max_allowed_runtime_sec": budget,
        "step_hint": 100,
    }
    workload.update(extra)
    return {"workload": workload, "submission": "x", "seed": 1}


def targets(bases=("w1", "w2"), held_out=(), **variants) -> scoring.Targets:
    """Targets with accuracy >= 0.8 for every named workload; variants map name -> base."""
    names = [*bases, *held_out, *variants]
    workloads = {
        n: scoring.WorkloadTarget(n, "accuracy", 0.8, False, base_workload=variants.get(n))
        for n in names
    }
    return scoring.Targets(workloads, tuple(bases), tuple(held_out), "test")


def table(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    """submissions x workloads times."""
    frame = pd.DataFrame.from_dict(rows, orient="index").astype(float)
    frame.index.name = "submission"
    return frame


def scores_of(times: pd.DataFrame, tg: scoring.Targets, mode: str = "optbench") -> pd.Series:
    scored = scoring.apply_scoring_rules(times, tg, mode)
    return scoring.benchmark_scores(scoring.performance_profiles(scored, len(tg.base_workloads)))


# --------------------------------------------------------------------------------------------
# metric direction and trial level
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "minimized"),
    [
        ("loss", True),
        ("validation/wer", True),
        ("ce_loss", True),
        ("error_rate", True),
        ("ctc_loss", True),
        ("l1_loss", True),
        ("accuracy", False),
        ("validation/mean_average_precision", False),
        ("ssim", False),
        ("bleu", False),
        ("best_accuracy", False),
        ("ppl", True),
    ],
)
def test_metric_direction_follows_algoperf_names(metric: str, minimized: bool) -> None:
    assert scoring.is_minimized(metric) is minimized


def test_unknown_metric_direction_is_a_user_error() -> None:
    with pytest.raises(UserError, match="minimised"):
        scoring.is_minimized("validation/f1")


def test_time_to_target_includes_equality_both_ways() -> None:
    times = [10.0, 20.0, 30.0]
    assert scoring.time_to_target([0.5, 0.8, 0.9], times, 0.8, minimize=False) == (1, 20.0)
    assert scoring.time_to_target([0.5, 0.3, 0.2], times, 0.3, minimize=True) == (1, 20.0)
    assert scoring.time_to_target([np.nan, 0.79, 0.85], times, 0.8, minimize=False) == (2, 30.0)
    assert scoring.time_to_target([0.1, 0.2, np.nan], times, 0.8, minimize=False) == (-1, INF)


# --------------------------------------------------------------------------------------------
# study and workload level
# --------------------------------------------------------------------------------------------
def test_eval_index_quirk_versus_smallest_time(tmp_path: Path) -> None:
    # trial 1 reaches at eval index 2 (300 s); trial 2 at eval index 3 but earlier (250 s)
    write_trial(tmp_path, "a", 0, "w1", 1, [100, 200, 300], [0.1, 0.5, 0.9])
    write_trial(tmp_path, "a", 0, "w1", 2, [50, 100, 150, 250], [0.1, 0.2, 0.3, 0.9])
    write_trial(tmp_path, "a", 0, "w1", 3, [100, 200, 300], [0.1, 0.2, 0.3])
    trials = scoring.load_experiment(tmp_path)
    per_trial = scoring.trial_times(trials, targets(bases=("w1",)))
    assert per_trial["eval_index"].tolist() == [2, 3, -1]
    assert per_trial["time"].tolist() == [300.0, 250.0, INF]
    official = scoring.study_times(per_trial, "algoperf")
    corrected = scoring.study_times(per_trial, "optbench")
    assert official[["time", "trial", "n_trials"]].values.tolist() == [[300.0, 1, 3]]
    assert corrected[["time", "trial", "n_trials"]].values.tolist() == [[250.0, 2, 3]]


def test_eval_index_tie_goes_to_the_first_trial_in_order() -> None:
    per_trial = pd.DataFrame(
        {
            "submission": "a",
            "workload": "w1",
            "study": 0,
            "trial": [1, 2],
            "framework": "pytorch",
            "order": [0, 1],
            "status": "ok",
            "reason": "",
            "has_evals": True,
            "eval_index": [4, 4],
            "time": [410.0, 395.0],
        }
    )
    assert scoring.study_times(per_trial, "algoperf")["time"].tolist() == [410.0]
    per_trial["order"] = [1, 0]  # the official code follows the os.listdir order
    assert scoring.study_times(per_trial, "algoperf")["time"].tolist() == [395.0]
    assert scoring.study_times(per_trial, "optbench")["time"].tolist() == [395.0]


@pytest.mark.parametrize(
    ("studies", "median"),
    [
        ([100.0, INF, INF], INF),
        ([100.0, 200.0, INF], 200.0),
        ([100.0, 200.0, 300.0, INF], 250.0),
        ([100.0, 200.0, INF, INF], INF),
        ([INF, INF, INF], INF),
        ([100.0, 300.0], 200.0),  # a missing study is absent, not infinite
    ],
)
def test_median_over_studies_counts_infinity(studies: list[float], median: float) -> None:
    frame = pd.DataFrame(
        {"submission": "a", "workload": "w1", "study": range(len(studies)), "time": studies}
    )
    assert scoring.workload_times(frame).loc["a", "w1"] == median


def test_workload_never_run_is_nan_then_counts_as_infinite() -> None:
    frame = pd.DataFrame(
        {
            "submission": ["a", "a", "b"],
            "workload": ["w1", "w2", "w1"],
            "study": 0,
            "time": [100.0, 100.0, 100.0],
        }
    )
    times = scoring.workload_times(frame)
    assert math.isnan(times.loc["b", "w2"])
    assert scores_of(times, targets()).to_dict() == {"a": 1.0, "b": 0.5}


# --------------------------------------------------------------------------------------------
# profiles and scores
# --------------------------------------------------------------------------------------------
def test_official_tau_grid() -> None:
    np.testing.assert_array_equal(scoring.default_taus(), TAUS)


def test_ratio_between_grid_points_gives_the_exact_area() -> None:
    # b is 2.5x slower on w1: rho_b = 1/2 below 2.5, 1 from 2.5; 2.5 is mid-cell, area 2.25
    times = table({"a": {"w1": 100, "w2": 100}, "b": {"w1": 250, "w2": 100}})
    scores = scores_of(times, targets())
    assert scores["a"] == pytest.approx(1.0, abs=1e-12)
    assert scores["b"] == pytest.approx(0.75, abs=1e-12)


def test_ties_share_the_best_ratio() -> None:
    times = table({"a": {"w1": 100, "w2": 300}, "b": {"w1": 100, "w2": 300}})
    assert scores_of(times, targets()).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)


def test_workload_nobody_reaches_counts_for_nobody() -> None:
    times = table({"a": {"w1": 100, "w2": INF}, "b": {"w1": 250, "w2": INF}})
    scores = scores_of(times, targets())
    assert scores["a"] == pytest.approx(0.5, abs=1e-12)
    assert scores["b"] == pytest.approx(0.25, abs=1e-12)  # 0.5 * (4 - 2.5) / 3


def test_single_submission_scores_its_share_of_reached_workloads() -> None:
    times = table({"a": {"w1": 100, "w2": INF, "w3": 300}})
    assert scores_of(times, targets(bases=("w1", "w2", "w3")))["a"] == pytest.approx(2 / 3)


def test_profile_denominator_is_the_number_of_base_workloads() -> None:
    scored = table({"a": {"w1": 100.0}})
    profile = scoring.performance_profiles(scored, num_base_workloads=8)
    assert profile.shape == (1, 100)
    assert set(profile.loc["a"]) == {0.125}
    assert scoring.benchmark_scores(profile)["a"] == pytest.approx(0.125, abs=1e-12)


def test_four_x_rule_is_strict() -> None:
    at_limit = table({"a": {"w1": 100, "w2": 100}, "b": {"w1": 400, "w2": 100}})
    over = table({"a": {"w1": 100, "w2": 100}, "b": {"w1": 401, "w2": 100}})
    assert scoring.apply_scoring_rules(at_limit, targets()).loc["b", "w1"] == 400.0
    assert scoring.apply_scoring_rules(over, targets()).loc["b", "w1"] == INF
    # ratio 4 counts only at the last grid point: area 1.5 + 0.25 * STEP
    assert scores_of(at_limit, targets())["b"] == pytest.approx(0.5 + 0.25 * STEP / 3, abs=1e-12)
    assert scores_of(over, targets())["b"] == pytest.approx(0.5, abs=1e-12)


def test_variant_rule_runs_before_the_four_x_rule() -> None:
    # a's base is infinite, so its very fast variant is dropped before the 4x rule; b's variant
    # (50) then stands within 4x of the best and b keeps its base time
    tg = targets(bases=("w1",), held_out=("w1_v",), w1_v="w1")
    times = table({"a": {"w1": INF, "w1_v": 10}, "b": {"w1": 100, "w1_v": 50}})
    scored = scoring.apply_scoring_rules(times, tg)
    assert scored.to_dict("index") == {"a": {"w1": INF}, "b": {"w1": 100.0}}
    assert scores_of(times, tg).to_dict() == {"a": 0.0, "b": 1.0}


def test_variant_over_four_x_removes_its_base() -> None:
    tg = targets(bases=("w1", "w2"), held_out=("w1_v",), w1_v="w1")
    times = table(
        {
            "a": {"w1": 100, "w2": 100, "w1_v": 10},
            "b": {"w1": 110, "w2": 100, "w1_v": 41},  # 41 > 4 * 10
            "c": {"w1": 120, "w2": 100, "w1_v": 40},  # exactly 4x: kept
        }
    )
    scored = scoring.apply_scoring_rules(times, tg)
    assert list(scored.columns) == ["w1", "w2"]
    assert scored.loc["b", "w1"] == INF
    assert scored.loc["c", "w1"] == 120.0


def test_variant_never_run_removes_its_base() -> None:
    tg = targets(bases=("w1",), held_out=("w1_v",), w1_v="w1")
    times = table({"a": {"w1": 100, "w1_v": 100}, "b": {"w1": 100, "w1_v": np.nan}})
    assert scoring.apply_scoring_rules(times, tg)["w1"].tolist() == [100.0, INF]


def test_undeclared_variants_only_count_in_algoperf_mode() -> None:
    tg = targets(bases=("w1",), w1_relu="w1")
    times = table({"a": {"w1": 100, "w1_relu": 100}, "b": {"w1": 100, "w1_relu": INF}})
    assert scoring.apply_scoring_rules(times, tg, "optbench")["w1"].tolist() == [100.0, 100.0]
    assert scoring.apply_scoring_rules(times, tg, "algoperf")["w1"].tolist() == [100.0, INF]


def test_unknown_mode_is_a_user_error() -> None:
    with pytest.raises(UserError, match="mode"):
        scoring.study_times(pd.DataFrame(), "fastest")


# --------------------------------------------------------------------------------------------
# speed-ups
# --------------------------------------------------------------------------------------------
def test_speedup_is_a_geometric_mean_of_time_ratios() -> None:
    times = table({"a": {"w1": 100, "w2": 400}, "base": {"w1": 200, "w2": 200}})
    result = scoring.speedups(times, "base", ["w1", "w2"], {})
    assert result.loc["a", "time_ratio"] == pytest.approx(1.0)  # sqrt(0.5 * 2)
    assert result.loc["base", "speedup"] == pytest.approx(1.0)


def test_speedup_replaces_infinity_by_the_budget() -> None:
    times = table({"a": {"w1": INF, "w2": 100}, "base": {"w1": 100, "w2": 100}})
    plain = scoring.speedups(times, "base", ["w1", "w2"], {"w1": 400})
    padded = scoring.speedups(times, "base", ["w1", "w2"], {"w1": 400}, budget_pad_sec=1.0)
    assert plain.loc["a", "time_ratio"] == pytest.approx(2.0)  # sqrt(4 * 1)
    assert plain.loc["a", "speedup"] == pytest.approx(0.5)
    assert padded.loc["a", "time_ratio"] == pytest.approx(math.sqrt(4.01))
    assert math.isnan(scoring.speedups(times, "base", ["w1", "w2"], {}).loc["a", "time_ratio"])


def test_unknown_baseline_is_a_user_error() -> None:
    times = table({"a": {"w1": 100}})
    with pytest.raises(UserError, match="baseline"):
        scoring.speedups(times, "nadamw", ["w1"], {})


# --------------------------------------------------------------------------------------------
# reading experiments and targets
# --------------------------------------------------------------------------------------------
def test_missing_or_empty_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        scoring.load_experiment(tmp_path / "nope")
    with pytest.raises(UserError, match="no trials found"):
        scoring.load_experiment(tmp_path)


def test_layout_variants_are_accepted(tmp_path: Path) -> None:
    root = tmp_path / "logs" / "external_tuning"
    write_trial(root, "adamw", 0, "w1", 1, [10, 20], [0.5, 0.9])
    write_trial(root, "nadamw", 0, "w1", 1, [10, 20], [0.5, 0.9])
    (root / "adamw" / "study_0" / "trial_1").mkdir()  # stray folder, as in the v0.5 logs
    (root / "adamw" / "study_0" / "trial_1" / "eval_measurements.csv").write_text("score\n1\n")
    for path in (root, tmp_path / "logs", tmp_path):
        trials = scoring.load_experiment(path)
        assert trials["submission"].tolist() == ["adamw", "nadamw"]
    single = scoring.load_experiment(root / "adamw")
    assert single[["submission", "study", "workload", "framework", "trial"]].values.tolist() == [
        ["adamw", 0, "w1", "pytorch", 1]
    ]
    np.testing.assert_array_equal(single.loc[0, "time"], [10.0, 20.0])


def test_failed_and_unfinished_trials_never_reach(tmp_path: Path) -> None:
    m, done = meta("w1"), {"status": "completed"}
    write_trial(tmp_path, "a", 0, "w1", 1, [10, 20], [0.5, 0.9], meta=m, result=done)
    write_trial(
        tmp_path, "a", 0, "w1", 2, [5, 8], [0.85, 0.9], meta=m,
        result={"status": "failed", "reason": "NaN loss"},
    )  # fmt: skip
    write_trial(tmp_path, "a", 0, "w1", 3, [5, 8], [0.85, 0.9], meta=m)  # no result.json
    folder = write_trial(tmp_path, "a", 0, "w1", 4, [1], [0.9], meta=m, result=done)
    (folder / "eval_measurements.csv").unlink()
    trials = scoring.load_experiment(tmp_path)
    assert trials["status"].tolist() == ["ok", "failed", "failed", "failed"]
    assert trials["reason"].tolist()[1:] == [
        "NaN loss",
        "no result.json (crashed or unfinished)",
        "no eval_measurements.csv",
    ]
    per_trial = scoring.trial_times(trials, scoring.targets_from_metadata(trials))
    assert per_trial["time"].tolist() == [20.0, INF, INF, INF]
    assert scoring.study_times(per_trial, "optbench")["time"].tolist() == [20.0]


def test_odd_measurement_files_are_read_one_by_one(tmp_path: Path) -> None:
    header = "accumulated_submission_time,global_step,score,validation/accuracy\n"
    bodies = {
        1: "10,1,10,0.5\n20,2,20,0.9\n",
        2: "10,1,10,0.5\n\n20,2,20,0.95\n",  # blank line
        3: "10,1,10,oops\n20,2,20,0.85",  # text in a number column, no final newline
        4: '10,1,10,0.5\n20,2,20,"0.9\n',  # a quote never closed
        5: "",  # header only
        7: "10,1,10,0.9,7\n",  # a long row: the extra field is dropped, nothing shifts
    }
    for trial, body in bodies.items():
        folder = tmp_path / "a" / "study_0" / "w1_jax" / f"trial_{trial}"
        folder.mkdir(parents=True)
        (folder / "eval_measurements.csv").write_text(header + body)
    empty = tmp_path / "a" / "study_0" / "w1_jax" / "trial_6"
    empty.mkdir()
    (empty / "eval_measurements.csv").write_text("")
    trials = scoring.load_experiment(tmp_path)
    assert trials["status"].tolist() == ["ok", "ok", "ok", "failed", "ok", "failed", "ok"]
    assert trials.loc[3, "reason"].startswith("unreadable eval_measurements.csv")
    per_trial = scoring.trial_times(trials, targets(bases=("w1",)))
    assert per_trial["time"].tolist() == [20.0, 20.0, 20.0, INF, INF, INF, 10.0]
    np.testing.assert_array_equal(trials.loc[2, "validation/accuracy"], [np.nan, 0.85])


def test_targets_from_meta_data(tmp_path: Path) -> None:
    done = {"status": "completed"}
    write_trial(tmp_path, "a", 0, "w1", 1, [10], [0.9], meta=meta("w1", budget=60), result=done)
    write_trial(
        tmp_path, "a", 0, "w1_relu", 1, [10], [0.3], metric="loss", result=done,
        meta=meta(
            "w1_relu", target=0.4, base_workload="w1", held_out=True,
            target_metric_name="loss", metric_higher_is_better=False,
        ),
    )  # fmt: skip
    trials = scoring.load_experiment(tmp_path)
    tg = scoring.targets_from_metadata(trials)
    assert tg.base_workloads == ("w1",)
    assert tg.held_out_workloads == ("w1_relu",)
    assert tg.get("w1") == scoring.WorkloadTarget("w1", "accuracy", 0.8, False, 100, 60.0)
    assert tg.get("w1_relu").minimize is True
    assert tg.base_of("w1_relu") == "w1"
    assert scoring.targets_from_metadata(trials, held_out=False).held_out_workloads == ()
    per_trial = scoring.trial_times(trials, tg)
    assert per_trial["time"].tolist() == [10.0, 10.0]


def test_load_targets_reads_the_algoperf_format(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "base_workloads": ["w1"],
                "held_out_workloads": ["w1_v"],
                "workloads": {
                    "w1": {"target_metric_name": "wer", "validation_target_value": 0.1},
                    "w1_v": {
                        "target_metric_name": "ssim",
                        "target_metric_goal": "minimize",
                        "validation_target_value": 0.5,
                        "max_allowed_runtime_sec": 30,
                    },
                },
            }
        )
    )
    tg = scoring.load_targets(path)
    assert tg.base_workloads == ("w1",)
    assert tg.held_out_workloads == ("w1_v",)
    assert tg.get("w1").minimize is True  # by name
    assert tg.get("w1_v").minimize is True  # explicit goal wins
    assert tg.get("w1_v").budget_sec == 30.0
    assert tg.base_of("w1_v") == "w1"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"workloads": {"w1": {"target_metric_name": "accuracy"}}}',
        '{"workloads": {"w1": 3}}',
        '{"workloads": {}, "base_workloads": ["w1"]}',
        '{"workloads": {"w1": {"target_metric_name": "accuracy", "validation_target_value": 1,'
        ' "target_metric_goal": "up"}}}',
    ],
)
def test_malformed_targets_file_is_a_user_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(UserError, match="malformed"):
        scoring.load_targets(path)


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------
def _studies(rows: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    records = [
        {"submission": s, "workload": w, "study": k, "time": t}
        for (s, w), times in rows.items()
        for k, t in enumerate(times)
    ]
    return pd.DataFrame(records)


SPREAD = {
    ("a", "w1"): [100.0, 120.0, 90.0],
    ("a", "w2"): [200.0, 260.0, INF],
    ("b", "w1"): [150.0, 110.0, 130.0],
    ("b", "w2"): [180.0, 210.0, 190.0],
    ("c", "w1"): [300.0, INF, 280.0],
    ("c", "w2"): [220.0, 205.0, 240.0],
}


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    studies, tg = _studies(SPREAD), targets()
    first = scoring.bootstrap(studies, tg, n_bootstrap=200, seed=7)
    again = scoring.bootstrap(studies, tg, n_bootstrap=200, seed=7)
    other = scoring.bootstrap(studies, tg, n_bootstrap=200, seed=8)
    np.testing.assert_array_equal(first.scores, again.scores)
    np.testing.assert_array_equal(first.times, again.times)
    assert not np.array_equal(first.scores, other.scores)
    assert first.scores.shape == (200, 3)
    assert first.times.shape == (200, 3, 2)


def test_bootstrap_interval_contains_the_point_estimate() -> None:
    studies, tg = _studies(SPREAD), targets()
    point = scores_of(scoring.workload_times(studies), tg)
    result = scoring.bootstrap(studies, tg, n_bootstrap=500, seed=0)
    interval = result.score_interval()
    for sub in ("a", "b", "c"):
        assert interval.loc[sub, "ci_low"] <= point[sub] <= interval.loc[sub, "ci_high"]
    assert (interval["ci_high"] - interval["ci_low"]).max() > 0.05
    low, high = result.time_interval()
    times = scoring.workload_times(studies)
    assert ((low <= times) & (times <= high)).all().all()
    assert (low.loc["a", "w1"], high.loc["a", "w1"]) == (90.0, 120.0)
    assert (low.loc["a", "w2"], high.loc["a", "w2"]) == (200.0, INF)


def test_bootstrap_of_identical_studies_has_zero_width() -> None:
    same = {key: [values[0]] * 3 for key, values in SPREAD.items()}
    same[("a", "w2")] = [INF, INF, INF]
    studies, tg = _studies(same), targets()
    point = scores_of(scoring.workload_times(studies), tg)
    interval = scoring.bootstrap(studies, tg, n_bootstrap=100, seed=3).score_interval()
    np.testing.assert_allclose(interval["ci_low"], point.reindex(interval.index), atol=1e-12)
    np.testing.assert_allclose(interval["ci_high"], point.reindex(interval.index), atol=1e-12)


# --------------------------------------------------------------------------------------------
# end to end and CLI
# --------------------------------------------------------------------------------------------
def small_experiment(root: Path) -> Path:
    """Two submissions x two workloads x three studies, one failed trial."""
    done = {"status": "completed"}
    for study in range(3):
        for wl, fast in (("w1", 100.0), ("w2", 40.0)):
            m = meta(wl, budget=1000.0)
            quick = [fast, 2 * fast]
            write_trial(root, "adamw", study, wl, 1, quick, [0.5, 0.9], meta=m, result=done)
            slow = [fast, 2 * fast, 3 * fast]
            write_trial(root, "sgd", study, wl, 1, slow, [0.2, 0.5, 0.85], meta=m, result=done)
    write_trial(
        root, "sgd", 2, "w2", 2, [10.0], [0.9], meta=meta("w2"),
        result={"status": "failed", "reason": "diverged"},
    )  # fmt: skip
    return root


def test_score_experiment_end_to_end(tmp_path: Path) -> None:
    board = scoring.score_experiment(small_experiment(tmp_path), baseline="sgd", n_bootstrap=50)
    assert board.submissions == ["adamw", "sgd"]
    assert board.times.loc["adamw"].tolist() == [200.0, 80.0]
    assert board.times.loc["sgd"].tolist() == [300.0, 120.0]
    # sgd is 1.5x slower on both: rho = 0 below 1.5, 1 from 1.5 (mid-cell): area 2.5
    assert board.scores.loc["sgd", "score"] == pytest.approx(2.5 / 3, abs=1e-12)
    assert board.scores.loc["adamw", "speedup"] == pytest.approx(1.5)
    assert board.scores.loc["adamw", "ci_low"] == board.scores.loc["adamw", "ci_high"] == 1.0
    assert board.failures.values.tolist() == [["sgd", 2, "w2", 2, "diverged"]]
    assert board.warnings == []
    frame = board.to_frame()
    first = ["submission", "score", "ci_low", "ci_high", "time_ratio", "speedup"]
    assert list(frame.columns[:6]) == first
    assert "w2_time" in frame.columns and "w2_ci_high" in frame.columns


def test_score_experiment_reports_missing_studies(tmp_path: Path) -> None:
    write_trial(tmp_path, "a", 0, "w1", 1, [10, 20], [0.5, 0.9], meta=meta("w1"), result={})
    board = scoring.score_experiment(tmp_path, n_bootstrap=0)
    assert board.warnings == ["a: w1 has 1 studies, expected 3"]
    assert math.isnan(board.scores.loc["a", "ci_low"])
    with pytest.raises(UserError, match="unknown baseline"):
        scoring.score_experiment(tmp_path, baseline="nadamw", n_bootstrap=0)
    with pytest.raises(UserError, match="unknown preset"):
        scoring.score_experiment(tmp_path, preset="v9")


def test_workloads_without_targets_are_reported(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    write_trial(exp, "a", 0, "w1", 1, [10, 20], [0.5, 0.9])
    write_trial(exp, "a", 0, "w9", 1, [10], [0.9])
    path = tmp_path / "t.json"
    spec = {"target_metric_name": "accuracy", "validation_target_value": 0.8}
    path.write_text(json.dumps({"workloads": {"w1": spec}}))
    board = scoring.score_experiment(exp, targets=path, n_bootstrap=0)
    assert board.base_workloads == ("w1",)
    assert board.scores["score"].tolist() == [1.0]
    assert board.warnings == [
        "a: w1 has 1 studies, expected 3",
        "no target for workload w9: its trials are not scored",
    ]
    path.write_text(json.dumps({"workloads": {"w7": spec}}))
    with pytest.raises(UserError, match="no base workload"):
        scoring.score_experiment(exp, targets=path, n_bootstrap=0)


def test_algoperf_logs_need_a_targets_file(tmp_path: Path) -> None:
    write_trial(tmp_path, "a", 0, "w1", 1, [10, 20], [0.5, 0.9])
    with pytest.raises(UserError, match="--targets"):
        scoring.score_experiment(tmp_path, n_bootstrap=0)


def test_score_command_prints_and_writes_csv(tmp_path: Path, capsys) -> None:
    exp = small_experiment(tmp_path / "exp")
    out = tmp_path / "board.csv"
    argv = ["score", str(exp), "--csv", str(out), "--baseline", "sgd", "--bootstrap", "50"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "adamw" in printed and "diverged" in printed and "1.500x" in printed
    frame = pd.read_csv(out)
    assert frame["submission"].tolist() == ["adamw", "sgd"]
    assert frame["score"].tolist() == pytest.approx([1.0, 2.5 / 3], abs=1e-12)
    assert frame["w1_time"].tolist() == [200.0, 300.0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baseline", "nadamw"], "unknown baseline submission 'nadamw'"),
        (["--targets", "missing.json"], "targets file not found"),
    ],
)
def test_score_command_bad_input_exits_2(tmp_path: Path, capsys, extra, message) -> None:
    exp = small_experiment(tmp_path / "exp")
    assert main(["score", str(exp), "--bootstrap", "0", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_score_command_missing_directory_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["score", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optbench: error: experiment directory not found")
    assert err.count("\n") == 1
