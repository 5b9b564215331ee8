"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from optbench.workloads import DEFAULT_SUITE, SIZES, get_workload, workload_class


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def seed(text: str) -> int:
    """argparse type: a seed in [0, 2**31) (what every RNG optbench seeds accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**31), got {text}")
    return value


def existing_dir(text: str) -> Path:
    """argparse type: a folder that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return path


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


DEFAULT_CHECKPOINT_EVERY_SEC = 30.0


def add_submission_args(parser: argparse.ArgumentParser, default: str | None) -> None:
    """``--submission`` (a baseline, a file, a folder or a dotted module) and ``--import-root``."""
    parser.add_argument(
        "--submission",
        required=default is None,
        default=default,
        help="a baseline name (see `optbench list`), a submission .py file, a folder holding "
        "submission.py, or a dotted module path" + (f" (default: {default})" if default else ""),
    )
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


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def add_workload_args(parser: argparse.ArgumentParser, many: bool) -> None:
    """--workload(s), --size, --data-dir, --cache-dir, --download, --device."""
    if many:
        parser.add_argument(
            "--workloads",
            nargs="+",
            metavar="NAME",
            help=f"workloads to run (default: the suite: {' '.join(DEFAULT_SUITE)})",
        )
    else:
        parser.add_argument(
            "--workload",
            metavar="NAME",
            help=f"workload to run (default: each of {' '.join(DEFAULT_SUITE)})",
        )
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


def workload_names(args: argparse.Namespace) -> list[str]:
    """The workloads named on the command line (validated), or the default suite."""
    names = getattr(args, "workloads", None)
    if names is None:
        one = getattr(args, "workload", None)
        names = list(DEFAULT_SUITE) if one is None else [one]
    for name in names:
        workload_class(name)  # raises a one-line error for unknown names
    return names


def make_workload(name: str, args: argparse.Namespace):
    """Instantiate workload ``name`` with the data options of ``args``."""
    return get_workload(
        name,
        args.size,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        allow_download=args.download,
        device=args.device,
    )


def default_experiment_dir(prefix: str) -> Path:
    """``experiments/<prefix>-YYYYmmdd-HHMMSS`` in the current directory."""
    return Path("experiments") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_writable(path: Path) -> None:
    """Create ``path`` if needed; a one-line error if it cannot be written."""
    from optbench.errors import UserError

    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".optbench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"experiment directory {path} is not writable: {exc.strerror}") from None
