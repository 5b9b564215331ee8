"""Rulesets, study plans and seeds; studies that survive failing trials; resuming."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from optbench import results, search_space, tuning
from optbench.errors import UserError
from optbench.executors import InlineExecutor, LocalProcessExecutor

SPACE = search_space.parse({"learning_rate": {"min": 1e-4, "max": 1e-2, "scaling": "log"}})


def _plan(tmp_path, rules, space=SPACE, submission="nadamw", workloads=("fmnist_mlp",), **kw):
    return tuning.plan(
        submission=submission,
        submission_name=kw.pop("name", "nadamw"),
        workloads=list(workloads),
        size="smoke",
        rules=rules,
        space=space,
        experiment_dir=tmp_path,
        **kw,
    )


def test_presets():
    assert tuning.ruleset("external") == tuning.Ruleset("external", 3, 5, 1.0)
    assert tuning.ruleset("self") == tuning.Ruleset("self", 3, 1, 1.5)
    assert tuning.ruleset("external", "algoperf-v0.5") == tuning.Ruleset("external", 5, 5, 1.0)
    assert tuning.ruleset("self", "algoperf-v0.5") == tuning.Ruleset("self", 5, 1, 3.0)
    assert tuning.ruleset("external", studies=2, trials=3).trials == 3
    with pytest.raises(UserError):
        tuning.ruleset("self", trials=2)
    with pytest.raises(UserError):
        tuning.ruleset("external", "algoperf-v9")


def test_external_plan_has_distinct_points_across_studies(tmp_path):
    specs = _plan(
        tmp_path, tuning.ruleset("external", studies=3, trials=5), workloads=("fmnist_mlp", "other")
    )
    assert len(specs) == 30
    by_study = {}
    for s in specs:
        by_study.setdefault(s.study, set()).add(s.hyperparameters["learning_rate"])
    assert all(len(points) == 5 for points in by_study.values())  # same points on each workload
    assert len(set().union(*by_study.values())) == 15  # distinct across studies
    assert specs[0].trial_dir == str(results.trial_dir(tmp_path, "nadamw", 1, "fmnist_mlp", 1))


def test_seeds_are_deterministic_and_distinct(tmp_path):
    a = _plan(tmp_path, tuning.ruleset("external", studies=2, trials=3))
    b = _plan(tmp_path, tuning.ruleset("external", studies=2, trials=3))
    assert [s.seed for s in a] == [s.seed for s in b]
    assert len({s.seed for s in a}) == len(a)
    assert tuning.trial_seed(0, "fmnist_mlp", 1, 1) != tuning.trial_seed(1, "fmnist_mlp", 1, 1)


def test_self_tuning_plan(tmp_path):
    specs = _plan(tmp_path, tuning.ruleset("self"), space=None)
    assert [(s.study, s.trial, s.hyperparameters, s.budget_scale) for s in specs] == [
        (1, 1, None, 1.5),
        (2, 1, None, 1.5),
        (3, 1, None, 1.5),
    ]


def test_external_needs_a_search_space(tmp_path):
    with pytest.raises(UserError, match="ships no search space"):
        _plan(tmp_path, tuning.ruleset("external"), space=None)


def test_fixed_lists_give_every_study_the_same_points(tmp_path):
    space = search_space.parse([{"learning_rate": 1e-3}, {"learning_rate": 2e-3}])
    specs = _plan(tmp_path, tuning.ruleset("external", studies=2, trials=2), space=space)
    assert [s.hyperparameters["learning_rate"] for s in specs] == [1e-3, 2e-3, 1e-3, 2e-3]


BAD_SUBMISSIONS = {
    "raises": "raise RuntimeError('exploded on purpose')",
    "nan": "[p.data.fill_(float('nan')) for p in current_param_container.parameters()]",
    "hangs": "import time; time.sleep(3600)",
    "exits": "import sys; sys.exit(7)",
    "eats_memory": "import torch; torch.ones(2**40 // 4)",  # 1 TiB
}


def _submission_file(folder, name, body):
    path = folder / f"{name}.py"
    path.write_text(
        textwrap.dedent(f"""
        from optbench.algorithms import nadamw

        _base = nadamw.SUBMISSION
        get_batch_size = _base.get_batch_size
        init_optimizer_state = _base.init_optimizer_state
        data_selection = _base.data_selection


        def update_params(workload, current_param_container, current_params_types,
                          model_state, hyperparameters, batch, loss_type, optimizer_state,
                          eval_results, global_step, rng):
            if global_step == 3:
                {body}
            return _base.update_params(workload, current_param_container,
                                       current_params_types, model_state, hyperparameters,
                                       batch, loss_type, optimizer_state, eval_results,
                                       global_step, rng)
    """)
    )
    return path


def test_study_records_each_failure_and_finishes_the_others(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    specs = []
    for name in ["good", *BAD_SUBMISSIONS]:
        body = BAD_SUBMISSIONS.get(name, "pass")
        path = _submission_file(folder, name, body)
        specs += _plan(
            tmp_path / "exp",
            tuning.ruleset("self", studies=1),
            space=None,
            submission=str(path),
            name=name,
            max_steps=20,
        )
    executor = LocalProcessExecutor(wall_limit_sec=25, memory_limit_gb=6)
    summaries = tuning.run_plan(specs, executor)
    by_name = {s.submission_name: r for s, r in zip(specs, summaries, strict=True)}
    assert by_name["good"]["status"] == "completed"
    assert by_name["raises"]["status"] == "failed"
    assert "RuntimeError: exploded on purpose" in by_name["raises"]["failure"]
    assert by_name["nan"]["status"] == "failed" and "diverged" in by_name["nan"]["failure"]
    assert by_name["hangs"]["failure"].startswith("hang: exceeded the wall-clock limit")
    assert "SystemExit: 7" in by_name["exits"]["failure"]
    assert "memory" in by_name["eats_memory"]["failure"].lower()
    for spec in specs:
        if spec.submission_name != "good":
            assert (tmp_path / spec.trial_dir / "error.txt").exists()


def test_resume_completes_an_interrupted_study_without_duplicates(tmp_path):
    specs = _plan(tmp_path, tuning.ruleset("external", studies=2, trials=2), max_steps=3)
    tuning.run_plan(specs, InlineExecutor())
    first = {
        s.trial_dir: (tmp_path / s.trial_dir / "eval_measurements.csv").read_text() for s in specs
    }
    # Interrupt: the last trial lost its result.json and holds a half-finished CSV.
    victim = specs[-1]
    (tmp_path / victim.trial_dir / "result.json").unlink()
    (tmp_path / victim.trial_dir / "eval_measurements.csv").write_text("partial")
    finished_before = {
        s.trial_dir: (tmp_path / s.trial_dir / "result.json").stat().st_mtime_ns for s in specs[:-1]
    }
    tuning.run_plan(specs, InlineExecutor())
    for spec in specs[:-1]:  # untouched
        assert (tmp_path / spec.trial_dir / "result.json").stat().st_mtime_ns == finished_before[
            spec.trial_dir
        ]
    rerun = results.read_eval_measurements(tmp_path / victim.trial_dir / "eval_measurements.csv")
    assert [r["global_step"] for r in rerun] == [1.0, 3.0]
    assert (
        json.loads((tmp_path / victim.trial_dir / "result.json").read_text())["status"]
        == "completed"
    )
    trial_dirs = sorted(p.parent for p in tmp_path.rglob("result.json"))
    assert len(trial_dirs) == len(specs) == len(set(trial_dirs))
    assert set(first) == {s.trial_dir for s in specs}


def test_every_shipped_search_space_names_only_hyperparameters_its_baseline_reads():
    from optbench.algorithms import BASELINES
    from optbench.submission import load_submission

    for name in BASELINES:
        submission = load_submission(name)
        if submission.search_space_path is not None:  # raises on an unknown name or key
            assert tuning.search_space_of(submission, None) is not None


def test_misspelt_names_are_refused_with_a_suggestion(tmp_path):
    from optbench.submission import load_submission

    nadamw = load_submission("nadamw")
    space = search_space.parse({"learnin_rate": {"min": 1e-4, "max": 1e-2}})
    with pytest.raises(UserError, match="did you mean 'learning_rate'"):
        tuning.check_hyperparameter_names(space, nadamw, "s.json")
    fixed = search_space.parse([{"learning_rate": 1e-3}, {"weight_decay": 0.1, "warmup": 0.1}])
    with pytest.raises(UserError, match="'warmup' is not a hyperparameter of 'nadamw'"):
        tuning.check_hyperparameter_names(fixed, nadamw, "s.json")
    algoperf_style = dataclasses.replace(nadamw, extras={})  # reads its own names: unchecked
    tuning.check_hyperparameter_names(space, algoperf_style, "s.json")
    path = tmp_path / "s.json"
    path.write_text('{"learning_rate": {"min": 1e-4, "max": 1e-2, "scalling": "log"}}')
    with pytest.raises(UserError, match="'scalling' is not a key of a dimension"):
        tuning.load_search_space(path)


def test_plan_keeps_trial_folders_inside_the_experiment(tmp_path):
    specs = _plan(tmp_path, tuning.ruleset("self", studies=1), space=None, max_steps=3)
    assert specs[0].max_steps == 3
    assert Path(specs[0].trial_dir).resolve().is_relative_to(tmp_path.resolve())
    with pytest.raises(UserError, match="cannot be a folder name"):
        _plan(tmp_path, tuning.ruleset("self", studies=1), space=None, name="../../x")
    with pytest.raises(TypeError, match="unknown options"):
        _plan(tmp_path, tuning.ruleset("self", studies=1), space=None, max_stepz=3)
