"""The asynchronous executor interface (``submit(spec) -> Future``) and ``run_plan`` on it:
several trials in flight, collected as they complete, none recorded when interrupted; the
process executor's ``jobs=N`` running N trials at once, each pinned to its own CPUs."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from checks import stalling_submission

from optbench import results, search_space, tuning
from optbench.executors import InlineExecutor, LocalProcessExecutor, TrialInterrupted


def _plan(root: Path, trials: int, submission: str = "nadamw", points=None, **options):
    space = search_space.parse(points or [{"learning_rate": 1e-3}] * trials)
    return tuning.plan(
        submission=submission,
        submission_name=Path(submission).stem,
        workloads=["fmnist_mlp"],
        size="smoke",
        rules=tuning.ruleset("external", studies=1, trials=trials),
        space=space,
        experiment_dir=root,
        **options,
    )


class _Threads:
    """A fake asynchronous executor: trial ``i`` is a thread that takes ``seconds[i]`` (ended
    early by ``interrupt``), then writes its result, failed for the trials in ``fails``; the
    trials in ``interrupted`` end at once as interrupted; those in ``catch``, ended early,
    record the KeyboardInterrupt as a crash (as a worker catching BaseException does). It
    records the most trials in flight at once and the order in which they finished."""

    def __init__(self, capacity, seconds=None, fails=(), interrupted=(), catch=()) -> None:
        self.capacity, self.seconds = capacity, seconds or {}
        self.fails, self.interrupted, self.catch = fails, interrupted, catch
        self.pool = ThreadPoolExecutor(8)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = self.most = 0
        self.submitted: list[int] = []
        self.finished: list[int] = []

    def submit(self, spec: tuning.TrialSpec) -> Future:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.submitted.append(spec.trial)
        return self.pool.submit(self._run, spec)

    def _run(self, spec: tuning.TrialSpec) -> dict:
        if spec.trial in self.interrupted:
            raise TrialInterrupted(spec.trial_dir)
        stopped = self.stop.wait(self.seconds.get(spec.trial, 0.1))
        if stopped and spec.trial not in self.catch:
            raise TrialInterrupted(spec.trial_dir)
        failed = stopped or spec.trial in self.fails
        reason = "crashed: KeyboardInterrupt: " if stopped else "on purpose"
        summary = {"status": "failed" if failed else "completed", "failure": reason}
        Path(spec.trial_dir).mkdir(parents=True, exist_ok=True)
        results.write_json(Path(spec.trial_dir) / "result.json", summary)
        with self.lock:
            self.in_flight -= 1
            self.finished.append(spec.trial)
        return summary

    def interrupt(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True)


def test_run_plan_keeps_capacity_in_flight_and_collects_in_completion_order(tmp_path):
    specs = _plan(tmp_path, 4)
    # Trials 1 and 2 start; 2 ends first, 3 takes its slot, then 4; 1 ends last.
    executor = _Threads(capacity=2, seconds={1: 1.5, 2: 0.1, 3: 0.1, 4: 0.1}, fails=(1, 2))
    logged: list[str] = []
    summaries = tuning.run_plan(specs, executor, log=logged.append)
    assert executor.most == 2 and executor.submitted == [1, 2, 3, 4]
    assert executor.finished == [2, 3, 4, 1]
    assert [line.rsplit("trial ", 1)[1][0] for line in logged] == ["2", "1"]  # as they ended
    assert [s["status"] for s in summaries] == ["failed", "failed", "completed", "completed"]
    assert not any(tmp_path.rglob("*.lock"))
    again = _Threads(capacity=2)
    tuning.run_plan(specs, again)  # resuming: every trial is finished, none is submitted
    assert again.submitted == []


def test_an_interrupted_trial_in_flight_ends_the_others_and_none_is_recorded(tmp_path):
    """Trial 1's future says it was interrupted: run_plan raises KeyboardInterrupt, ends trials
    2 and 3 (``interrupt``), and removes the record trial 2 wrote on its way out, which says
    only 'KeyboardInterrupt'."""
    specs = _plan(tmp_path, 3)
    executor = _Threads(capacity=3, seconds={2: 60, 3: 60}, interrupted=(1,), catch=(2,))
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        tuning.run_plan(specs, executor)
    assert time.monotonic() - started < 30 and executor.stop.is_set()
    assert executor.submitted == [1, 2, 3] and executor.finished == [2]
    assert not any(tmp_path.rglob("result.json"))
    assert not any(tmp_path.rglob("*.lock"))


def test_inline_executor_submits_a_finished_future(tmp_path):
    [spec] = _plan(tmp_path, 1, max_steps=2)
    future = InlineExecutor().submit(spec)
    assert future.done() and future.result()["status"] == "completed"
    assert InlineExecutor.capacity == 1


# A submission whose trial (tag from its hyperparameters) records, in init_optimizer_state, its
# supervisor's pid and the CPUs it may use, then stalls on its first attempt.
STALLER = stalling_submission(
    mark='json.dumps({"supervisor": os.getppid(), "cpus": sorted(os.sched_getaffinity(0))})',
    stalls="attempt == 1",
    seconds=300,
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_jobs_run_trials_at_once_on_their_own_cpus_and_ctrl_c_records_none(tmp_path):
    """jobs=2: both trials are in flight together (each stalls until Ctrl-C: with one at a time
    the second would never start), pinned to disjoint CPUs; Ctrl-C ends both without a record;
    running the plan again completes both."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs for two 1-CPU slots")
    (tmp_path / "marks").mkdir()
    (tmp_path / "staller.py").write_text(STALLER)
    specs = _plan(
        tmp_path / "exp", 2, str(tmp_path / "staller.py"), [{"tag": 1}, {"tag": 2}], max_steps=2
    )
    executor = LocalProcessExecutor(jobs=2, slot_threads=1, wall_limit_sec=240)
    main = threading.main_thread().ident

    def interrupt_when_both_stall() -> None:
        deadline = time.monotonic() + 180
        while len(list((tmp_path / "marks").glob("*_1"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C, as the terminal sends it

    threading.Thread(target=interrupt_when_both_stall, daemon=True).start()
    # Python's Ctrl-C handler, as in a terminal: a job a shell starts in the background inherits
    # SIGINT ignored, and then no KeyboardInterrupt would ever come.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tuning.run_plan(specs, executor)
    finally:
        signal.signal(signal.SIGINT, previous)
    marks = [json.loads((tmp_path / "marks" / f"{t}_1").read_text()) for t in (1, 2)]
    assert not set(marks[0]["cpus"]) & set(marks[1]["cpus"]), marks  # their own CPUs
    assert all(len(m["cpus"]) == 1 for m in marks), marks
    assert not any(_alive(m["supervisor"]) for m in marks)  # both trials ended
    assert not any((tmp_path / "exp").rglob("result.json"))  # and neither recorded
    assert not any((tmp_path / "exp").rglob("*.lock"))
    summaries = tuning.run_plan(specs, LocalProcessExecutor(jobs=2, wall_limit_sec=240))
    assert [s["status"] for s in summaries] == ["completed", "completed"], summaries
