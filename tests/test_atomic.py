"""Result files are written atomically: a kill at any moment leaves old or new, never half."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from optbench.atomic import atomic_write_text
from optbench.results import read_eval_measurements, write_eval_measurements

WRITER = """
import sys
from optbench.results import write_eval_measurements
path = sys.argv[1]
rows = []
i = 0
while True:
    i += 1
    rows.append({"global_step": i, "score": i * 0.5, "validation/accuracy": 0.1,
                 "padding": "x" * 2000})
    write_eval_measurements(__import__("pathlib").Path(path), rows)
    print(i, flush=True)
"""


def test_kill_mid_write_leaves_a_complete_file(tmp_path):
    path = tmp_path / "eval_measurements.csv"
    for attempt in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()  # at least one complete write happened
        time.sleep(0.05 + 0.03 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, "the file is never empty"
        # Every row complete and the steps consecutive: the file is one whole write.
        assert [int(r["global_step"]) for r in rows] == list(range(1, len(rows) + 1))
        assert all(len(r["padding"]) == 2000 for r in rows)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    def crash(*args):
        raise OSError("disk died")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk died"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary left behind


def test_eval_measurements_roundtrip(tmp_path):
    rows = [{"global_step": 1, "score": 0.25, "validation/loss": float("inf")}]
    write_eval_measurements(tmp_path / "e.csv", rows)
    assert read_eval_measurements(tmp_path / "e.csv") == [
        {"global_step": 1.0, "score": 0.25, "validation/loss": float("inf")}
    ]
