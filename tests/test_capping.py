"""Exact capping changes no score: a property test over random studies, scored both ways, and
the cap read from real trial folders."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from optbench import capping, results, scoring
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload

TARGET = 0.5


def _capped(times: list[float], values: list[float], cap: capping.Cap | None):
    """The evals a trial makes under ``cap``, as the runner decides them: eval k happens only
    while k < cap.evals or its submission time is below cap.sec; the trial stops at the first
    that does not happen."""
    if cap is None:
        return times, values
    kept = 0
    while kept < len(times) and (kept < cap.evals or times[kept] < cap.sec):
        kept += 1
    return times[:kept], values[:kept]


def _first_reach(times, values):
    index, time = scoring.time_to_target(values, times, TARGET, minimize=False)
    return (time, index) if index >= 0 else None


def _frame(trials):
    rows = []
    for order, (times, values) in enumerate(trials):
        index, time = scoring.time_to_target(values, times, TARGET, minimize=False)
        rows.append(
            dict(
                submission="s",
                workload="w",
                study=1,
                trial=order + 1,
                framework="pytorch",
                order=order,
                status="ok",
                reason="",
                has_evals=bool(len(times)),
                eval_index=index,
                time=time,
            )
        )
    return pd.DataFrame(rows)


curve = st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(0.0, 1.0)), min_size=1, max_size=12).map(
    lambda evals: (list(np.cumsum([d for d, _ in evals])), [v for _, v in evals])
)


@settings(max_examples=300, deadline=None)
@given(st.lists(curve, min_size=1, max_size=6))
def test_capping_changes_no_study_time_in_either_mode(trials):
    capped, reached = [], []
    for times, values in trials:
        times, values = _capped(times, values, capping.best_of(reached))
        capped.append((times, values))
        if (hit := _first_reach(times, values)) is not None:
            reached.append(hit)
    for mode in scoring.MODES:
        full = scoring.study_times(_frame(trials), mode)
        cut = scoring.study_times(_frame(capped), mode)
        assert full["time"].tolist() == cut["time"].tolist(), mode


def test_capping_saves_time_on_a_typical_study():
    slow = (list(np.arange(1.0, 11.0)), [0.1 * k for k in range(1, 11)])  # reaches at 5 s
    fast = (list(np.arange(1.0, 11.0)), [0.2 * k for k in range(1, 11)])  # reaches at 3 s
    cap = capping.best_of([_first_reach(*fast)])
    times, _ = _capped(*slow, cap)
    assert (cap.sec, cap.evals) == (3.0, 2)
    # A third eval (index 2, at 3 s) could at best tie the fast trial; ties go to the earlier.
    assert times == [1.0, 2.0]


def test_the_cap_is_read_from_finished_trials(tmp_path):
    workload = get_workload("fmnist_mlp", "smoke")
    nadamw = load_submission("nadamw")
    first = run_trial(
        workload, nadamw, trial_dir=tmp_path / "trial_1", probe_speed=False, eval_every_steps=10
    )
    assert first.reached_target
    cap = capping.study_cap([tmp_path / "trial_1", tmp_path / "trial_9"], trial=2)
    index = [r["global_step"] for r in first.eval_rows].index(first.steps_to_target)
    assert cap == capping.Cap(first.time_to_target, index)
    second = run_trial(
        workload,
        nadamw,
        trial_dir=tmp_path / "trial_2",
        probe_speed=False,
        eval_every_steps=10,
        seed=1,
        cap_sec=1e-9,  # stops it right after its first eval (step 1, far from the target)
        cap_evals=1,
    )
    assert second.stop_reason == "capped" and not second.reached_target
    assert capping.study_cap([tmp_path / "trial_2"], trial=3) is None
    # A higher-numbered trial that reached first loses ties to the capped one: one eval more.
    assert capping.study_cap([tmp_path / "trial_1"], trial=0).evals == index + 1
    assert capping.cap_for(tmp_path / "trial_2") == cap
    assert math.isfinite(cap.sec)


def _study(folder, capped: bool):
    """Three trials of NadamW's search space run in turn, each capped by the ones before."""
    from optbench import search_space

    workload = get_workload("fmnist_mlp", "smoke")
    space = search_space.load(load_submission("nadamw").search_space_path)
    reasons = []
    for trial in (1, 2, 3):
        out = folder / f"trial_{trial}"
        cap = capping.cap_for(out) if capped else None
        result = run_trial(
            workload,
            load_submission("nadamw"),
            hyperparameters=search_space.as_hyperparameters(space.point(trial - 1, seed=0)),
            seed=trial,
            trial_dir=out,
            eval_every_steps=20,  # reproducible eval indices
            max_steps=300,
            budget_scale=5,  # the step cap or the cap ends trials, not a busy machine's budget
            probe_speed=False,
            cap_sec=cap.sec if cap else None,
            cap_evals=cap.evals if cap else 0,
        )
        reasons.append(result.stop_reason)
    rows = []
    for trial in (1, 2, 3):
        evals = results.read_eval_measurements(folder / f"trial_{trial}" / "eval_measurements.csv")
        times = [r["accumulated_submission_time"] for r in evals]
        values = [r["validation/accuracy"] for r in evals]
        rows.append((times, values))
    return rows, reasons


def test_a_capped_study_picks_the_same_trial_at_the_same_eval(tmp_path):
    target = get_workload("fmnist_mlp", "smoke").validation_target_value
    capped, capped_reasons = _study(tmp_path / "capped", capped=True)
    full, full_reasons = _study(tmp_path / "full", capped=False)
    assert "capped" in capped_reasons and "capped" not in full_reasons, capped_reasons
    for rows in (capped, full):
        rows[:] = [(t, [v - target + TARGET for v in vals]) for t, vals in rows]
    best = scoring.study_times(_frame(capped), "algoperf").iloc[0]["trial"]
    assert best == scoring.study_times(_frame(full), "algoperf").iloc[0]["trial"]
    index = [
        scoring.time_to_target(v, t, TARGET, False)[0]
        for t, v in (capped[best - 1], full[best - 1])
    ]
    assert index[0] == index[1] >= 0


def test_run_plan_caps_each_trial_by_its_finished_siblings(tmp_path):
    from optbench import tuning

    study = tmp_path / "sub" / "study_1" / "w_pytorch"
    done = study / "trial_1"
    done.mkdir(parents=True)
    results.write_eval_measurements(
        done / "eval_measurements.csv",
        [{"global_step": s, "accumulated_submission_time": t} for s, t in ((1, 1.0), (5, 2.0))],
    )
    results.write_json(
        done / "result.json",
        {
            "status": "completed",
            "flags": [],
            "reached_target": True,
            "time_to_target": 2.0,
            "steps_to_target": 5,
        },
    )
    spec = tuning.TrialSpec(
        "nadamw", "sub", "w", "smoke", 1, 2, 0, None, 1.0, str(study / "trial_2"), "external"
    )

    class Recording:
        def __init__(self):
            self.seen = []

        def run(self, spec):
            self.seen.append(spec)
            return {"status": "completed"}

    for capping_on, expected in ((True, (2.0, 1)), (False, (None, 0))):
        executor = Recording()
        tuning.run_plan([spec], executor, capping=capping_on)
        assert (executor.seen[0].cap_sec, executor.seen[0].cap_evals) == expected
