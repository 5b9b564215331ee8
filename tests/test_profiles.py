"""Hardware profiles (optbench/profiles.py): calibration on a fake slow and fast device, the
default profile, round trips, the trial's budget and record, score's refusal to mix profiles,
and slot pinning."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
import torch

from optbench import profiles, scoring
from optbench.cli import main
from optbench.errors import UserError
from optbench.target_setting import budget_seconds
from optbench.workloads import WORKLOADS
from optbench.workloads.targets import SCALED_SIZES, settings_for, targets_table

SMOKE = ["--workload", "fmnist_mlp", "--size", "smoke", "--no-progress"]


def _profile(root: Path, budget: float, threads: int = 1, device: str = "cpu") -> Path:
    """A hand-written profile file with a fmnist_mlp smoke budget of ``budget`` seconds."""
    path = root / f"p-{device}-{threads}-{budget}.json"
    data = {
        "format": profiles.FORMAT,
        "name": f"hand-{threads}",
        "slot": {"device": device, "threads": threads},
        "workloads": {
            "fmnist_mlp": {
                "smoke": {"max_allowed_runtime_sec": budget, "eval_period_time_sec": budget / 5}
            }
        },
    }
    path.write_text(json.dumps(data))
    return path


def _meta(trial_dir: Path) -> dict:
    return json.loads((trial_dir / "meta_data.json").read_text())


def _trial_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("meta_data.json"))


# --- the default profile ------------------------------------------------------------------
def test_default_profile_gives_every_workload_its_committed_settings():
    default = profiles.default_profile()
    assert default.name == profiles.DEFAULT_NAME and default.threads == 2
    for name, cls in WORKLOADS.items():
        for size in sorted(set(cls.sizes) & set(SCALED_SIZES)):
            assert default.settings(name, size) == settings_for(name, size), (name, size)


def test_default_budgets_follow_the_budget_formula():
    """Every committed budget timed by step 4 is budget_seconds(steps needed, s/step): the
    formula a calibrated profile applies, so a same-speed slot gets the same budgets."""
    checked = 0
    for sizes in profiles.default_profile().data["workloads"].values():
        for entry in sizes.values():
            if "seconds_per_step" in entry:
                expected = budget_seconds(entry["steps_needed"], entry["seconds_per_step"])
                assert entry["max_allowed_runtime_sec"] == expected, entry
                checked += 1
    assert checked >= 8  # the mini suite


def test_profile_refuses_targets_and_bad_budgets(tmp_path):
    path = _profile(tmp_path, 1.0)
    data = json.loads(path.read_text())
    data["workloads"]["fmnist_mlp"]["smoke"]["step_hint"] = 10
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="machine-independent"):
        profiles.load(path)
    del data["workloads"]["fmnist_mlp"]["smoke"]["step_hint"]
    data["workloads"]["fmnist_mlp"]["smoke"]["max_allowed_runtime_sec"] = -1
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="must be a positive number"):
        profiles.load(path)


# --- calibration ----------------------------------------------------------------------------
def test_calibration_round_robin_median_and_round_trip(tmp_path):
    """A fake timer: runs are taken round-robin, the median counts, the spread is recorded, the
    budget is the budget step's, and the profile loads back with the same digest."""
    calls = []
    per_run = {"fmnist_resnet": [0.05, 0.04, 0.06], "clicks_dlrm": [0.03, 0.02, 0.10]}

    def timer(pick, size, steps, options):
        calls.append(pick.workload)
        return per_run[pick.workload][sum(c == pick.workload for c in calls) - 1]

    names = ["fmnist_resnet", "clicks_dlrm"]
    data = profiles.calibrate(names, "mini", device="cpu", threads=1, repeats=3, timer=timer)
    assert calls == names * 3
    entry = data["workloads"]["fmnist_resnet"]["mini"]
    needed = targets_table("fmnist_resnet")["mini"]["target_setting"]["steps_needed"]
    assert entry["seconds_per_step"] == 0.05 and entry["spread"] == pytest.approx(0.4)
    assert entry["max_allowed_runtime_sec"] == budget_seconds(needed, 0.05)
    assert data["workloads"]["clicks_dlrm"]["mini"]["seconds_per_step"] == 0.03
    assert data["slot"] == {"device": "cpu", "threads": 1} and data["name"] == "cpu-1thread"
    assert data["environment"]["torch_threads"] == 1
    profiles.save(data, tmp_path / "p.json")
    loaded = profiles.load(tmp_path / "p.json")
    assert loaded.data == data and loaded.digest == profiles.Profile(data, "x").digest
    assert loaded.identity() == {
        "name": "cpu-1thread",
        "digest": loaded.digest,
        "slot": data["slot"],
    }
    settings = loaded.settings("fmnist_resnet_silu", "mini")  # a variant: its base's budget
    assert settings.max_allowed_runtime_sec == entry["max_allowed_runtime_sec"]
    assert (
        settings.validation_target_value
        == settings_for("fmnist_resnet_silu", "mini").validation_target_value
    )


