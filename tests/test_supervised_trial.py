"""The supervised trial against cheating submissions: one test per cheat class of the threat
model (docs/RELIABILITY.md). Each cheat is a real submission file in tests/cheats/; where a cheat
works without supervision, a control runs it in-process to show the test can fail."""

from __future__ import annotations

import json
from pathlib import Path

from optbench import results
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.submission_source import describe
from optbench.workloads import get_workload

CHEATS = Path(__file__).parent / "cheats"


def _cheat(name: str):
    return describe(str(CHEATS / f"{name}.py"))


def _run(name, tmp_path, monkeypatch, *, workload=None, supervised=True, **options):
    log = tmp_path / "cheat.log"
    monkeypatch.setenv("OPTBENCH_CHEAT_LOG", str(log))
    source = _cheat(name)
    submission = source if supervised else source()
    options = {"max_steps": 12, "eval_every_steps": 4, "probe_speed": False, **options}
    result = run_trial(workload or get_workload("fmnist_mlp", "smoke"), submission, **options)
    lines = log.read_text().splitlines() if log.exists() else []
    return result, lines


def test_clock_patching_does_not_change_recorded_time(tmp_path, monkeypatch):
    result, _ = _run("clock_patch", tmp_path, monkeypatch)
    assert result.status == "completed", result.failure
    assert result.supervised
    # 12 steps of at least 50 ms each: the patched clock would have recorded ~0.
    assert result.submission_time >= 12 * 0.05


def test_gc_reach_to_train_state_does_not_change_recorded_time(tmp_path, monkeypatch):
    result, lines = _run("frame_reach", tmp_path, monkeypatch)
    assert result.status == "completed", result.failure
    assert any(line.startswith("zeroed") for line in lines)  # it tried
    assert result.submission_time >= 12 * 0.05
    assert [r["accumulated_submission_time"] for r in result.eval_rows] == sorted(
        r["accumulated_submission_time"] for r in result.eval_rows
    )


def test_training_in_init_fails_the_trial(tmp_path, monkeypatch):
    result, lines = _run("init_training", tmp_path, monkeypatch, trial_dir=tmp_path / "t")
    assert "pretrained" in lines[0]
    assert result.status == "failed"
    assert result.stop_reason == "contract"
    assert "init_optimizer_state changed the model's parameters" in result.failure
    assert json.loads((tmp_path / "t" / "result.json").read_text())["status"] == "failed"


def test_training_in_init_also_fails_inline(tmp_path, monkeypatch):
    result, _ = _run("init_training", tmp_path, monkeypatch, supervised=False)
    assert result.stop_reason == "contract"


def test_eval_hook_never_runs_in_the_evaluation(tmp_path, monkeypatch):
    result, lines = _run("eval_hook", tmp_path, monkeypatch)
    assert result.status == "completed", result.failure
    assert len(result.eval_rows) >= 3
    assert not [line for line in lines if line.startswith("trained-during-eval")]


def _thread_rounds_during_evals(lines: list[str]) -> tuple[int, float]:
    """Thread rounds logged while the runner evaluated, and the evals' total duration."""
    events = [(line.split()[0], float(line.split()[-1])) for line in lines]
    starts = [t for kind, t in events if kind == "eval-start"]
    ends = [t for kind, t in events if kind == "eval-end"]
    evals = list(zip(starts, ends, strict=True))
    inside = sum(1 for kind, t in events if kind == "thread" and any(a < t < b for a, b in evals))
    return inside, sum(b - a for a, b in evals)


def test_background_thread_is_paused_while_not_timed(tmp_path, monkeypatch):
    from cheats.slow_eval import SlowEvalMlp

    workload = SlowEvalMlp("smoke")
    result, lines = _run("background_thread", tmp_path, monkeypatch, workload=workload)
    assert result.status == "completed", result.failure
    rounds, evaluating = _thread_rounds_during_evals(lines)
    assert evaluating >= 0.9  # three slow evals were watched
    assert rounds == 0, f"{rounds} thread rounds ran during {evaluating:.2f} s of evaluation"


def test_background_thread_runs_untimed_without_supervision(tmp_path, monkeypatch):
    from cheats.slow_eval import SlowEvalMlp

    workload = SlowEvalMlp("smoke")
    _, lines = _run("background_thread", tmp_path, monkeypatch, workload=workload, supervised=False)
    rounds, evaluating = _thread_rounds_during_evals(lines)
    assert rounds > 0.25 * evaluating / 0.002  # the control: the cheat works in-process


def _reaches_at_first_eval(result) -> bool:
    return result.steps_to_target == 1


def test_targets_lowered_in_memory_do_not_reach_the_runner(tmp_path, monkeypatch):
    workload = get_workload("fmnist_mlp", "smoke")
    target = workload.validation_target_value
    result, _ = _run("target_in_memory", tmp_path, monkeypatch, workload=workload)
    assert result.status == "completed", result.failure
    assert workload.validation_target_value == target
    assert not _reaches_at_first_eval(result)


