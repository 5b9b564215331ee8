"""LibriSpeech for the full-size speech workloads, read as AlgoPerf's ``dataset_setup.py
--librispeech`` leaves it (no TensorFlow needed).

**Layout** (``dataset/librispeech_tokenizer.py`` and ``dataset/librispeech_preprocess.py`` of
AlgoPerf's repository, run by ``dataset_setup.py``, write ``<data_dir>/librispeech``;
``--data-dir`` names that folder, or the one above it):

- ``spm_model.vocab``: the SentencePiece model (a binary ``.model`` despite its name) that
  ``librispeech_tokenizer.py`` trains on train-clean-100's transcripts: unigram, 1,024 pieces,
  ``<unk>`` 0 (which the networks use as the CTC blank), ``<s>`` 1, ``</s>`` 2;
- ``<subset>.csv`` for each of train-clean-100, train-clean-360, train-other-500, dev-clean,
  dev-other and test-clean: the utterance ids of the subset as pandas writes a one-column frame
  (a header ``,id``, then ``<row number>,<utterance id>``);
- ``<subset>/<utterance id>_audio.npy``: the utterance's samples, a 1-D int64 array of 16-bit
  values (16 kHz, at most 320,000 samples: longer utterances were left out);
- ``<subset>/<utterance id>_targets.npy``: its transcript tokenised with a trailing ``</s>``,
  a 1-D int32 array (transcripts over 256 characters were left out).

**Splits** (AlgoPerf's PyTorch pipeline): train = the three train subsets (263,840 utterances),
validation = dev-clean + dev-other (5,348), test = test-clean (2,472). A batch holds
``inputs = (audio (B, 320000) float32, audio_paddings (B, 320000))`` and ``targets =
(tokens (B, 256) float32, token_paddings (B, 256))``, every utterance zero-padded to AlgoPerf's
fixed lengths, paddings 1.0 where padded; the networks' front-ends turn the audio into features.

Files are read as batches need them by a pool of threads (:class:`Prefetcher`), a batch or two
ahead. A missing or malformed file is a one-line :class:`~optbench.errors.UserError` naming the
file and the set-up step that makes it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np
import torch

from optbench.data.data_dir import search_data_dir
from optbench.data.prefetcher import Fill, PoolPrefetcher
from optbench.errors import UserError

SUBSETS: dict[str, tuple[str, ...]] = {
    "train": ("train-clean-100", "train-clean-360", "train-other-500"),
    "validation": ("dev-clean", "dev-other"),
    "test": ("test-clean",),
}
EXAMPLES = {"train": 263_840, "validation": 5_348, "test": 2_472}
TOKENIZER_FILE = "spm_model.vocab"
VOCAB_SIZE = 1024
MAX_INPUT_LENGTH = 320_000  # samples (20 s at 16 kHz)
MAX_TARGET_LENGTH = 256  # tokens
SAMPLE_RATE = 16_000

SETUP = "AlgoPerf's dataset_setup.py --librispeech"
STEP_TOKENIZER = f"{SETUP} (librispeech_tokenizer.py trains spm_model.vocab)"
STEP_PREPROCESS = (
    f"{SETUP} (librispeech_preprocess.py writes <subset>.csv and <subset>/<id>_audio.npy, "
    "<id>_targets.npy)"
)


def find_root(data_dir: Path | None) -> Path:
    """The folder holding ``spm_model.vocab`` and the subsets: ``data_dir`` or
    ``data_dir/librispeech``."""
    return search_data_dir(
        data_dir,
        needs=f"LibriSpeech needs --data-dir: the folder librispeech that {SETUP} makes (holding "
        f"{TOKENIZER_FILE}, the <subset>.csv files and the <subset>/ folders)",
        folders=("librispeech",),
        is_root=lambda root: (root / TOKENIZER_FILE).is_file(),
        missing=lambda data_dir: (
            f"{data_dir / TOKENIZER_FILE} not found (nor "
            f"{data_dir / 'librispeech' / TOKENIZER_FILE}): made by {STEP_TOKENIZER}; pass "
            "--data-dir DATA/librispeech"
        ),
    )


class Tokenizer:
    """AlgoPerf's LibriSpeech SentencePiece model: ``detokenize`` as tf-text's
    ``SentencepieceTokenizer.detokenize`` (SentencePiece's ``DecodeIds``: control pieces such
    as ``</s>`` dropped)."""

    def __init__(self, path: Path) -> None:
        try:
            import sentencepiece
        except ImportError:
            raise UserError(
                "the LibriSpeech workloads need sentencepiece: pip install 'optbench[speech]'"
            ) from None
        self.path = path
        try:
            self._model = sentencepiece.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                f"{path}: not a SentencePiece model ({reason}); re-make it with {STEP_TOKENIZER}"
            ) from None
        self.vocab_size = int(self._model.get_piece_size())
        self.eos_id = int(self._model.eos_id())

    def tokenize(self, text: str) -> np.ndarray:
        """``text``'s ids and ``</s>``, as ``librispeech_preprocess.py`` stores targets."""
        return np.array([*self._model.encode(text), self.eos_id], dtype=np.int32)

    def detokenize(self, ids: Sequence[int] | np.ndarray) -> str:
        return self._model.decode([int(i) for i in ids])


