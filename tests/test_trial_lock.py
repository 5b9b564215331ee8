"""One process per trial: the O_EXCL lock file beside each trial folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from optbench import trial_lock
from optbench.errors import UserError


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _write_lock(trial, pid: int, host: str | None = None) -> None:
    path = trial_lock.lock_path(trial)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": 0}))


def test_lock_lies_beside_the_trial_and_is_removed_at_the_end(tmp_path):
    trial = tmp_path / "sub" / "study_1" / "wl_pytorch" / "trial_1"
    with trial_lock.holding([trial]) as paths:
        assert paths == [trial.with_name("trial_1.lock")]
        record = json.loads(paths[0].read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert not trial.exists()  # the folder itself is the runner's to make
    assert not paths[0].exists()


def test_a_second_holder_gets_a_one_line_error_naming_the_owner(tmp_path):
    trial = tmp_path / "trial_1"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            _write_lock(trial, other.pid)
            with pytest.raises(trial_lock.TrialLocked) as info:
                trial_lock.acquire(trial)
            message = str(info.value)
            assert isinstance(info.value, UserError) and "\n" not in message
            assert f"process {other.pid}" in message and "being run by" in message
            assert json.loads(trial_lock.lock_path(trial).read_text())["pid"] == other.pid
        finally:
            other.kill()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    trial = tmp_path / "trial_1"
    _write_lock(trial, _dead_pid())
    path = trial_lock.acquire(trial)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    trial_lock.release(path)
    assert not path.exists()


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    trial = tmp_path / "trial_1"
    _write_lock(trial, _dead_pid(), host="elsewhere.invalid")
    with pytest.raises(trial_lock.TrialLocked, match=r"on elsewhere\.invalid"):
        trial_lock.acquire(trial)


def test_an_empty_lock_is_held_briefly_then_stale(tmp_path):
    trial = tmp_path / "trial_1"
    path = trial_lock.lock_path(trial)
    path.write_text("")  # a process killed between creating and writing it
    with pytest.raises(trial_lock.TrialLocked, match="another process"):
        trial_lock.acquire(trial)
    old = time.time() - trial_lock.EMPTY_GRACE_SEC - 5
    os.utime(path, (old, old))
    assert trial_lock.acquire(trial) == path


def test_all_or_none_and_release_leaves_a_taken_over_lock_alone(tmp_path):
    free, busy = tmp_path / "trial_1", tmp_path / "trial_2"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            _write_lock(busy, other.pid)
            with pytest.raises(trial_lock.TrialLocked), trial_lock.holding([free, busy]):
                pass
            assert not trial_lock.lock_path(free).exists()  # released when the second failed
            trial_lock.release(trial_lock.lock_path(busy))  # not ours: left alone
            assert trial_lock.lock_path(busy).exists()
        finally:
            other.kill()


def test_concurrent_acquirers_exactly_one_wins(tmp_path):
    trial, go, done = tmp_path / "trial_1", tmp_path / "go", tmp_path / "done"
    code = f"""
import os, time
from optbench import trial_lock
print("ready", flush=True)
while not os.path.exists({str(go)!r}):
    time.sleep(0.01)
try:
    trial_lock.acquire({str(trial)!r})
    print("won", flush=True)
except trial_lock.TrialLocked:
    print("lost", flush=True)
while not os.path.exists({str(done)!r}):  # the winner holds the lock until all have tried
    time.sleep(0.01)
"""
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 4
        go.touch()
        outcomes = sorted(p.stdout.readline().strip() for p in procs)
    finally:
        done.touch()
        for p in procs:
            p.communicate(timeout=60)
    assert outcomes == ["lost", "lost", "lost", "won"]
