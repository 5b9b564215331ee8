"""Trust in scoring: committed targets, flagged trials (--strict), files altered after the run,
and measurements that would otherwise silently turn a reached target into "never"."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_scoring import meta, write_trial

from optbench import results, scoring
from optbench.cli import main
from optbench.errors import UserError
from optbench.workloads.base import settings_for

WL = "fmnist_mlp"
COMMITTED = settings_for(WL, "smoke").validation_target_value  # accuracy >= this


def _meta(target: float, size: str = "smoke") -> dict:
    return meta(WL, target=target, budget=60.0, size=size)


def _ours(root: Path, sub: str, study: int, values: list[float], target=COMMITTED, **kw) -> Path:
    """An optbench trial of fmnist_mlp (smoke), evals at 10, 20, 30 ... s, with a result.json
    holding the digests the runner records."""
    times = [10.0 * (i + 1) for i in range(len(values))]
    folder = write_trial(root, sub, study, WL, 1, times, values, meta=_meta(target))
    result = {"status": "completed", "flags": kw.get("flags", [])}
    if kw.get("digests", True):
        result["files_sha256"] = results.file_digests(folder, results.DIGESTED_FILES)
    (folder / "result.json").write_text(json.dumps(result))
    return folder


def _board(root: Path, **options) -> scoring.Leaderboard:
    return scoring.score_experiment(root, n_bootstrap=0, **options)


def test_a_lowered_target_on_disk_is_not_used_for_anyone(tmp_path):
    low = COMMITTED - 0.2
    below = COMMITTED - 0.1  # reaches the lowered target, not the committed one
    # the cheat's meta_data.json is read first (its name sorts first)
    _ours(tmp_path, "a_cheat", 1, [below, below, below], target=low)
    _ours(tmp_path, "b_honest", 1, [below, COMMITTED + 0.01, COMMITTED + 0.02])
    board = _board(tmp_path)
    target = board.targets.workloads[WL]
    assert (target.metric, target.value, target.minimize) == ("accuracy", COMMITTED, False)
    assert "committed targets" in board.targets.source
    assert board.times.at["b_honest", WL] == 20.0  # not 10.0, which the lowered target gives
    assert math.isinf(board.times.at["a_cheat", WL])
    [flag] = board.flags.to_dict("records")
    assert (flag["submission"], flag["workload"], flag["study"], flag["trial"]) == (
        "a_cheat",
        WL,
        1,
        1,
    )
    assert flag["flag"].startswith(scoring.FLAG_TARGET_DIFFERS)
    assert f">= {low}" in flag["flag"] and f">= {COMMITTED}" in flag["flag"]


def test_logs_of_unknown_workloads_keep_their_recorded_targets(tmp_path):
    write_trial(tmp_path, "a", 1, "not_ours", 1, [10, 20], [0.4, 0.6], meta=meta("not_ours", 0.5))
    result = tmp_path / "a" / "study_1" / "not_ours_pytorch" / "trial_1" / "result.json"
    result.write_text('{"status": "completed"}')
    board = _board(tmp_path)
    assert board.targets.workloads["not_ours"].value == 0.5 and board.targets.committed == ()
    assert board.times.at["a", "not_ours"] == 20.0 and board.flags.empty


def test_trials_of_two_sizes_are_refused(tmp_path):
    _ours(tmp_path, "a", 1, [0.9])
    write_trial(tmp_path, "a", 2, WL, 1, [10.0], [0.9], meta=_meta(0.895, size="mini"))
    with pytest.raises(UserError, match="ran at sizes mini, smoke"):
        _board(tmp_path)


def test_files_altered_after_the_run_are_flagged_and_strict_does_not_count_them(tmp_path):
    folder = _ours(tmp_path, "a", 1, [0.1, 0.2])
    _ours(tmp_path, "b", 1, [0.1, COMMITTED + 0.1])
    assert _board(tmp_path).flags.empty  # untouched files match their digests
    csv = folder / "eval_measurements.csv"
    csv.write_text(csv.read_text().replace("0.2", "0.99"))  # "improve" the last eval
    board = _board(tmp_path)
    assert board.times.at["a", WL] == 20.0  # scored as found, but flagged
    [flag] = board.flags["flag"]
    assert flag == f"{scoring.FLAG_ALTERED} (eval_measurements.csv changed)"
    strict = _board(tmp_path, strict=True)
    assert math.isinf(strict.times.at["a", WL]) and strict.times.at["b", WL] == 20.0
    assert strict.scores.at["a", "score"] == 0.0


def test_trials_without_digests_are_scored_as_before(tmp_path):
    folder = _ours(tmp_path, "a", 1, [0.1, COMMITTED + 0.1], digests=False)
    csv = folder / "eval_measurements.csv"
    csv.write_text(csv.read_text() + "")  # nothing to compare with
    board = _board(tmp_path, strict=True)
    assert board.flags.empty and board.times.at["a", WL] == 20.0


def test_runner_flags_are_listed_and_strict_scores_them_not_reached(tmp_path):
    flag = "implausibly fast: target reached after 3 batches"
    _ours(tmp_path, "a", 1, [COMMITTED + 0.1], flags=[flag])
    _ours(tmp_path, "b", 1, [0.1, COMMITTED + 0.1])
    board = _board(tmp_path)
    assert board.flags["flag"].tolist() == [flag] and board.times.at["a", WL] == 10.0
    strict = _board(tmp_path, strict=True)
    assert math.isinf(strict.times.at["a", WL]) and strict.strict


def test_a_cut_measurements_file_is_flagged_not_silently_never(tmp_path):
    folder = _ours(tmp_path, "a", 1, [0.1, COMMITTED + 0.1])
    csv = folder / "eval_measurements.csv"
    text = csv.read_text()
    csv.write_text(text[: text.rindex(",")])  # the last line cut before its last field
    board = _board(tmp_path)
    flags = board.flags["flag"].tolist()
    assert any("eval_measurements.csv is cut short or malformed" in f for f in flags), flags
    assert any(f.startswith(scoring.FLAG_ALTERED) for f in flags)


def test_an_unknown_target_metric_is_a_one_line_error(tmp_path):
    write_trial(tmp_path, "a", 1, "w", 1, [10.0], [0.9])
    targets = tmp_path / "t.json"
    spec = {"target_metric_name": "accurcy", "validation_target_value": 0.5}
    targets.write_text(json.dumps({"workloads": {"w": {**spec, "target_metric_goal": "maximize"}}}))
    with pytest.raises(UserError) as info:
        _board(tmp_path, targets=targets)
    message = str(info.value)
    assert "no trial of w has validation/accurcy" in message and "validation/accuracy" in message
    assert "\n" not in message


def test_a_trial_missing_the_metric_column_fails_with_its_reason(tmp_path):
    write_trial(tmp_path, "a", 1, "w", 1, [10.0], [0.9])
    write_trial(tmp_path, "a", 1, "w", 2, [10.0], [0.9], metric="loss")
    targets = scoring.Targets({"w": scoring.WorkloadTarget("w", "accuracy", 0.5, False)}, ("w",))
    board = _board(tmp_path, targets=targets)
    assert board.failures.to_dict("records") == [
        {
            "submission": "a",
            "study": 1,
            "workload": "w",
            "trial": 2,
            "reason": "no validation/accuracy in eval_measurements.csv",
        }
    ]


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_non_finite_target_is_a_one_line_error(tmp_path, value):
    targets = tmp_path / "t.json"
    targets.write_text('{"workloads": {"w": {"target_metric_name": "accuracy", '
                       f'"validation_target_value": {value}}}}}}}')  # fmt: skip
    with pytest.raises(UserError, match="must be a finite number"):
        scoring.load_targets(targets)


def test_score_lists_flagged_trials_and_strict_changes_the_board(tmp_path, capsys):
    flag = "slow machine: speed probe 80 GFLOP/s"
    _ours(tmp_path, "a", 1, [COMMITTED + 0.1], flags=[flag])
    _ours(tmp_path, "b", 1, [0.1, COMMITTED + 0.1])
    assert main(["score", str(tmp_path), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "flagged trials (1; scored as they ran; --strict" in out
    row = next(line for line in out.splitlines() if flag in line)
    assert row.split()[:4] == ["a", WL, "1", "1"]
    assert main(["score", str(tmp_path), "--bootstrap", "0", "--strict"]) == 0
    strict = capsys.readouterr().out
    assert "flagged trials (1; scored as never reaching the target (--strict))" in strict
    board = next(line for line in strict.splitlines() if line.lstrip().startswith("1 "))
    assert board.split()[1] == "b"  # the flagged submission no longer ranks first