def _sleeping_submissions(monkeypatch, delay: float) -> None:
    """A fake device: every step of the timed submission sleeps ``delay`` seconds (and trains
    nothing), so a run's seconds per step are the device's."""
    import optbench.submission

    real = optbench.submission.load_submission

    def load(name, *args, **kwargs):
        def update_params(**kw):
            time.sleep(delay)
            return kw["optimizer_state"], kw["current_param_container"], kw["model_state"]

        return dataclasses.replace(real(name, *args, **kwargs), update_params=update_params)

    monkeypatch.setattr(optbench.submission, "load_submission", load)


def test_twice_as_fast_device_gets_half_the_budgets(monkeypatch):
    """Calibrating through the real timing path on a fake device, then on one twice as fast:
    seconds per step and budgets halve (the steps' fixed overhead keeps the ratio a little
    above 0.5); targets and step hints are the committed ones on both."""
    committed = targets_table("fmnist_mlp")["smoke"]
    pick = profiles.Pick("fmnist_mlp", "nadamw", None, 3000, committed)
    monkeypatch.setattr(profiles, "calibration_pick", lambda name, size: pick)
    calibrated = {}
    for delay in (0.1, 0.05):
        _sleeping_submissions(monkeypatch, delay)
        data = profiles.calibrate(
            ["fmnist_mlp"], "smoke", device="cpu", threads=1, repeats=3, steps=20
        )
        calibrated[delay] = profiles.Profile(data, "test")
    slow, fast = (calibrated[d].data["workloads"]["fmnist_mlp"]["smoke"] for d in (0.1, 0.05))
    assert 0.1 <= slow["seconds_per_step"] < 0.13, slow
    assert 0.45 <= fast["seconds_per_step"] / slow["seconds_per_step"] <= 0.56, (fast, slow)
    ratio = fast["max_allowed_runtime_sec"] / slow["max_allowed_runtime_sec"]
    assert 0.45 <= ratio <= 0.56, (fast, slow)
    committed_settings = settings_for("fmnist_mlp", "smoke")
    for profile in calibrated.values():
        settings = profile.settings("fmnist_mlp", "smoke")
        for fact in ("validation_target_value", "test_target_value", "step_hint"):
            assert getattr(settings, fact) == getattr(committed_settings, fact)
        assert not set(profiles.MACHINE_INDEPENDENT) & set(
            profile.data["workloads"]["fmnist_mlp"]["smoke"]
        )


def test_calibrate_command_writes_a_profile(tmp_path, capsys):
    out = tmp_path / "one.json"
    argv = ["calibrate", "--workloads", "fmnist_mlp", "--size", "mini", "--threads", "1"]
    assert main([*argv, "--repeats", "1", "--steps", "20", "-o", str(out)]) == 0
    profile = profiles.load(out)
    entry = profile.entry("fmnist_mlp", "mini")
    assert profile.threads == 1 and entry["algorithm"] == "adamw" and entry["steps_needed"] == 3449
    assert entry["max_allowed_runtime_sec"] == budget_seconds(3449, entry["seconds_per_step"])
    assert "profile cpu-1thread written to" in capsys.readouterr().out


