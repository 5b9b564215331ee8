"""Where a full-size data set lies under ``--data-dir``: the folder itself, or one of the folders
that the set-up steps make in it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from optbench.errors import UserError


def search_data_dir(
    data_dir: str | Path | None,
    *,
    needs: str,
    folders: Sequence[str],
    is_root: Callable[[Path], bool],
    missing: Callable[[Path], str] | None = None,
) -> Path:
    """The first of ``data_dir`` and its ``folders`` (relative paths) that ``is_root``.

    Without a ``data_dir``, the one-line error ``needs`` (what ``--data-dir`` should name). When
    no candidate is a root, the one-line error ``missing(data_dir)``; without ``missing``,
    ``data_dir`` itself (for a loader that names the files it misses as it reads them)."""
    if data_dir is None:
        raise UserError(needs)
    data_dir = Path(data_dir)
    for root in (data_dir, *(data_dir / folder for folder in folders)):
        if is_root(root):
            return root
    if missing is None:
        return data_dir
    raise UserError(missing(data_dir))
