"""The trial directory, in AlgoPerf's layout, written atomically.

``EXP/<submission>/study_<k>/<workload>_pytorch/trial_<i>/`` holds

* ``eval_measurements.csv``: one row per eval, AlgoPerf's columns (sorted, as AlgoPerf writes them);
* ``hparams.json``: the hyperparameter point (``null`` under self-tuning);
* ``meta_data.json``: versions, machine, seed, the workload's properties;
* ``result.json`` (optbench): status (completed / failed), reason, time-to-target, steps.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optbench.atomic import atomic_write_json, atomic_write_text

TIME_COLUMNS = (
    "accumulated_eval_time",
    "accumulated_logging_time",
    "accumulated_submission_time",
    "global_step",
    "preemption_count",
    "score",
    "total_duration",
)


def trial_dir(
    experiment_dir: str | os.PathLike, submission: str, study: int, workload: str, trial: int
) -> Path:
    """The folder of one trial (studies and trials numbered from 1, as AlgoPerf does)."""
    return (
        Path(experiment_dir)
        / submission
        / f"study_{study}"
        / f"{workload}_pytorch"
        / f"trial_{trial}"
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return (
            repr(value)
            if math.isfinite(value)
            else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
        )
    return str(value)


def write_eval_measurements(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write all eval rows as ``eval_measurements.csv`` (atomically, whole file)."""
    columns = sorted({key for row in rows for key in row})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in columns])
    atomic_write_text(path, buffer.getvalue())


def read_eval_measurements(path: Path) -> list[dict[str, float]]:
    """The rows of an ``eval_measurements.csv`` as floats (empty cells omitted)."""
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every trial."""
    import numpy
    import torch

    from optbench import __version__

    cuda = torch.cuda.is_available()
    return {
        "optbench_version": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "hostname": platform.node(),
    }


# The files of a trial whose sha256 its result.json records (the runner writes all of them).
DIGESTED_FILES = ("eval_measurements.csv", "meta_data.json", "hparams.json")


def file_digests(trial: Path, names: Sequence[str] = DIGESTED_FILES) -> dict[str, str]:
    """sha256 of each of ``names`` present in ``trial``: a trial's files altered after the run
    no longer match what its result.json recorded (``optbench score`` checks)."""
    return {
        name: hashlib.sha256((Path(trial) / name).read_bytes()).hexdigest()
        for name in names
        if (Path(trial) / name).is_file()
    }


def write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write (re-exported so trial writers need one import)."""
    atomic_write_json(path, obj)


def read_json(path: Path) -> Any:
    """Read a JSON file; None if it does not exist."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
