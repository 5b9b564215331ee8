"""Criteo 1TB click logs, streamed from the tab-separated day files as AlgoPerf reads them.

Layout, as AlgoPerf's ``dataset_setup.py --criteo1tb`` leaves it (it unzips ``day_<d>.gz`` and
splits each day with ``split -a 2 -d -l 5000000``): files ``day_<d>_<NN>`` in ``<data_dir>``
(or in ``<data_dir>/criteo1tb``). Splits, as AlgoPerf's input pipeline: train = every
``day_<d>_*`` of days 0-22; test = ``day_23_00`` ... ``day_23_18``; validation = ``day_23_19``
... ``day_23_35``.

A line is ``label <TAB> 13 integer features <TAB> 26 categorical features``. Preprocessing, as
AlgoPerf's ``_parse_example_fn`` (TensorFlow's ``decode_csv`` with ``na_value='-1'``): an integer
feature ``x`` (empty or ``-1``: 0) becomes ``log(max(x, 0) + 1)`` in float32; a categorical
feature ``s`` of column ``i`` (8 hex digits; empty: ``00000000``) becomes
``Fingerprint64(s + str(i)) % VOCAB_SIZES[i]`` (TensorFlow's ``to_hash_bucket_fast`` is FarmHash's
``Fingerprint64``, implemented here in numpy), stored as float32 like the dense features, so ids
above 2**24 are rounded as in AlgoPerf. A batch is ``inputs`` (B, 39) float32 and ``targets``
(B,) float32; the model takes the ids modulo its own vocabulary.

Lines are tokenised with numpy (every line must have exactly 40 fields), so nothing is held in
memory beyond a block of the file being read.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from optbench.data.data_dir import search_data_dir
from optbench.errors import UserError

NUM_DENSE, NUM_SPARSE = 13, 26
NUM_FIELDS = 1 + NUM_DENSE + NUM_SPARSE
NUM_DAY_23_FILES = 36
NUM_TEST_FILES = NUM_DAY_23_FILES // 2 + 1  # day_23_00 .. day_23_18
TRAIN_DAYS = range(23)
# Per-column hash buckets, as AlgoPerf's input pipeline (the raw vocabulary sizes of Criteo 1TB).
VOCAB_SIZES = (
    39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10,
    2208, 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36,
)  # fmt: skip
SETUP_STEP = (
    "AlgoPerf's `python3 algoperf/datasets/dataset_setup.py --criteo1tb` (its unzip and "
    "`split -a 2 -d -l 5000000` steps)"
)
BLOCK_BYTES = 32 << 20

# --- FarmHash Fingerprint64 (farmhashna::Hash64) for strings of 8 to 16 bytes ---------------
_K0 = np.uint64(0xC3A5C85C97CB3127)
_K2 = np.uint64(0x9AE16A3B2F90404F)


def _rotate(v: np.ndarray, shift: int) -> np.ndarray:
    return (v >> np.uint64(shift)) | (v << np.uint64(64 - shift))


def _hash_len16(u: np.ndarray, v: np.ndarray, mul: np.uint64) -> np.ndarray:
    a = (u ^ v) * mul
    a ^= a >> np.uint64(47)
    b = (v ^ a) * mul
    b ^= b >> np.uint64(47)
    return b * mul


def _fingerprint(first: np.ndarray, last: np.ndarray, length: np.ndarray | int) -> np.ndarray:
    """Fingerprint64 of strings of ``length`` bytes (8 to 16) from their first and last 8 bytes
    read as little-endian uint64 (farmhashna's ``HashLen0to16`` for 8 bytes and more)."""
    mul = _K2 + np.asarray(length, dtype=np.uint64) * np.uint64(2)
    a = first + _K2
    c = _rotate(last, 37) * mul + a
    d = (_rotate(a, 25) + last) * mul
    return _hash_len16(c, d, mul)


def fingerprint64(data: np.ndarray) -> np.ndarray:
    """FarmHash ``Fingerprint64`` of each row of ``data``, a (N, L) uint8 array of N strings of
    L bytes, 8 <= L <= 16 (the only lengths the Criteo ids need), as uint64."""
    n, length = data.shape
    if not 8 <= length <= 16:
        raise ValueError(f"fingerprint64 handles 8 to 16 bytes, not {length}")
    first = np.ascontiguousarray(data[:, :8]).view("<u8").reshape(n)
    last = np.ascontiguousarray(data[:, length - 8 :]).view("<u8").reshape(n)
    return _fingerprint(first, last, length)


def _column_suffixes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per categorical column ``i``: the string length of ``<8 hex digits> + str(i)``, the
    bytes ``str(i)`` shifted into the top of the last 8-byte word, and the shift that moves the
    id's bytes under them (a string's last 8 bytes = id bytes [len - 8:] + ``str(i)``)."""
    lengths, tops, shifts = [], [], []
    for i in range(NUM_SPARSE):
        suffix = str(i).encode()
        lengths.append(8 + len(suffix))
        tops.append(int.from_bytes(suffix, "little") << (8 * (8 - len(suffix))))
        shifts.append(8 * len(suffix))
    return (np.array(lengths, np.uint64), np.array(tops, np.uint64), np.array(shifts, np.uint64))


_LENGTHS, _TOPS, _SHIFTS = _column_suffixes()
_ZEROS_WORD = np.frombuffer(b"00000000", "<u8")[0]  # an empty id is "00000000", as AlgoPerf
_HEX = np.zeros(256, dtype=bool)
_HEX[list(b"0123456789abcdef")] = True


# --- files -------------------------------------------------------------------------------------
def find_root(data_dir: Path | None) -> Path:
    """The folder holding the ``day_<d>_<NN>`` files."""
    return search_data_dir(
        data_dir,
        needs="criteo1tb needs --data-dir: the folder holding day_0_00 ... day_23_35, as "
        f"{SETUP_STEP} leaves it",
        folders=("criteo1tb",),
        is_root=lambda root: (root / "day_23_00").is_file(),
        missing=lambda data_dir: f"{data_dir / 'day_23_00'} not found: make it with {SETUP_STEP}",
    )


def split_files(root: Path, split: str) -> list[Path]:
    """The files of ``split`` (train, validation or test), as AlgoPerf lists them."""
    if split == "train":
        paths = [p for d in TRAIN_DAYS for p in sorted(root.glob(f"day_{d}_*"))]
        if not paths:
            raise UserError(f"{root} holds no day_<0-22>_* files: make them with {SETUP_STEP}")
        return paths
    parts = range(NUM_TEST_FILES) if split == "test" else range(NUM_TEST_FILES, NUM_DAY_23_FILES)
    paths = [root / f"day_23_{i:02d}" for i in parts]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} not found: make it with {SETUP_STEP}")
    return paths


def _count_newlines(path: Path) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            count += int(np.count_nonzero(np.frombuffer(block, np.uint8) == 10))
            last = block[-1:]
    return count + (last != b"\n")


def count_lines(paths: Iterable[Path], cache_dir: Path) -> int:
    """The number of lines (examples) in ``paths``, each file counted once and remembered in
    ``cache_dir/criteo1tb_line_counts.json`` by path, size and modification time."""
    cache_file = cache_dir / "criteo1tb_line_counts.json"
    try:
        known = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        known = {}
    total, changed = 0, False
    for path in paths:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in known:
            known[key], changed = _count_newlines(path), True
        total += known[key]
    if changed:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(known, sort_keys=True))
        tmp.replace(cache_file)
    return total


# --- parsing -----------------------------------------------------------------------------------
class _Block:
    """A block of whole lines of one file, for error messages that name the file and line."""

    def __init__(self, block: bytes, path: Path, first_line: int) -> None:
        self.buf = np.frombuffer(block, np.uint8)
        self.path, self.first_line = path, first_line

    def error(self, bad: np.ndarray, what: str) -> UserError:
        """A one-line error at the first line flagged in ``bad`` (a per-line or per-field
        boolean array)."""
        line = self.first_line + int(np.argwhere(bad)[0][0])
        return UserError(
            f"{self.path}: line {line} {what}; not a Criteo 1TB day file as {SETUP_STEP} leaves it"
        )


def _fields(block: _Block) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets (N, 40) of every field of the block's N lines."""
    buf = block.buf
    seps = np.flatnonzero((buf == 9) | (buf == 10))
    if len(seps) % NUM_FIELDS or not np.all(buf[seps[NUM_FIELDS - 1 :: NUM_FIELDS]] == 10):
        tabs = np.cumsum(buf == 9)[buf == 10]
        per_line = np.diff(np.concatenate([[0], tabs]))
        raise block.error(per_line != NUM_FIELDS - 1, f"has not {NUM_FIELDS} tab-separated fields")
    ends = seps.reshape(-1, NUM_FIELDS)
    starts = np.empty_like(ends)
    starts[:, 0] = np.concatenate([[0], ends[:-1, -1] + 1])
    starts[:, 1:] = ends[:, :-1] + 1
    return starts, ends


