"""Presets, rulesets and whole AlgoPerf log trees: synthetic trees with hand-computed answers.

Every tree is written by the test into ``tmp_path`` in AlgoPerf's layout
``logs/<external_tuning|self_tuning>/<submission>/study_<k>/<workload>_jax/trial_<i>/``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import algoperf_full
import numpy as np
import pandas as pd
import pytest

from optbench import presets, scoring, tuning
from optbench.cli import main
from optbench.commands import score as score_cmd
from optbench.errors import UserError

INF = math.inf
# v0.5 and v0.6 base workloads with a metric that reaches its target at values [0, 1, 1]
LOW_IS_BETTER = {"criteo1tb", "librispeech_conformer", "librispeech_deepspeech"}


def write_trial(
    folder: Path,
    workload: str,
    times: list[float],
    reach_at: int | None,
    meta: dict | None = None,
) -> Path:
    """One AlgoPerf trial folder whose target metric first reaches the target at ``reach_at``.

    The metric is AlgoPerf's for ``workload`` (preset targets); None never reaches.
    """
    folder.mkdir(parents=True)
    spec = presets.ALGOPERF_TARGETS.get(workload)
    metric, target = (spec.metric, spec.value) if spec else ("accuracy", 0.8)
    minimize = scoring.is_minimized(metric)
    bad, good = (target * 2 + 1, target / 2) if minimize else (target / 2, target * 2 + 1)
    values = [good if reach_at is not None and i >= reach_at else bad for i in range(len(times))]
    pd.DataFrame(
        {
            "accumulated_submission_time": times,
            "global_step": np.arange(1, len(times) + 1) * 100,
            "score": times,
            f"validation/{metric}": values,
        }
    ).to_csv(folder / "eval_measurements.csv", index=False)
    if meta is not None:
        (folder / "meta_data_0.json").write_text(json.dumps(meta))
    return folder


def trial_dir(root: Path, ruleset: str, sub: str, study: int, workload: str, trial: int) -> Path:
    """``root/<ruleset folder>/sub/study_k/<workload>_jax/trial_i``."""
    folder = presets.RULESET_FOLDERS[ruleset]
    return root / folder / sub / f"study_{study}" / f"{workload}_jax" / f"trial_{trial}"


def algoperf_meta(workload: str, target: float, budget: float, metric: str = "accuracy") -> dict:
    """meta_data_0.json as AlgoPerf writes it: the workload's properties, flat."""
    return {
        "workload.target_metric_name": metric,
        "workload.validation_target_value": target,
        "workload.max_allowed_runtime_sec": budget,
        "workload.step_hint": 100,
        "workload.eval_period_time_sec": 10,
        "python_version": "3.11",
        "rng_seed": 7,
    }


def self_tuning_tree(root: Path, studies: int) -> Path:
    """Self-tuning logs: ``fast`` reaches ogbg at 1000 s and wmt at 2000 s in every study;
    ``adamg`` never reaches ogbg and reaches wmt at 2000 s."""
    for study in range(studies):
        for sub, ogbg_at in (("fast", 1), ("adamg", None)):
            write_trial(
                trial_dir(root, "self", sub, study, "ogbg", 1), "ogbg", [500, 1000], ogbg_at
            )
            write_trial(trial_dir(root, "self", sub, study, "wmt", 1), "wmt", [1000, 2000], 1)
    return root


# --------------------------------------------------------------------------------------------
# one preset table for scoring and tuning
# --------------------------------------------------------------------------------------------
def test_scoring_and_tuning_read_one_preset_table() -> None:
    assert scoring.PRESETS is presets.PRESETS
    assert set(presets.PRESETS) == {"default", "algoperf-v0.5", "algoperf-v0.6"}
    assert set(tuning.PRESETS) == {"algoperf-v0.5", "algoperf-v0.6"}  # default is scoring-only
    for name, rulesets in tuning.PRESETS.items():
        for rule, rules in rulesets.items():
            spec = presets.get(name).ruleset(rule)
            assert rules == tuning.Ruleset(rule, spec.studies, spec.trials, spec.budget_scale)
    v05, v06 = scoring.get_preset("algoperf-v0.5"), scoring.get_preset("algoperf-v0.6")
    assert v05.ruleset("external") == presets.RulesetRules(5, 5, 1.0)
    assert v05.ruleset("self") == presets.RulesetRules(5, 1, 3.0)
    assert v06.ruleset("external") == presets.RulesetRules(3, 5, 1.0)
    assert v06.ruleset("self") == presets.RulesetRules(3, 1, 1.5)
    assert (v05.mode, v06.mode, scoring.get_preset("default").mode) == (
        "algoperf",
        "algoperf",
        "optbench",
    )
    assert v05.held_out_workloads == (
        "criteo1tb_embed_init",
        "fastmri_tanh",
        "imagenet_resnet_large_bn_init",
        "librispeech_conformer_layernorm",
        "ogbg_model_size",
        "wmt_glu_tanh",
    )
    assert v06.held_out_workloads == ()
    assert v05.base_workloads == v06.base_workloads and len(v06.base_workloads) == 8
    with pytest.raises(UserError, match="unknown ruleset"):
        v06.ruleset("semi")


