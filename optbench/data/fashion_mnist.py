"""Fashion-MNIST (Xiao et al., 2017; MIT licence): locate the IDX files, verify, parse, cache.

Sources, in order: a directory the user names; the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``); files downloaded earlier into the cache; the canonical
download (only when the caller allows the network). Files are verified by the sha256 of their
*decompressed* bytes, so a recompressed copy (Debian's) verifies as well as the original.

Fixed split: the 60,000 training images are split by a fixed permutation (seed 0) into 55,000
train and 5,000 validation; the 10,000 ``t10k`` images are the test set.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from optbench.data.cache import cached_arrays, default_cache_dir
from optbench.errors import UserError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CANONICAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# sha256 of the decompressed IDX files.
FILES = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
NUM_VALIDATION = 5_000
HOW_TO_GET = (
    "Fashion-MNIST not found: install it with `apt-get install dataset-fashion-mnist`, "
    "pass --data-dir DIR holding the four *-ubyte.gz files, or pass --download"
)


def parse_idx(raw: bytes) -> np.ndarray:
    """Parse an (uncompressed) IDX file of unsigned bytes into an array of its declared shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"IDX size mismatch: header says {tuple(dims)}, found {data.size} bytes")
    return data.reshape(tuple(dims))


def _read_verified(path: Path) -> bytes:
    raw = gzip.decompress(path.read_bytes())
    if hashlib.sha256(raw).hexdigest() != FILES[path.name]:
        raise UserError(f"checksum mismatch for {path}: the file is corrupt or not Fashion-MNIST")
    return raw


def download(dest: Path, base_url: str = CANONICAL_URL) -> Path:
    """Download the four files from ``base_url`` into ``dest`` and verify them; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = dest / name
        if target.exists():
            continue
        partial = dest / f".{name}.part"
        try:
            with (
                urllib.request.urlopen(base_url + name, timeout=60) as response,
                partial.open("wb") as out,
            ):
                shutil.copyfileobj(response, out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise UserError(f"could not download {base_url + name}: {exc}") from exc
        partial.replace(target)
        try:
            _read_verified(target)
        except UserError:
            target.unlink()
            raise
    return dest


def find_source(data_dir: Path | None, cache_dir: Path, allow_download: bool) -> Path:
    """The first directory holding all four files (see the module docstring for the order)."""
    if data_dir is not None:
        if not all((Path(data_dir) / name).exists() for name in FILES):
            raise UserError(f"{data_dir} does not hold the Fashion-MNIST files {sorted(FILES)}")
        return Path(data_dir)
    for candidate in (DEBIAN_DIR, cache_dir / "fashion-mnist-raw"):
        if all((candidate / name).exists() for name in FILES):
            return candidate
    if allow_download:
        return download(cache_dir / "fashion-mnist-raw")
    raise UserError(HOW_TO_GET)


def load(
    data_dir: Path | None = None, cache_dir: Path | None = None, allow_download: bool = False
) -> tuple[dict[str, np.ndarray], dict]:
    """Fashion-MNIST split into train / validation / test: ``({split_x, split_y}, provenance)``.

    Images are uint8 ``(N, 28, 28)``, labels uint8 ``(N,)``.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def prepare() -> tuple[dict[str, np.ndarray], dict]:
        source = find_source(data_dir, cache_dir, allow_download)
        raw = {name: parse_idx(_read_verified(source / name)) for name in FILES}
        images, labels = raw["train-images-idx3-ubyte.gz"], raw["train-labels-idx1-ubyte.gz"]
        order = np.random.default_rng(0).permutation(len(images))
        val, train = order[:NUM_VALIDATION], order[NUM_VALIDATION:]
        arrays = {
            "train_x": images[train],
            "train_y": labels[train],
            "validation_x": images[val],
            "validation_y": labels[val],
            "test_x": raw["t10k-images-idx3-ubyte.gz"],
            "test_y": raw["t10k-labels-idx1-ubyte.gz"],
        }
        provenance = {
            "dataset": "Fashion-MNIST",
            "source": str(source),
            "licence": "MIT",
            "synthetic": False,
            "split": "train 55,000 / validation 5,000 (fixed permutation, seed 0) / test 10,000",
        }
        return arrays, provenance

    return cached_arrays(cache_dir, "fashion_mnist_v1", prepare)
