"""Lets AlgoPerf submissions import ``algoperf`` / ``algorithmic_efficiency`` without the package.

:func:`shim_path` is appended (not prepended) to ``sys.path`` while a submission file is loaded, so
a real AlgoPerf installation, where present, still wins.
"""

from __future__ import annotations

from pathlib import Path

SHIM_DIR = Path(__file__).resolve().parent / "shims"


def shim_path() -> str:
    """The directory holding the stand-in ``algoperf`` and ``algorithmic_efficiency`` packages."""
    return str(SHIM_DIR)