def test_v06_budgets_and_targets() -> None:
    v06 = scoring.get_preset("algoperf-v0.6")
    assert {w: v06.budgets[w] for w in v06.base_workloads} == {
        base: budget for base, ((budget, _, _), _, _) in algoperf_full.BUDGETS.items()
    }
    targets = scoring.preset_targets(v06)
    assert targets.get("wmt") == scoring.WorkloadTarget(
        "wmt", "bleu", 30.8491, False, 120000, 43336
    )
    assert targets.get("criteo1tb").minimize is True
    assert targets.get("finewebedu_lm").minimize is True  # known, not scored
    assert "finewebedu_lm" not in targets.base_workloads
    assert targets.source == "preset algoperf-v0.6"
    assert scoring.preset_targets(scoring.get_preset("default")) is None


# --------------------------------------------------------------------------------------------
# ruleset from the tree
# --------------------------------------------------------------------------------------------
def test_ruleset_is_read_from_the_folders(tmp_path: Path) -> None:
    logs = tmp_path / "previous_leaderboards" / "v06" / "logs"
    write_trial(trial_dir(logs, "external", "a", 0, "ogbg", 1), "ogbg", [10], 0)
    write_trial(trial_dir(logs, "self", "b", 0, "ogbg", 1), "ogbg", [10], 0)
    both = scoring.find_rulesets(tmp_path)
    assert both == {"external": logs / "external_tuning", "self": logs / "self_tuning"}
    assert scoring.find_rulesets(logs / "self_tuning") == {"self": logs / "self_tuning"}
    inside = logs / "self_tuning" / "b" / "study_0"
    assert scoring.find_rulesets(inside) == {"self": inside}
    assert scoring.rulesets_in(logs) == ["external", "self"]
    assert scoring.find_rulesets(logs / "self_tuning" / "b" / "study_0").keys() == {"self"}
    with pytest.raises(UserError, match="holds both external_tuning/ and self_tuning/"):
        scoring.score_experiment(logs, preset="algoperf-v0.6", allow_missing_workloads=True)
    boards = scoring.score_tree(
        logs, preset="algoperf-v0.6", allow_missing_workloads=True, n_bootstrap=0
    )
    assert [(b.ruleset, b.submissions) for b in boards] == [("external", ["a"]), ("self", ["b"])]
    only = scoring.score_tree(
        logs, ruleset="self", preset="algoperf-v0.6", allow_missing_workloads=True, n_bootstrap=0
    )
    assert [b.ruleset for b in only] == ["self"]
    (logs / "external_tuning").rename(tmp_path / "elsewhere")
    with pytest.raises(UserError, match=r"no external_tuning/ folder under .* self_tuning/"):
        scoring.score_experiment(logs, ruleset="external", preset="algoperf-v0.6")


def test_ruleset_is_read_from_optbench_meta_data(tmp_path: Path) -> None:
    for ruleset, sub in (("self", "a"), ("external", "b")):
        folder = tmp_path / "exp" / sub / "study_1" / "w1_pytorch" / "trial_1"
        write_trial(folder, "w1", [10, 20], 1)
        workload = {
            "name": "w1",
            "base_workload": None,
            "target_metric_name": "accuracy",
            "validation_target_value": 0.8,
            "max_allowed_runtime_sec": 100,
        }
        meta = {"workload": workload, "ruleset": ruleset, "budget_sec": 150.0}
        (folder / "meta_data.json").write_text(json.dumps(meta))
        (folder / "result.json").write_text('{"status": "completed"}')
    exp = tmp_path / "exp"
    assert scoring.find_rulesets(exp) == {}
    assert scoring.rulesets_in(exp) == ["external", "self"]
    with pytest.raises(UserError, match="holds trials of both tuning rulesets"):
        scoring.score_experiment(exp, n_bootstrap=0)
    boards = scoring.score_tree(exp, n_bootstrap=0)
    assert [(b.ruleset, b.submissions) for b in boards] == [("external", ["b"]), ("self", ["a"])]
    # an optbench trial's own recorded budget (multipliers included) is its speed-up budget
    assert boards[1].budgets["w1"] == 150.0
    (tmp_path / "exp" / "b").rename(tmp_path / "b")
    assert scoring.rulesets_in(exp) == ["self"]
    assert scoring.score_experiment(exp, n_bootstrap=0).ruleset == "self"
    with pytest.raises(UserError, match="no trials of the external tuning ruleset"):
        scoring.score_experiment(exp, ruleset="external", n_bootstrap=0)


