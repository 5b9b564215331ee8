"""Argument types, argument blocks and checks shared by the sub-commands.

Nothing here imports torch or the workloads at module level: ``optbench --help`` builds no
command's parser, and a command imports them only when it is the one being run.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optbench.errors import UserError

DEFAULT_CHECKPOINT_EVERY_SEC = 30.0


# --------------------------------------------------------------------------------------------
# argparse types: a wrong value is argparse's one-line error, exit status 2
# --------------------------------------------------------------------------------------------
def _number(text: str, kind: type, ok: Callable[[Any], bool], requirement: str) -> Any:
    """``text`` as a ``kind`` (int or float) satisfying ``ok``; else argparse's error."""
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, lambda v: 0 < v < math.inf, "a positive number")


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return _number(text, float, lambda v: 0 <= v < math.inf, "a non-negative number")


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    return _number(text, int, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, lambda v: v >= 0, "a non-negative integer")


def seed(text: str) -> int:
    """argparse type: a seed in [0, 2**31) (what every RNG optbench seeds accepts)."""
    return _number(text, int, lambda v: 0 <= v < 2**31, "in [0, 2**31)")


def existing_dir(text: str) -> Path:
    """argparse type: a folder that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return path


def device_name(text: str) -> str:
    """``--device``: ``auto`` becomes ``cuda`` where CUDA is present, else ``cpu``; a CUDA device
    on a machine without one is an error (a trial would fail at its first tensor)."""
    import torch

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"not a torch device: {text!r} (cpu, cuda, cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(
            f"{text}: this machine has no CUDA device (torch {torch.__version__}); use cpu"
        )
    return text


# --------------------------------------------------------------------------------------------
# Argument blocks
# --------------------------------------------------------------------------------------------
def add_submission_args(parser: argparse.ArgumentParser, default: str | None) -> None:
    """``--submission`` (a baseline, a file, a folder or a dotted module) and ``--import-root``."""
    parser.add_argument(
        "--submission",
        required=default is None,
        default=default,
        help="a baseline name (see `optbench list`), a submission .py file, a folder holding "
        "submission.py, or a dotted module path" + (f" (default: {default})" if default else ""),
    )
    add_import_root_arg(parser)


def add_import_root_arg(parser: argparse.ArgumentParser) -> None:
    """``--import-root DIR``."""
    parser.add_argument(
        "--import-root",
        type=Path,
        metavar="DIR",
        help="a folder put first on the import path, for submissions that import themselves "
        "by an AlgoPerf checkout path (submissions.submissions_algorithms_v0_5...)",
    )


def add_checkpoint_args(parser: argparse.ArgumentParser) -> None:
    """--checkpoint-every SEC / --no-checkpoints (dest: checkpoint_every)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--checkpoint-every",
        type=non_negative_float,
        default=DEFAULT_CHECKPOINT_EVERY_SEC,
        metavar="SEC",
        help="after an eval, checkpoint the trial if SEC wall seconds passed since the last "
        "checkpoint (0: after every eval; default 30); a killed trial resumes from it",
    )
    group.add_argument(
        "--no-checkpoints",
        dest="checkpoint_every",
        action="store_const",
        const=None,
        help="never checkpoint: a killed trial restarts from the beginning",
    )


def add_workload_args(parser: argparse.ArgumentParser, many: bool) -> None:
    """--workload(s), --size, --data-dir, --cache-dir, --download, --device."""
    from optbench.workloads import DEFAULT_SUITE, SIZES

    suite = " ".join(DEFAULT_SUITE)
    if many:
        parser.add_argument(
            "--workloads", nargs="+", metavar="NAME", help=f"default: the suite: {suite}"
        )
    else:
        parser.add_argument("--workload", metavar="NAME", help=f"default: each of {suite}")
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="mini",
        help="smoke: seconds, for tests; mini (default): the CPU suite",
    )
    parser.add_argument(
        "--data-dir", type=existing_dir, help="directory holding the workload's raw data"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="where prepared data is cached (default: ~/.cache/optbench)"
    )
    parser.add_argument(
        "--download", action="store_true", help="allow downloading data from its canonical source"
    )
    parser.add_argument(
        "--device",
        type=device_name,
        default="auto",
        help="torch device: auto (default: cuda where present, else cpu), cpu, cuda, cuda:N",
    )


