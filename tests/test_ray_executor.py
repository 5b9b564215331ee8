"""The Ray executor (``optbench tune --executor ray``) on a local Ray cluster that this module
starts (``ray start --head`` on this machine, 4 logical CPUs: two 2-thread trials at once) and
stops: a trial whose Ray worker is killed is retried once in another worker, one killed twice is
recorded as failed, Ctrl-C ends the study without recording the trial in flight (its worker is
ended too), and running the study again completes it without re-running a finished trial.

Skipped where ray is not installed (``pip install 'optbench[ray]'``; ``scripts/install.sh --test``
installs it, so CI runs it). The cluster uses token authentication with a token of its own (no
file in ~/.ray is read or written)."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from checks import stalling_submission

from optbench import search_space, tuning
from optbench.executors import ray_executor

ROOT = Path(__file__).resolve().parents[1]

# Trial ``tag`` (a hyperparameter) records each attempt, with its supervisor's pid (the Ray
# worker running the task) and its own, when its submission's worker starts; its first
# ``stalls`` attempts then stall (in the untimed init_optimizer_state) until something ends them.
SUBMISSION = stalling_submission(
    mark='f"{os.getppid()} {os.getpid()}"',
    stalls="attempt <= int(hyperparameters.stalls)",
    seconds=600,
)
# Trial 1: its first worker is killed; the retry, in another worker, stalls until the study is
# interrupted; run again, the trial completes. Trial 2: both its workers killed: failed.
POINTS = [{"tag": 1, "stalls": 2}, {"tag": 2, "stalls": 2}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _wait(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, f"the study ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster():
    """A Ray head node on this machine (its own process group, killed afterwards); yields its
    address and the environment a driver needs to join it."""
    pytest.importorskip(
        "ray", reason="ray is not installed: pip install 'optbench[ray]' (CI installs it)"
    )
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="obray")  # short: Ray's socket paths must fit 107 bytes
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=4",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        address = f"127.0.0.1:{port}"
        _wait(lambda: _answers(port), 120, "the Ray head node")
        yield address, env
    finally:
        _kill_session(head.pid)  # ``ray start --block`` takes minutes to act on SIGTERM
        head.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid``: the cluster's (its head started it; Ray's
    workers have process groups of their own within it)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                if os.getsid(int(entry.name)) == sid:
                    os.kill(int(entry.name), signal.SIGKILL)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _study(tmp: Path, address: str, env: dict) -> subprocess.Popen:
    """``optbench tune --executor ray`` of the POINTS trials, as a process of its own."""
    argv = [sys.executable, "-m", "optbench", "tune", "--executor", "ray", "--address", address,
            "--submission", str(tmp / "stalling.py"), "--tuning-search-space",
            str(tmp / "points.json"), "--studies", "1", "--trials", "2", "--workloads",
            "fmnist_mlp", "--size", "smoke", "--max-steps", "2", "--no-progress",
            "--experiment-dir", str(tmp / "exp")]  # fmt: skip
    with open(tmp / "driver.log", "a") as log:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            # a job a shell starts in the background inherits SIGINT ignored
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _result(tmp: Path, trial: int) -> dict | None:
    path = tmp / "exp" / "stalling" / "study_1" / "fmnist_mlp_pytorch" / f"trial_{trial}"
    return (
        json.loads((path / "result.json").read_text()) if (path / "result.json").exists() else None
    )


def _mark(tmp: Path, tag: int, attempt: int, which: int = 0) -> int | None:
    """The pid of attempt ``attempt`` of trial ``tag``'s supervisor (``which`` 0) or of its
    submission's worker (1); None before it is written."""
    path = tmp / "marks" / f"{tag}_{attempt}"
    pids = path.read_text().split() if path.exists() else []
    return int(pids[which]) if len(pids) == 2 else None