def test_algoperf_meta_data_0_gives_targets_and_budgets(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for sub, at in (("a", 1), ("b", 2)):
        for study in range(3):
            for wl in ("w1", "w1_gelu"):
                folder = trial_dir(logs, "external", sub, study, wl, 1)
                write_trial(folder, wl, [10, 20, 30], at, meta=algoperf_meta(wl, 0.8, 40))
    board = scoring.score_experiment(logs, baseline="a", n_bootstrap=0)
    assert board.targets.source == "meta_data_0.json (AlgoPerf)"
    assert board.base_workloads == ("w1",)  # w1_gelu extends w1's name: a variant
    assert board.targets.get("w1_gelu").base_workload == "w1"
    assert board.failures.empty  # AlgoPerf writes no result.json: not a crash
    assert board.times.loc["a"].tolist() == [20.0, 20.0]
    assert board.budgets["w1"] == 40.0
    assert board.scores.loc["b", "time_ratio"] == pytest.approx(1.5)
    assert board.warnings == []


# --------------------------------------------------------------------------------------------
# speed-ups as compute_speedups.py defines them for each ruleset
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("preset", "studies", "ogbg_budget"),
    [
        ("algoperf-v0.5", 5, 3 * 18_477 + 1),  # v0.5 self-tuning: 3x the external budget, +1 s
        ("algoperf-v0.6", 3, 1.5 * 12_011 + 1),  # v0.6 self-tuning: 1.5x
    ],
)
def test_self_tuning_speedups_use_self_tuning_budgets(
    tmp_path: Path, preset: str, studies: int, ogbg_budget: float
) -> None:
    logs = self_tuning_tree(tmp_path / "logs", studies)
    board = scoring.score_experiment(
        logs, preset=preset, baseline="fast", n_bootstrap=0, allow_missing_workloads=True
    )
    assert board.ruleset == "self" and board.mode == "algoperf"
    assert board.times.loc["adamg"].tolist() == [INF, 2000.0]
    # geometric mean of (budget / 1000, 2000 / 2000)
    assert board.scores.loc["adamg", "time_ratio"] == pytest.approx(
        math.sqrt(ogbg_budget / 1000.0), rel=1e-12
    )
    assert board.budgets["ogbg"] == ogbg_budget - 1
    absent = ("criteo1tb", "fastmri", "imagenet_resnet", "imagenet_vit")
    absent += ("librispeech_conformer", "librispeech_deepspeech")
    held_out = scoring.get_preset(preset).held_out_workloads  # v0.5's apply to self-tuning too
    assert board.missing_workloads == absent + held_out
    assert board.base_workloads == ("ogbg", "wmt")
    # one trial per study is what self-tuning expects: only the absent workloads are noted
    assert len(board.warnings) == 1
    assert board.warnings[0].endswith("(no submission ran it): scores are over 2 base workloads")