def add_run_args(parser: argparse.ArgumentParser, prefix: str, seed_help: str) -> None:
    """What every training command takes: --seed, --experiment-dir, --no-progress."""
    parser.add_argument("--seed", type=seed, default=0, help=seed_help)
    parser.add_argument(
        "--experiment-dir",
        type=Path,
        metavar="DIR",
        help=f"where trials are written (default: experiments/{prefix}-<time>)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_trial_limit_args(parser: argparse.ArgumentParser) -> None:
    """--batch-size, --max-steps, --eval-every-steps (``run`` and ``tune``)."""
    parser.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="override the submission's batch size"
    )
    parser.add_argument("--max-steps", type=positive_int, metavar="N", help="step cap")
    parser.add_argument(
        "--eval-every-steps",
        type=positive_int,
        metavar="N",
        help="evaluate at step 1 and every N steps instead of every eval period of "
        "submission time (machine-independent curves; not AlgoPerf's rule)",
    )


def add_profile_args(parser: argparse.ArgumentParser, slots: bool = False) -> None:
    """``--profile PATH|NAME`` (the trials' budgets: :mod:`optbench.profiles`), and with
    ``slots`` ``--jobs N`` and ``--threads-per-trial T`` (parallel slots on one machine)."""
    parser.add_argument(
        "--profile",
        metavar="PATH|NAME",
        help="hardware profile whose budgets the trials get: a file written by `optbench "
        "calibrate`, or cpu-2threads (default on cpu: the committed budgets); required on cuda",
    )
    if slots:
        parser.add_argument(
            "--jobs",
            type=positive_int,
            default=1,
            metavar="N",
            help="trials run at once, each in its own slot of disjoint CPUs (default 1)",
        )
        parser.add_argument(
            "--threads-per-trial",
            type=positive_int,
            metavar="T",
            help="CPU threads of each slot (default: the profile's); the profile must be "
            "calibrated for T threads",
        )


def add_search_space_arg(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--tuning-search-space FILE``."""
    parser.add_argument("--tuning-search-space", type=Path, metavar="FILE", help=help_text)


# --------------------------------------------------------------------------------------------
# From the parsed arguments
# --------------------------------------------------------------------------------------------
def workload_names(args: argparse.Namespace) -> list[str]:
    """The workloads named on the command line (validated), or the default suite."""
    from optbench.workloads import DEFAULT_SUITE, workload_class

    names = getattr(args, "workloads", None)
    if names is None:
        one = getattr(args, "workload", None)
        names = list(DEFAULT_SUITE) if one is None else [one]
    for name in names:
        workload_class(name)  # raises a one-line error for unknown names
    return names


def workload_options(args: argparse.Namespace) -> dict[str, Any]:
    """The workload constructor's data and device options from ``args``."""
    return {
        "data_dir": args.data_dir,
        "cache_dir": args.cache_dir,
        "allow_download": args.download,
        "device": args.device,
    }


def trial_profile(args: argparse.Namespace):
    """The hardware profile (:class:`optbench.profiles.Profile`) of ``args`` (``--profile``,
    ``--device``, ``--size``, ``--jobs``, ``--threads-per-trial``); one-line errors."""
    from optbench import profiles

    return profiles.for_trials(
        args.profile,
        args.device,
        args.size,
        threads=getattr(args, "threads_per_trial", None),
        jobs=getattr(args, "jobs", 1),
    )


def make_workload(name: str, args: argparse.Namespace, profile: Any = None):
    """Instantiate workload ``name`` with the data options of ``args`` and, given a hardware
    ``profile``, that profile's budget (the runner reads ``max_allowed_runtime_sec``)."""
    from optbench.workloads import get_workload

    options = workload_options(args)
    if profile is not None:
        options["settings"] = profile.settings(name, args.size)
    return get_workload(name, args.size, **options)


def default_experiment_dir(prefix: str) -> Path:
    """``experiments/<prefix>-YYYYmmdd-HHMMSS`` in the current directory."""
    return Path("experiments") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def experiment_dir(args: argparse.Namespace, prefix: str) -> Path:
    """``--experiment-dir``, else :func:`default_experiment_dir`."""
    return args.experiment_dir or default_experiment_dir(prefix)


def check_writable(path: Path) -> None:
    """Create ``path`` if needed; a one-line error if it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".optbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"experiment directory {path} is not writable: {exc.strerror}") from None


def announce(head: str, specs: list, experiment: Path) -> None:
    """The line a training command prints before its trials: what it runs and where."""
    from optbench import tuning

    done = sum(tuning.is_finished(s) for s in specs)
    print(f"{head} = {len(specs)} trials ({done} done before); writing to {experiment}", flush=True)
