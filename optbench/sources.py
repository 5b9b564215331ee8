"""A submission's identity: its name and a digest of the source it was loaded from.

Two submissions may share a file name (every AlgoPerf submission is a ``submission.py``), so a
result is tied to a digest of the source tree, not to the name: a result written by another
source is never taken as "done before".
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_SOURCE_SUFFIXES = (".py", ".json")
_MAX_FILES = 5000  # a folder this large is not a submission's source tree


def digest_of_text(text: str) -> str:
    """The SHA-256 hex digest of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


def _is_package(file: Path) -> bool:
    return file.name in ("submission.py", "__init__.py") or (file.parent / "__init__.py").exists()


def source_files(file: Path) -> list[Path]:
    """The files that make up the submission whose module is ``file``: the whole folder (``.py``
    and ``.json``, recursively) for a package-like submission (``submission.py``, or a folder
    with ``__init__.py``), else the ``.py`` files beside ``file`` and its search space."""
    folder = file.resolve().parent
    if _is_package(file):
        found = (p for p in folder.rglob("*") if p.suffix in _SOURCE_SUFFIXES)
    else:
        found = (p for p in folder.glob("*") if p.suffix == ".py")
        found = [*found, *folder.glob("tuning_search_space.json")]
    files = sorted(
        p
        for p in found
        if p.is_file() and not any(part.startswith((".", "__pycache__")) for part in p.parts)
    )
    return files[:_MAX_FILES]


def digest(file: Path) -> str:
    """SHA-256 over the relative paths and bytes of :func:`source_files` (order-independent of
    the file system), the first 16 hex digits: enough to tell sources apart, short to read."""
    folder = file.resolve().parent
    h = hashlib.sha256()
    for path in source_files(file):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def submission_name(file: Path, folder_given: bool = False) -> str:
    """The name results are filed under: the folder's name for a folder, ``submission.py`` or
    ``__init__.py``; the file's stem otherwise."""
    resolved = file.resolve()
    if folder_given or resolved.name in ("submission.py", "__init__.py"):
        return resolved.parent.name
    return resolved.stem