def test_external_speedups_use_the_external_budgets(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for study in range(3):
        for sub, at in (("fast", 1), ("never", None)):
            write_trial(
                trial_dir(logs, "external", sub, study, "fastmri", 1), "fastmri", [5, 10], at
            )
    board = scoring.score_experiment(
        logs, preset="algoperf-v0.6", baseline="fast", n_bootstrap=0, allow_missing_workloads=True
    )
    assert board.scores.loc["never", "time_ratio"] == pytest.approx(4431 / 10.0, rel=1e-12)
    given = scoring.score_experiment(
        logs,
        preset="algoperf-v0.6",
        baseline="fast",
        n_bootstrap=0,
        allow_missing_workloads=True,
        budgets={"fastmri": 99},
    )
    assert given.scores.loc["never", "time_ratio"] == pytest.approx(100 / 10.0, rel=1e-12)


# --------------------------------------------------------------------------------------------
# a scored workload nobody ran
# --------------------------------------------------------------------------------------------
def _three_base_targets(path: Path) -> Path:
    spec = {"target_metric_name": "accuracy", "validation_target_value": 0.8}
    path.write_text(
        json.dumps(
            {
                "workloads": {w: spec for w in ("w1", "w2", "w3")},
                "base_workloads": ["w1", "w2", "w3"],
            }
        )
    )
    return path


def test_a_base_workload_nobody_ran_is_an_error(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for sub, w2_time in (("a", 100.0), ("b", 250.0)):
        write_trial(trial_dir(logs, "external", sub, 0, "w1", 1), "w1", [100.0], 0)
        write_trial(trial_dir(logs, "external", sub, 0, "w2", 1), "w2", [w2_time], 0)
    targets = _three_base_targets(tmp_path / "targets.json")
    with pytest.raises(UserError, match=r"no submission has runs of w3 \(a scored workload of"):
        scoring.score_experiment(logs, targets=targets, n_bootstrap=0)
    board = scoring.score_experiment(
        logs, targets=targets, n_bootstrap=0, allow_missing_workloads=True
    )
    assert board.base_workloads == ("w1", "w2")
    assert board.missing_workloads == ("w3",)
    # renormalised over the two workloads present (not x 2/3): b is 2.5x slower on w2
    assert board.scores["score"].tolist() == pytest.approx([1.0, 0.75], abs=1e-12)
    assert board.warnings[-1] == (
        "scored without w3 (no submission ran it): scores are over 2 base workloads"
    )


def test_a_workload_one_submission_lacks_still_counts_as_never_reached(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_trial(trial_dir(logs, "external", "a", 0, "w1", 1), "w1", [100.0], 0)
    write_trial(trial_dir(logs, "external", "a", 0, "w2", 1), "w2", [100.0], 0)
    write_trial(trial_dir(logs, "external", "b", 0, "w1", 1), "w1", [100.0], 0)
    spec = {"target_metric_name": "accuracy", "validation_target_value": 0.8}
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"workloads": {"w1": spec, "w2": spec}, "base_workloads": ["w1", "w2"]})
    )
    board = scoring.score_experiment(logs, targets=path, n_bootstrap=0)
    assert board.scores["score"].to_dict() == {"a": 1.0, "b": 0.5}


# --------------------------------------------------------------------------------------------
# ties the official scorer resolves by directory order
# --------------------------------------------------------------------------------------------
def tie_tree(root: Path) -> Path:
    """a's two trials of w1 first reach the target at the same eval (index 2), at 250 s and
    100 s; b reaches w1 at 100 s; both reach w2 at 100 s."""
    logs = root / "logs"
    write_trial(trial_dir(logs, "external", "a", 0, "w1", 1), "w1", [50, 150, 250], 2)
    write_trial(trial_dir(logs, "external", "a", 0, "w1", 2), "w1", [20, 60, 100], 2)
    write_trial(trial_dir(logs, "external", "b", 0, "w1", 1), "w1", [30, 100], 1)
    for sub in ("a", "b"):
        write_trial(trial_dir(logs, "external", sub, 0, "w2", 1), "w2", [100.0], 0)
    spec = {"target_metric_name": "accuracy", "validation_target_value": 0.8}
    (root / "t.json").write_text(
        json.dumps({"workloads": {"w1": spec, "w2": spec}, "base_workloads": ["w1", "w2"]})
    )
    return logs


def test_an_order_dependent_tie_is_reported_with_the_score_under_each_order(tmp_path: Path) -> None:
    logs = tie_tree(tmp_path)
    board = scoring.score_experiment(
        logs, targets=tmp_path / "t.json", mode="algoperf", n_bootstrap=0
    )
    assert board.ties.to_dict("records") == [
        {
            "submission": "a",
            "workload": "w1",
            "study": 0,
            "eval_index": 2,
            "trials": (1, 2),
            "times": (250.0, 100.0),
            "chosen": 1,
        }
    ]
    # as scored (trial 1 first) a is 2.5x slower on w1: 0.75; the other order ties it with b
    assert list(board.tie_scores.index) == [scoring.AS_SCORED, "a/w1 study_0: trial_2"]
    np.testing.assert_allclose(board.tie_scores["a"], [0.75, 1.0], atol=1e-12)
    np.testing.assert_allclose(board.tie_scores["b"], [1.0, 1.0], atol=1e-12)
    assert board.scores.loc["a", "score"] == pytest.approx(0.75, abs=1e-12)
    assert board.warnings[-1].startswith("1 studies have trials reaching the target at the same")
    text = score_cmd.format_leaderboard(board)
    assert "order-dependent ties (1 studies)" in text
    assert "a/w1 study_0: trial_2" in text and "0.7500" in text and "1.0000" in text
    # optbench mode takes the smallest time: no tie to report
    corrected = scoring.score_experiment(logs, targets=tmp_path / "t.json", n_bootstrap=0)
    assert corrected.ties.empty and corrected.tie_scores.empty
    assert corrected.scores["score"].tolist() == [1.0, 1.0]