# --- trials under a profile -----------------------------------------------------------------
def test_run_takes_the_profile_budget_and_records_it(tmp_path):
    path = _profile(tmp_path, 0.05)
    exp = tmp_path / "exp"
    argv = ["run", *SMOKE, "--profile", str(path), "--experiment-dir", str(exp), "--no-report"]
    assert main(argv) == 0
    (trial,) = _trial_dirs(exp)
    meta = _meta(trial)
    result = json.loads((trial / "result.json").read_text())
    assert meta["budget_sec"] == pytest.approx(0.05 * 1.5)  # self-tuning: 1.5x the budget
    assert meta["workload"]["eval_period_time_sec"] == pytest.approx(0.01)
    assert result["stop_reason"] == "budget" and not result["reached_target"]
    assert meta["profile"] == profiles.load(path).identity()
    assert meta["environment"]["torch_threads"] == 1  # the trial ran in the 1-thread slot


def test_run_without_profile_records_the_default(tmp_path):
    exp = tmp_path / "exp"
    argv = ["run", *SMOKE, "--experiment-dir", str(exp), "--no-report", "--max-steps", "3"]
    assert main(argv) == 0
    (trial,) = _trial_dirs(exp)
    assert _meta(trial)["profile"] == profiles.default_profile().identity()
    assert (
        _meta(trial)["budget_sec"]
        == settings_for("fmnist_mlp", "smoke").max_allowed_runtime_sec * 1.5
    )


def test_tune_trials_record_the_profile(tmp_path):
    path = _profile(tmp_path, 0.05)
    exp = tmp_path / "exp"
    argv = ["tune", "--submission", "nadamw", "--ruleset", "self", "--workloads", "fmnist_mlp"]
    argv += ["--size", "smoke", "--studies", "1", "--executor", "inline", "--no-progress"]
    assert main([*argv, "--profile", str(path), "--experiment-dir", str(exp)]) == 0
    (trial,) = _trial_dirs(exp)
    assert _meta(trial)["profile"] == profiles.load(path).identity()
    assert _meta(trial)["budget_sec"] == pytest.approx(0.05 * 1.5)


def test_validate_trials_record_the_profile(tmp_path):
    """``optbench validate`` runs its studies with the profile's budgets too."""
    path = _profile(tmp_path, 0.05)
    board = tmp_path / "board.csv"
    board.write_text("submission,score\nnadamw,0.5\nadamw,0.4\n")
    exp = tmp_path / "exp"
    argv = ["validate", "nadamw", "adamw", "--leaderboard", str(board), "--ruleset", "self"]
    argv += ["--workloads", "fmnist_mlp", "--size", "smoke", "--no-progress", "--bootstrap", "0"]
    main([*argv, "--profile", str(path), "--experiment-dir", str(exp)])
    trials = _trial_dirs(exp)
    assert len(trials) == 2
    for trial in trials:
        assert _meta(trial)["profile"] == profiles.load(path).identity()
        assert _meta(trial)["budget_sec"] == pytest.approx(0.05 * 1.5)


@pytest.mark.skipif(len(profiles.allowed_cpus()) < 2, reason="needs 2 CPUs for 2 slots")
def test_tune_runs_two_one_thread_slots_at_once(tmp_path):
    """--jobs 2 --threads-per-trial 1: two trials at once, each with 1 thread, under the
    1-thread profile."""
    path = _profile(tmp_path, 0.05)
    exp = tmp_path / "exp"
    before = os.environ.get("OMP_NUM_THREADS")
    argv = ["tune", "--submission", "nadamw", "--ruleset", "self", "--workloads", "fmnist_mlp"]
    argv += ["--size", "smoke", "--studies", "2", "--no-progress", "--profile", str(path)]
    assert (
        main([*argv, "--jobs", "2", "--threads-per-trial", "1", "--experiment-dir", str(exp)]) == 0
    )
    trials = _trial_dirs(exp)
    assert len(trials) == 2
    for trial in trials:
        assert _meta(trial)["profile"] == profiles.load(path).identity()
        assert _meta(trial)["environment"]["torch_threads"] == 1
    assert os.environ.get("OMP_NUM_THREADS") == before  # this process left as it was