def _parse_ints(block: _Block, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Decimal integer fields (optional minus sign; empty: 0) as float64, vectorised: one pass
    per digit position (values = values * 10 + digit while inside the field)."""
    buf, lengths = block.buf, ends - starts
    negative = (lengths > 0) & (buf[np.minimum(starts, len(buf) - 1)] == ord("-"))
    values = np.zeros(starts.shape, dtype=np.float64)
    bad = np.zeros(starts.shape, dtype=bool)
    for k in range(int(lengths.max(initial=0))):
        inside = (k < lengths) & ~((k == 0) & negative)
        digit = buf[np.minimum(starts + k, len(buf) - 1)].astype(np.int16) - ord("0")
        bad |= inside & ((digit < 0) | (digit > 9))
        values = np.where(inside, values * 10 + digit, values)
    if np.any(bad):
        raise block.error(bad.any(axis=1), "has a label or count that is not an integer")
    return np.where(negative, -values, values)


def _hash_ids(block: _Block, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The 26 categorical columns' hash buckets (N, 26) as float32, as AlgoPerf."""
    bad = (lengths != 0) & (lengths != 8)
    if np.any(bad):
        raise block.error(bad.any(axis=1), "has a categorical id not of 8 hex digits")
    padded = np.concatenate([block.buf, np.zeros(8, np.uint8)])  # every 8-byte window exists
    windows = np.lib.stride_tricks.sliding_window_view(padded, 8)[starts]  # (N, 26, 8)
    hexdigit = _HEX[windows].all(axis=2) | (lengths == 0)
    if not np.all(hexdigit):
        raise block.error(~hexdigit.all(axis=1), "has a categorical id not in lowercase hex")
    words = np.ascontiguousarray(windows).view("<u8")[..., 0]
    words = np.where(lengths == 0, _ZEROS_WORD, words)
    last = (words >> _SHIFTS) | _TOPS
    buckets = _fingerprint(words, last, _LENGTHS) % np.array(VOCAB_SIZES, dtype=np.uint64)
    return buckets.astype(np.float32)  # float32 as AlgoPerf's pipeline (rounds above 2**24)


def parse_lines(data: bytes, path: Path, first_line: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs (N, 39) float32, targets (N,) float32)`` of ``data``, whole lines of ``path``
    (each ending in a newline) starting at line ``first_line``; a one-line error naming the file
    and line for anything that is not a Criteo line."""
    block = _Block(data, path, first_line)
    starts, ends = _fields(block)
    numbers = _parse_ints(block, starts[:, : 1 + NUM_DENSE], ends[:, : 1 + NUM_DENSE])
    labels = numbers[:, 0]
    bad = ((labels != 0) & (labels != 1)) | (ends[:, 0] == starts[:, 0])
    if np.any(bad):
        raise block.error(bad, "has a label other than 0 or 1")
    dense = np.log(np.maximum(numbers[:, 1:], 0).astype(np.float32) + np.float32(1.0))
    sparse = _hash_ids(block, starts[:, 1 + NUM_DENSE :], (ends - starts)[:, 1 + NUM_DENSE :])
    return np.concatenate([dense, sparse], axis=1), labels.astype(np.float32)


def read_file(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Parsed blocks of one file, in order (a missing final newline is allowed)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (a generator: closed by the with below)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}; make it with {SETUP_STEP}") from None
    first_line, carry = 1, b""
    with f:
        while True:
            block = f.read(BLOCK_BYTES)
            data = carry + block
            if not block and data and not data.endswith(b"\n"):
                data += b"\n"
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:
                inputs, targets = parse_lines(data[:cut], path, first_line)
                first_line += len(targets)
                yield inputs, targets
            if not block:
                return


def batches(
    files: Iterable[Path], batch_size: int, drop_last: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of exactly ``batch_size`` lines read through ``files`` in order (a batch may
    span files, as AlgoPerf's line stream); the last partial batch is dropped if ``drop_last``."""
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    held = 0
    for path in files:
        for inputs, targets in read_file(path):
            pending.append((inputs, targets))
            held += len(targets)
            if held < batch_size:
                continue
            x, y = np.concatenate([p[0] for p in pending]), np.concatenate([p[1] for p in pending])
            full = held // batch_size * batch_size
            for start in range(0, full, batch_size):
                yield x[start : start + batch_size], y[start : start + batch_size]
            pending, held = [(x[full:], y[full:])], held - full
    if held and not drop_last:
        yield np.concatenate([p[0] for p in pending]), np.concatenate([p[1] for p in pending])


def prefetch(iterator: Iterator, depth: int = 4) -> Iterator:
    """``iterator``'s items, produced ahead by a background thread (at most ``depth`` waiting):
    parsing overlaps the training step, as AlgoPerf's tf.data prefetch does. An error in the
    producer is raised here."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(done)
        except BaseException as exc:  # handed to the consumer
            items.put(exc)

    threading.Thread(target=produce, daemon=True, name="criteo-prefetch").start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