def test_many_ties_are_tried_one_cell_at_a_time() -> None:
    rows = [
        {"submission": "s", "workload": f"w{k}", "study": 0, "trials": (1, 2), "times": (1.0, 2.0)}
        for k in range(7)
    ]
    ties = pd.DataFrame(rows)
    assert scoring.tie_combinations(ties) == 128
    scenarios = scoring._tie_scenarios(ties, scoring._tie_choices(ties))
    assert scenarios[0] == (0,) * 7
    assert len(scenarios) == 8 and sorted(map(sum, scenarios[1:])) == [1] * 7
    assert len(scoring._tie_scenarios(ties[:6], scoring._tie_choices(ties[:6]))) == 64


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def test_score_prints_both_leaderboards_of_a_logs_folder(tmp_path: Path, capsys) -> None:
    logs = tmp_path / "logs"
    for ruleset, studies in (("external", 3), ("self", 3)):
        for study in range(studies):
            for sub, at in (("nadamw", 2), ("shampoo", 1)):
                for trial in (1, 2, 3, 4, 5) if ruleset == "external" else (1,):
                    folder = trial_dir(logs, ruleset, sub, study, "w1", trial)
                    write_trial(folder, "w1", [10, 20, 30], at, meta=algoperf_meta("w1", 0.8, 40))
    out = tmp_path / "board.csv"
    argv = ["score", str(logs), "--baseline", "nadamw", "--bootstrap", "0", "--csv", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "external tuning (3 studies x any number of trials, budgets x1)" in printed
    assert "self-tuning (3 studies x 1 trials, budgets x1.5)" in printed
    assert printed.count("1.500x") == 2  # shampoo: 20 s against nadamw's 30 s, both rulesets
    frame = pd.read_csv(out)
    assert frame[["ruleset", "submission"]].values.tolist() == [
        ["external", "shampoo"],
        ["external", "nadamw"],
        ["self", "shampoo"],
        ["self", "nadamw"],
    ]
    assert main([*argv[:4], "--bootstrap", "0", "--ruleset", "self"]) == 0
    assert "external tuning" not in capsys.readouterr().out


def test_report_writes_one_file_per_ruleset(tmp_path: Path, capsys) -> None:
    logs = tmp_path / "logs"
    for ruleset in ("external", "self"):
        folder = trial_dir(logs, ruleset, "nadamw", 0, "w1", 1)
        write_trial(folder, "w1", [10, 20], 1, meta=algoperf_meta("w1", 0.8, 40))
    out = str(tmp_path / "r.html")
    assert main(["report", str(logs), "-o", out, "--bootstrap", "0"]) == 0
    assert sorted(p.name for p in tmp_path.glob("r*.html")) == ["r-external.html", "r-self.html"]
    assert "Ruleset <b>self</b>" in (tmp_path / "r-self.html").read_text(encoding="utf-8")
    assert capsys.readouterr().out.count("wrote ") == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no submission has runs of w3"),
        (["--ruleset", "self"], "no self_tuning/ folder under"),
    ],
)
def test_score_command_errors_are_one_line(tmp_path: Path, capsys, extra, message) -> None:
    logs = tmp_path / "logs"
    write_trial(trial_dir(logs, "external", "a", 0, "w1", 1), "w1", [100.0], 0)
    write_trial(trial_dir(logs, "external", "a", 0, "w2", 1), "w2", [100.0], 0)
    targets = _three_base_targets(tmp_path / "t.json")
    assert main(["score", str(logs), "--targets", str(targets), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert main(["score", str(logs), "--targets", str(targets), "--allow-missing-workloads"]) == 0