def test_profile_choice_rules(tmp_path):
    message = "run optbench calibrate --device cuda --steps 100 -o FILE first"
    with pytest.raises(UserError, match=message):
        profiles.for_trials(None, "cuda", "mini")
    assert profiles.for_trials(None, "cuda:1", "smoke").name == profiles.DEFAULT_NAME
    assert profiles.for_trials(None, "cpu", "mini").name == profiles.DEFAULT_NAME
    gpu = _profile(tmp_path, 1.0, device="cuda")
    with pytest.raises(UserError, match="calibrated on cuda, this run uses cpu"):
        profiles.for_trials(str(gpu), "cpu", "smoke")
    assert profiles.for_trials(str(gpu), "cuda:0", "smoke").device == "cuda"
    with pytest.raises(UserError, match="is for 2-thread slots, not 1"):
        profiles.for_trials(None, "cpu", "mini", threads=1)
    one = str(_profile(tmp_path, 1.0))
    with pytest.raises(UserError, match="need"):
        profiles.for_trials(one, "cpu", "smoke", jobs=len(profiles.allowed_cpus()) + 1)
    with pytest.raises(UserError, match="has no budget for fmnist_resnet at size mini"):
        profiles.load(one).settings("fmnist_resnet", "mini")
    assert profiles.load(one).settings("fmnist_resnet", "smoke") == settings_for(
        "fmnist_resnet", "smoke"
    )  # a cap size keeps its committed cap


# --- scoring --------------------------------------------------------------------------------
def _scored_trial(root: Path, submission: str, profile: dict | None) -> None:
    trial = root / submission / "study_1" / "fmnist_mlp_pytorch" / "trial_1"
    trial.mkdir(parents=True)
    (trial / "eval_measurements.csv").write_text(
        "global_step,score,validation/accuracy\n1,1.0,0.5\n10,2.0,0.9\n"
    )
    workload = {"name": "fmnist_mlp", "size": "smoke", "base_workload": None}
    workload.update(target_metric_name="accuracy", validation_target_value=0.78)
    meta = {"workload": workload, "ruleset": "external", "budget_sec": 20.0}
    if profile is not None:
        meta["profile"] = profile
    (trial / "meta_data.json").write_text(json.dumps(meta))
    (trial / "result.json").write_text('{"status": "completed"}')


def test_score_refuses_trials_of_different_profiles(tmp_path, capsys):
    default = profiles.default_profile().identity()
    _scored_trial(tmp_path / "same", "old", None)  # before profiles: the default one
    _scored_trial(tmp_path / "same", "new", default)
    board = scoring.score_experiment(tmp_path / "same", n_bootstrap=0)
    assert set(board.scores.index) == {"old", "new"}
    other = {"name": "cpu-1thread", "digest": "f" * 64, "slot": {"device": "cpu", "threads": 1}}
    _scored_trial(tmp_path / "mixed", "old", None)
    _scored_trial(tmp_path / "mixed", "one_thread", other)
    assert main(["score", str(tmp_path / "mixed")]) == 2
    err = capsys.readouterr().err
    assert "trials of different hardware profiles cannot be ranked together" in err
    assert "cpu-2threads" in err and "cpu-1thread" in err and err.count("\n") == 1


# --- slots ----------------------------------------------------------------------------------
def test_pinned_slots_are_disjoint_and_restored():
    allowed = profiles.allowed_cpus()
    before = (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS"))
    with profiles.pinned(0, 1) as cpus:
        assert cpus == allowed[:1] and sorted(os.sched_getaffinity(0)) == cpus
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    assert sorted(os.sched_getaffinity(0)) == allowed
    assert (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")) == before
    if len(allowed) >= 2:
        with profiles.pinned(1, 1) as second:
            assert second == allowed[1:2] and not set(second) & set(allowed[:1])
    with pytest.raises(UserError, match="needs"):
        profiles.pin_slot(len(allowed), 1)