def read_index(root: Path, subset: str) -> list[str]:
    """The utterance ids listed in ``<root>/<subset>.csv``."""
    path = root / f"{subset}.csv"
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except FileNotFoundError:
        raise UserError(f"{path} not found: made by {STEP_PREPROCESS}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: unreadable ({exc}); re-make it with {STEP_PREPROCESS}") from None
    if not rows or [c.strip() for c in rows[0]] != ["", "id"]:
        raise UserError(
            f"{path}: not an utterance index (its header should be ',id'); re-make it with "
            f"{STEP_PREPROCESS}"
        )
    bad = next((n for n, row in enumerate(rows[1:], 2) if len(row) != 2 or not row[1]), None)
    if bad is not None:
        raise UserError(
            f"{path}, line {bad}: not '<row>,<utterance id>'; re-make it with {STEP_PREPROCESS}"
        )
    return [row[1] for row in rows[1:]]


def _load_array(path: Path, what: str, max_length: int) -> np.ndarray:
    """A 1-D integer array of 1 to ``max_length`` entries from ``path``."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} not found: made by {STEP_PREPROCESS}") from None
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"{path}: not a .npy array ({reason}); re-make it with {STEP_PREPROCESS}"
        ) from None
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise UserError(
            f"{path}: a {array.dtype} array of shape {array.shape} where {what} should be a 1-D "
            f"integer array; re-make it with {STEP_PREPROCESS}"
        )
    if not 0 < len(array) <= max_length:
        raise UserError(
            f"{path}: {len(array):,} entries where {what} has 1 to {max_length:,}; re-make it "
            f"with {STEP_PREPROCESS}"
        )
    return array


@dataclass
class Split:
    """One split's utterances (``<subset>/<id>`` keys under ``root``)."""

    root: Path
    keys: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Utterance ``index``: its samples and its target tokens."""
        stem = self.root / str(self.keys[index])
        audio = _load_array(Path(f"{stem}_audio.npy"), "an utterance's audio", MAX_INPUT_LENGTH)
        targets = _load_array(
            Path(f"{stem}_targets.npy"), "an utterance's targets", MAX_TARGET_LENGTH
        )
        return audio, targets


def load_splits(data_dir: Path | None, full: bool = True) -> tuple[dict[str, Split], Tokenizer]:
    """``train``, ``validation`` and ``test`` of the LibriSpeech under ``data_dir``, and its
    tokenizer. With ``full``, the splits must have AlgoPerf's sizes and the tokenizer 1,024
    pieces."""
    root = find_root(data_dir)
    tokenizer = Tokenizer(root / TOKENIZER_FILE)
    splits = {}
    for split, subsets in SUBSETS.items():
        keys = [
            f"{subset}/{utterance}" for subset in subsets for utterance in read_index(root, subset)
        ]
        if not keys:
            raise UserError(
                f"{root}: the {split} subsets ({', '.join(subsets)}) list no utterances; "
                f"re-make them with {STEP_PREPROCESS}"
            )
        if full and len(keys) != EXAMPLES[split]:
            raise UserError(
                f"{root}: {len(keys):,} {split} utterances in {' + '.join(subsets)} where "
                f"AlgoPerf's LibriSpeech has {EXAMPLES[split]:,}: incomplete; re-make it with "
                f"{STEP_PREPROCESS}"
            )
        splits[split] = Split(root, np.array(keys))
    if full and tokenizer.vocab_size != VOCAB_SIZE:
        raise UserError(
            f"{tokenizer.path}: {tokenizer.vocab_size} pieces where AlgoPerf's tokenizer has "
            f"{VOCAB_SIZE}; re-make it with {STEP_TOKENIZER}"
        )
    return splits, tokenizer


# --- batches ---------------------------------------------------------------------------------
def _fill(
    split: Split, ids: np.ndarray, arrays: tuple[np.ndarray, ...], start: int, stop: int
) -> None:
    audio, audio_paddings, targets, target_paddings = arrays
    for row in range(start, stop):
        samples, tokens = split.example(int(ids[row]))
        audio[row, : len(samples)] = samples
        audio_paddings[row, len(samples) :] = 1.0
        targets[row, : len(tokens)] = tokens
        target_paddings[row, len(tokens) :] = 1.0


@cache
def thread_pool() -> ThreadPoolExecutor:
    """This process's pool of file-reading threads (one per CPU, at most 16)."""
    return ThreadPoolExecutor(min(16, os.cpu_count() or 1), thread_name_prefix="optbench-speech")


Batch = dict[str, tuple[torch.Tensor, torch.Tensor]]


class Prefetcher(PoolPrefetcher[tuple[Split, np.ndarray], Batch]):
    """The batches of ``(split, ids)`` jobs as CPU tensors (see the module docstring), read by
    the thread pool in chunks of ``chunk`` utterances while the previous ``depth - 1`` batches
    are consumed."""

    def _thread_pool(self) -> ThreadPoolExecutor:
        return thread_pool()

    def _start(self, job: tuple[Split, np.ndarray]) -> tuple[Batch, int, Fill]:
        split, ids = job
        n = len(ids)

        def empty(length: int) -> torch.Tensor:
            return torch.zeros(n, length, dtype=torch.float32, pin_memory=self._pin)

        tensors = (
            empty(MAX_INPUT_LENGTH),
            empty(MAX_INPUT_LENGTH),
            empty(MAX_TARGET_LENGTH),
            empty(MAX_TARGET_LENGTH),
        )
        arrays = tuple(t.numpy() for t in tensors)
        batch = {"inputs": tensors[:2], "targets": tensors[2:]}
        return batch, n, partial(_fill, split, ids, arrays)