def test_targets_lowered_in_memory_reach_an_inline_runner(tmp_path, monkeypatch):
    import optbench.workloads as registry

    saved = {cls: dict(vars(cls)) for cls in registry.WORKLOADS.values()}
    try:
        result, _ = _run("target_in_memory", tmp_path, monkeypatch, supervised=False)
        assert _reaches_at_first_eval(result)  # the control
    finally:
        for cls, attrs in saved.items():
            for key in (
                "validation_target_value",
                "test_target_value",
                "has_reached_validation_target",
                "has_reached_test_target",
            ):
                if key in attrs:
                    setattr(cls, key, attrs[key])
                elif key in vars(cls):
                    delattr(cls, key)


def test_metric_patching_does_not_reach_the_evaluation(tmp_path, monkeypatch):
    result, _ = _run("metric_patch", tmp_path, monkeypatch)
    assert result.status == "completed", result.failure
    assert all(row["validation/accuracy"] < 1.0 for row in result.eval_rows)
    assert not _reaches_at_first_eval(result)


def test_the_worker_never_holds_the_validation_split(tmp_path, monkeypatch):
    result, lines = _run("validation_reach", tmp_path, monkeypatch)
    assert result.status == "completed", result.failure
    assert lines and all(line.startswith("validation-missing") for line in lines), lines[:3]


def test_validation_split_reachable_without_supervision(tmp_path, monkeypatch):
    _, lines = _run("validation_reach", tmp_path, monkeypatch, supervised=False)
    assert lines and lines[0].startswith("validation-found")  # the control


def test_results_rewritten_at_exit_are_not_written(tmp_path, monkeypatch):
    trial = tmp_path / "t"
    monkeypatch.setenv("OPTBENCH_CHEAT_TRIAL", str(trial))
    result, _ = _run("result_rewrite", tmp_path, monkeypatch, trial_dir=trial)
    assert result.status == "completed", result.failure
    recorded = json.loads((trial / "result.json").read_text())["files_sha256"]
    assert results.file_digests(trial) == recorded  # the atexit rewrite never ran


def test_results_rewritten_later_do_not_match_their_digest(tmp_path, monkeypatch):
    import time

    trial = tmp_path / "t"
    monkeypatch.setenv("OPTBENCH_CHEAT_TRIAL", str(trial))
    monkeypatch.setenv("OPTBENCH_CHEAT_ESCAPE", "1")
    _run("result_rewrite", tmp_path, monkeypatch, trial_dir=trial, max_steps=4)
    recorded = json.loads((trial / "result.json").read_text())["files_sha256"]
    deadline = time.monotonic() + 20
    while results.file_digests(trial) == recorded and time.monotonic() < deadline:
        time.sleep(0.2)
    # A process that left the worker's session rewrote the file: detected, not prevented.
    assert results.file_digests(trial)["eval_measurements.csv"] != recorded["eval_measurements.csv"]


def test_a_declared_name_is_not_the_recorded_name(tmp_path):
    source = _cheat("name_spoof")
    assert source.name == "name_spoof"
    assert source().name == "name_spoof"
    assert load_submission(str(CHEATS / "name_spoof.py")).name == "name_spoof"
    result = run_trial(
        get_workload("fmnist_mlp", "smoke"),
        source,
        max_steps=2,
        probe_speed=False,
        trial_dir=tmp_path,
    )
    meta = json.loads((tmp_path / "meta_data.json").read_text())
    assert (meta["submission"], result.status) == ("name_spoof", "completed")
    assert meta["submission_source"].endswith("name_spoof.py")


def test_a_crashing_worker_is_a_failed_trial(tmp_path):
    crash = tmp_path / "crash.py"
    crash.write_text(
        "import os\nfrom optbench.algorithms.nadamw import SUBMISSION as S\n"
        "get_batch_size = S.get_batch_size\ninit_optimizer_state = S.init_optimizer_state\n"
        "data_selection = S.data_selection\n"
        "def update_params(*a, **k):\n    os._exit(3)\n"
    )
    result = run_trial(
        get_workload("fmnist_mlp", "smoke"), describe(str(crash)), max_steps=3, probe_speed=False
    )
    assert result.status == "failed"
    assert "ended during train (exit code 3)" in result.failure


def test_the_worker_dies_with_its_supervisor(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    sleepy = tmp_path / "sleepy.py"
    pid_file = tmp_path / "worker.pid"
    sleepy.write_text(
        "import os, time\nfrom optbench.algorithms.nadamw import SUBMISSION as S\n"
        "get_batch_size = S.get_batch_size\ninit_optimizer_state = S.init_optimizer_state\n"
        "data_selection = S.data_selection\n"
        "def update_params(*a, **k):\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(600)\n"
    )
    script = (
        "from optbench.runner import run_trial\n"
        "from optbench.submission_source import describe\n"
        "from optbench.workloads import get_workload\n"
        "if __name__ == '__main__':\n"
        f"    run_trial(get_workload('fmnist_mlp', 'smoke'), describe({str(sleepy)!r}),"
        " probe_speed=False)\n"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), "the worker never started its first step"
    worker = int(pid_file.read_text())
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the worker outlived its supervisor")
