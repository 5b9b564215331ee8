"""The on-disk cache of prepared arrays: one ``.npz`` per dataset, with provenance beside it."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from optbench.atomic import atomic_write_bytes, atomic_write_json


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/optbench`` (or ``~/.cache/optbench``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "optbench"


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """A sha256 over the names, dtypes, shapes and bytes of ``arrays`` (order-independent)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def cached_arrays(
    cache_dir: Path, key: str, prepare: Callable[[], tuple[dict[str, np.ndarray], dict]]
) -> tuple[dict[str, np.ndarray], dict]:
    """Load the arrays cached under ``key``, preparing (and caching) them on first use.

    ``prepare`` returns ``(arrays, provenance)``. The provenance JSON records the checksum of the
    arrays; a cache file whose checksum no longer matches is prepared again.
    """
    cache_dir = Path(cache_dir)
    data_path, meta_path = cache_dir / f"{key}.npz", cache_dir / f"{key}.json"
    if data_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(data_path) as npz:
                arrays = {name: npz[name] for name in npz.files}
            if arrays_digest(arrays) == meta.get("sha256"):
                return arrays, meta
        except (OSError, ValueError, KeyError):
            pass  # corrupt or partial cache entry: prepare it again below
    arrays, provenance = prepare()
    meta = {**provenance, "sha256": arrays_digest(arrays)}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(data_path, buffer.getvalue())
        atomic_write_json(meta_path, meta)
    except OSError:
        pass  # a read-only cache is not an error: the arrays are in memory
    return arrays, meta
