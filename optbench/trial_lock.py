"""One process at a time per trial: a lock file beside each trial folder.

Two processes running the same trial would both write its ``result.json``, the later one
replacing the other's. So whoever starts a trial first creates ``trial_<i>.lock`` next to
``trial_<i>/`` with ``O_CREAT | O_EXCL`` (atomic: exactly one creator wins), recording its pid
and host, and removes it when the trial ends, however it ends. A second process finding the lock
gets a one-line error naming the owner. A lock whose owner is no longer alive on this host (a
process killed with SIGKILL leaves its lock behind) is stale and is taken over.

The lock lies beside the folder, not in it: an unfinished trial's folder is deleted and made
afresh when it runs again. The scorer reads folders only, so lock files never look like trials.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from optbench.errors import UserError

SUFFIX = ".lock"
# A lock file still empty after this long was left by a process killed between creating and
# writing it.
EMPTY_GRACE_SEC = 10.0


class TrialLocked(UserError):
    """Another live process holds the trial's lock."""


def lock_path(trial_dir: str | os.PathLike[str]) -> Path:
    """``.../trial_<i>.lock`` beside ``.../trial_<i>/``."""
    trial = Path(trial_dir)
    return trial.with_name(trial.name + SUFFIX)


def _owner(path: Path) -> dict | None:
    """The lock's record (``pid``, ``host``, ``started``); None when empty or unreadable."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _is_stale(path: Path, owner: dict | None) -> bool:
    """Whether the lock's owner is gone: a dead pid on this host, or a lock left empty."""
    if owner is None:
        try:
            return time.time() - path.stat().st_mtime > EMPTY_GRACE_SEC
        except FileNotFoundError:
            return True
    return owner.get("host") == socket.gethostname() and not _alive(owner["pid"])


def _create(path: Path) -> bool:
    """Create the lock with this process's record; False when it exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    return True


def acquire(trial_dir: str | os.PathLike[str]) -> Path:
    """Take the lock of ``trial_dir`` (taking over a stale one); return the lock file's path.

    Raises :class:`TrialLocked` (a one-line user error) when a live process holds it.
    """
    path = lock_path(trial_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        if _create(path):
            return path
        try:
            before = path.stat()
        except FileNotFoundError:
            continue  # released meanwhile
        owner = _owner(path)
        if not _is_stale(path, owner):
            who = f"process {owner['pid']} on {owner.get('host')}" if owner else "another process"
            raise TrialLocked(
                f"{trial_dir} is being run by {who} (lock {path}); wait for it to finish, or "
                "delete the lock if that process is gone"
            )
        try:  # remove the stale lock only if nobody replaced it since it was read
            now = path.stat()
            if (now.st_ino, now.st_mtime_ns) == (before.st_ino, before.st_mtime_ns):
                path.unlink()
        except FileNotFoundError:
            pass
    raise TrialLocked(f"{trial_dir}: could not take its lock {path} (it keeps changing)")


def release(path: Path) -> None:
    """Remove a lock this process holds (a lock another process took over is left alone)."""
    owner = _owner(path)
    if owner is not None and owner["pid"] == os.getpid():
        path.unlink(missing_ok=True)


@contextmanager
def holding(trial_dirs: Iterable[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """Hold the locks of all ``trial_dirs`` for the ``with`` block (all or none: a lock held
    elsewhere releases those already taken and raises :class:`TrialLocked`)."""
    taken: list[Path] = []
    try:
        for trial_dir in trial_dirs:
            taken.append(acquire(trial_dir))
        yield taken
    finally:
        for path in taken:
            release(path)
