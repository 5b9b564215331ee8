"""Kill anywhere, lose nothing: SIGKILL a running study at random moments, resume, compare.

The final experiment directory must hold every trial exactly once, with eval rows identical (time
columns and preemption_count aside) to an uninterrupted run with the same seeds. Trials checkpoint
after every eval here, so a kill mid-trial resumes from the last checkpoint (preemption_count + 1);
a kill before a trial's first checkpoint restarts it cleanly.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from optbench.results import TIME_COLUMNS, read_eval_measurements, read_json

TUNE = [
    sys.executable,
    "-m",
    "optbench",
    "tune",
    "--submission",
    "nadamw",
    "--ruleset",
    "external",
    "--workloads",
    "fmnist_mlp",
    "--size",
    "smoke",
    "--studies",
    "2",
    "--trials",
    "2",
    "--max-steps",
    "60",
    "--eval-every-steps",
    "20",
    "--checkpoint-every",
    "0",
    "--executor",
    "inline",
    "--no-progress",
]


def _tune(exp: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*TUNE, "--experiment-dir", str(exp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )


def _trials(exp: Path) -> dict[str, list[dict]]:
    out = {}
    for result in sorted(exp.rglob("result.json")):
        rows = read_eval_measurements(result.parent / "eval_measurements.csv")
        out[str(result.parent.relative_to(exp))] = [
            {k: v for k, v in row.items() if k not in TIME_COLUMNS or k == "global_step"}
            for row in rows
        ]
    return out


def _wait_for_new_checkpoint(exp: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    def stamps() -> dict[Path, int]:
        out = {}
        for path in exp.rglob("checkpoint.pt"):
            with contextlib.suppress(FileNotFoundError):
                out[path] = path.stat().st_mtime_ns
        return out

    before = stamps()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        now = stamps()
        if any(before.get(path) != stamp for path, stamp in now.items()):
            return
        time.sleep(0.005)


def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert _tune(reference).wait(timeout=300) == 0
    expected = _trials(reference)
    assert len(expected) == 4 and all(len(rows) >= 2 for rows in expected.values())

    # A fast machine may finish a run before ten kills land: such a run is checked like the
    # final one and the kills go on in a fresh directory.
    rng = random.Random(1234)
    kills = attempts = 0
    finished: list[Path] = []
    exp = tmp_path / "killed_0"
    while kills < 10 and attempts < 60:
        attempts += 1
        proc = _tune(exp)
        if kills % 3 == 0:  # every third kill lands right after a checkpoint is written
            _wait_for_new_checkpoint(exp, proc)
        else:
            time.sleep(rng.uniform(0.3, 5.0))
        if proc.poll() is not None:  # finished before the kill
            assert proc.returncode == 0
            finished.append(exp)
            exp = tmp_path / f"killed_{len(finished)}"
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    assert kills >= 10, f"only {kills} kills landed"
    assert _tune(exp).wait(timeout=300) == 0
    finished.append(exp)
    preempted = []
    for run in finished:
        assert _trials(run) == expected
        # Each trial exactly once, each with a final record; no temporary files left behind.
        results = sorted(p.parent for p in run.rglob("result.json"))
        assert len(results) == 4 == len(set(results))
        assert all(read_json(p / "result.json")["status"] == "completed" for p in results)
        preempted += [read_json(p / "result.json")["preemption_count"] for p in results]
        assert not [p for p in run.rglob("checkpoint.pt")]  # removed once each result is final
        assert not [p for p in run.rglob("*.tmp")]
    assert sum(preempted) >= 1, preempted  # some kills landed after a checkpoint: resumed