@pytest.mark.slow
def test_lost_workers_are_retried_once_and_an_interrupted_study_resumes(cluster, tmp_path):
    address, env = cluster
    (tmp_path / "marks").mkdir()
    (tmp_path / "stalling.py").write_text(SUBMISSION)
    (tmp_path / "points.json").write_text(json.dumps(POINTS))
    study = _study(tmp_path, address, env)
    try:
        for tag, attempt in ((1, 1), (2, 1), (2, 2)):  # kill these attempts' Ray workers
            _wait(lambda t=tag, a=attempt: _mark(tmp_path, t, a), 240, f"{tag}_{attempt}", study)
            os.kill(_mark(tmp_path, tag, attempt), signal.SIGKILL)
        _wait(lambda: _result(tmp_path, 2), 240, "trial 2's record", study)
        _wait(lambda: _mark(tmp_path, 1, 2), 240, "trial 1's retry", study)
        study.send_signal(signal.SIGINT)  # Ctrl-C while trial 1's retry runs
        assert study.wait(timeout=120) == 130, (tmp_path / "driver.log").read_text()
    finally:
        if study.poll() is None:
            study.kill()
    log = (tmp_path / "driver.log").read_text()
    assert _mark(tmp_path, 1, 2) != _mark(tmp_path, 1, 1), log  # retried in another worker
    failed = _result(tmp_path, 2)
    assert failed["status"] == "failed" and failed["failure"].startswith("worker lost 2 times")
    assert "WorkerCrashedError" in failed["failure"], failed
    assert _result(tmp_path, 1) is None  # interrupted: not recorded, and ended (both processes)
    assert not _alive(_mark(tmp_path, 1, 2)) and not _alive(_mark(tmp_path, 1, 2, which=1))
    assert not any((tmp_path / "exp").rglob("*.lock"))
    finished = (failed, _mtime(tmp_path, 2))

    again = _study(tmp_path, address, env)  # resumes: only trial 1 runs, and completes
    assert again.wait(timeout=240) == 3, (tmp_path / "driver.log").read_text()  # trial 2 failed
    assert _result(tmp_path, 1)["status"] == "completed"
    meta = json.loads(next((tmp_path / "exp").rglob("trial_1/meta_data.json")).read_text())
    assert meta["environment"]["torch_threads"] == 2  # the task's CPUs (the profile's threads)
    assert (_result(tmp_path, 2), _mtime(tmp_path, 2)) == finished
    # Trial 1 ran 3 times (killed, interrupted, completed), trial 2 twice (killed twice), and
    # never again once recorded:
    marks = sorted(p.name for p in (tmp_path / "marks").iterdir())
    assert marks == ["1_1", "1_2", "1_3", "2_1", "2_2"]
    assert len(list((tmp_path / "exp").rglob("result.json"))) == 2


def _mtime(tmp: Path, trial: int) -> int:
    return next((tmp / "exp").rglob(f"trial_{trial}/result.json")).stat().st_mtime_ns


# --- without a cluster -------------------------------------------------------------------
def _spec(tmp: Path, device: str = "cpu") -> tuning.TrialSpec:
    [spec] = tuning.plan(
        submission=str(tmp / "stalling.py"),
        submission_name="stalling",
        workloads=["fmnist_mlp"],
        size="smoke",
        rules=tuning.ruleset("external", studies=1, trials=1),
        space=search_space.parse([{"tag": 7, "stalls": 1}]),
        experiment_dir=tmp / "exp",
        workload_options={"device": device},
        max_steps=2,
    )
    return spec


def test_task_resources_follow_the_trial_device(tmp_path):
    assert ray_executor.task_options(_spec(tmp_path), 2) == {"num_cpus": 2, "num_gpus": 0}
    cuda = ray_executor.task_options(_spec(tmp_path, "cuda:1"), 4)
    assert cuda == {"num_cpus": 4, "num_gpus": 1}
    for good in ("auto", "local", "10.0.0.5:6379", "head-node:6379"):
        assert ray_executor.address_arg(good) == good
    for bad in ("head-node", ":6379", "head:port", "head:70000"):
        with pytest.raises(Exception, match="expected auto, local or HOST:PORT"):
            ray_executor.address_arg(bad)


def test_a_task_past_its_wall_limit_records_a_hang_and_ends_its_worker(tmp_path):
    """The task's own watchdog (Ray has no task timeout): past the limit it records the hang
    and ends the process running it (as a Ray worker, whose retry then finds the record)."""
    (tmp_path / "marks").mkdir()
    (tmp_path / "stalling.py").write_text(SUBMISSION)
    spec = _spec(tmp_path)
    process = multiprocessing.get_context("spawn").Process(
        target=ray_executor.run_trial_task, args=(spec, 3.0)
    )
    process.start()
    process.join(180)
    assert process.exitcode == 3
    result = json.loads((Path(spec.trial_dir) / "result.json").read_text())
    assert result["failure"] == "hang: exceeded the wall-clock limit of 3 s"
    worker = _mark(tmp_path, 7, 1, which=1)
    _wait(lambda: not _alive(worker), 10, "the trial's worker to end with its supervisor")
    # Run again (a retry): the record is final, and returned without running anything.
    assert ray_executor.run_trial_task(spec, 3.0) == result
