"""WMT17 German-English from the raw parallel text, as AlgoPerf's ``wmt`` workload reads it.

AlgoPerf reads TFDS's ``wmt17_translate/de-en`` (train) and ``wmt14_translate/de-en``
(validation, test); TFDS builds them from the WMT release files listed here, which this module
reads directly (no TensorFlow). Layout under ``--data-dir`` (or its ``wmt/`` folder), each file
where its archive's extraction into that folder leaves it:

- ``wmt_sentencepiece_model``: the SentencePiece model (AlgoPerf's ``dataset_setup.py --wmt``
  writes it under this name; :func:`train_tokenizer` makes one the same way);
- train (WMT17 de-en, TFDS's subsets in TFDS's order): ``training/europarl-v7.de-en.{de,en}``,
  ``commoncrawl.de-en.{de,en}``, ``training/news-commentary-v12.de-en.{de,en}``,
  ``rapid2016.de-en.{de,en}``: one sentence per line, line ``i`` of the ``.de`` file translated
  by line ``i`` of the ``.en`` file;
- validation: newstest2013, ``dev/newstest2013.{de,en}`` (plain text, 3,000 lines);
- test: newstest2014 (full), ``dev/newstest2014-deen-src.de.sgm`` and
  ``dev/newstest2014-deen-ref.en.sgm`` (3,003 ``<seg id="N">`` lines).

As TFDS: text files are split at ``\\n`` (lines kept as they are), ``.sgm`` files keep the text of
each ``<seg id="N">...</seg>`` line, and pairs with an empty side are dropped. Inputs are German,
targets English. Each sentence is encoded with the SentencePiece model and an EOS (id 2)
appended; pairs whose longer side exceeds 256 tokens are dropped (AlgoPerf's length filter).
Training rows are packed (:func:`pack`, AlgoPerf's greedy packing of 256 consecutive shuffled
examples into rows of 256 tokens); evaluation rows hold one pair, padded with 0 to 256.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optbench.data.data_dir import search_data_dir
from optbench.errors import UserError

MODEL_FILE = "wmt_sentencepiece_model"
VOCAB_SIZE = 32000
MAX_LEN = 256
EOS_ID = 2
_TRAIN_URL = "http://www.statmt.org/wmt13/"
_WMT17_URL = "http://data.statmt.org/wmt17/translation-task/"
_DEV = "dev.tgz (http://data.statmt.org/wmt19/translation-task/dev.tgz)"
# (TFDS subset, German file, English file, the archive that holds them)
TRAIN_FILES: tuple[tuple[str, str, str, str], ...] = (
    ("europarl_v7", "training/europarl-v7.de-en.de", "training/europarl-v7.de-en.en",
     f"training-parallel-europarl-v7.tgz ({_TRAIN_URL})"),
    ("commoncrawl", "commoncrawl.de-en.de", "commoncrawl.de-en.en",
     f"training-parallel-commoncrawl.tgz ({_TRAIN_URL})"),
    ("newscommentary_v12", "training/news-commentary-v12.de-en.de",
     "training/news-commentary-v12.de-en.en", f"training-parallel-nc-v12.tgz ({_WMT17_URL})"),
    ("rapid_2016", "rapid2016.de-en.de", "rapid2016.de-en.en",
     "rapid2016.tgz (http://data.statmt.org/wmt18/translation-task/)"),
)  # fmt: skip
EVAL_FILES: dict[str, tuple[str, str, str]] = {
    "validation": ("dev/newstest2013.de", "dev/newstest2013.en", _DEV),
    "test": ("dev/newstest2014-deen-src.de.sgm", "dev/newstest2014-deen-ref.en.sgm", _DEV),
}
_SEG = re.compile(r"<seg id=\"\d+\">(.*)</seg>")
_ENCODE_CHUNK = 100_000


def _extract_hint(archive: str, root: Path) -> str:
    return f"extract {archive} into {root} (docs/DATA.md, wmt)"


def find_root(data_dir: Path | None) -> Path:
    """The folder holding the WMT files: ``data_dir`` or its ``wmt/`` (AlgoPerf's name)."""
    return search_data_dir(
        data_dir,
        needs=f"wmt needs --data-dir: the folder holding {MODEL_FILE}, dev/ and the WMT17 de-en "
        "training text (docs/DATA.md, wmt)",
        folders=("wmt",),
        is_root=lambda root: (root / MODEL_FILE).exists() or (root / "dev").is_dir(),
    )


def read_text(path: Path, archive: str, root: Path) -> str:
    """The UTF-8 text of ``path``; a one-line error naming it if it is missing or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} not found: {_extract_hint(archive, root)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.start}); {_extract_hint(archive, root)}"
        ) from None


def sentences(path: Path, archive: str, root: Path) -> list[str]:
    """The sentences of one side: the lines of a text file, or the segments of an ``.sgm``."""
    text = read_text(path, archive, root)
    if path.suffix != ".sgm":
        return text.split("\n")
    segments = [m.group(1) for line in text.split("\n") if (m := _SEG.match(line))]
    if not segments:
        raise UserError(f'{path}: no <seg id="N">...</seg> lines; {_extract_hint(archive, root)}')
    return segments


def read_pairs(root: Path, german: str, english: str, archive: str) -> tuple[list[str], list[str]]:
    """Aligned German and English sentences of one corpus, pairs with an empty side dropped."""
    de = sentences(root / german, archive, root)
    en = sentences(root / english, archive, root)
    if len(de) != len(en):
        raise UserError(
            f"{root / german} has {len(de)} sentences but {root / english} has {len(en)}: "
            f"not a parallel pair; {_extract_hint(archive, root)}"
        )
    kept = [(s, t) for s, t in zip(de, en, strict=True) if s and t]
    return [s for s, _ in kept], [t for _, t in kept]


def split_files(split: str) -> list[tuple[str, str, str]]:
    """``(German file, English file, archive)`` of each corpus of ``split``."""
    if split == "train":
        return [(de, en, archive) for _, de, en, archive in TRAIN_FILES]
    return [EVAL_FILES[split]]


def sentencepiece_module() -> Any:
    """The ``sentencepiece`` module, or a one-line error naming the extra that installs it."""
    try:
        import sentencepiece
    except ImportError:
        raise UserError(
            "the wmt workloads tokenise with sentencepiece: pip install 'optbench[wmt]'"
        ) from None
    return sentencepiece


def load_tokenizer(root: Path) -> Any:
    """The SentencePiece model ``root/wmt_sentencepiece_model``, checked for AlgoPerf's ids
    (unknown 0, EOS 2) and a vocabulary of at most 32,000 pieces."""
    spm = sentencepiece_module()
    path = root / MODEL_FILE
    how = (
        f"copy AlgoPerf's (dataset_setup.py --wmt writes it) or make one with "
        f"`python -m optbench.data.wmt {root}`"
    )
    if not path.is_file():
        raise UserError(f"{path} not found: {how}")
    try:
        sp = spm.SentencePieceProcessor(model_file=str(path))
    except (RuntimeError, OSError) as exc:
        raise UserError(f"{path}: not a SentencePiece model ({exc}); {how}") from None
    if sp.unk_id() != 0 or sp.eos_id() != EOS_ID or sp.get_piece_size() > VOCAB_SIZE:
        raise UserError(
            f"{path}: {sp.get_piece_size()} pieces, unk id {sp.unk_id()}, eos id {sp.eos_id()}; "
            f"AlgoPerf's has at most {VOCAB_SIZE}, unk 0, eos {EOS_ID}: {how}"
        )
    return sp


@dataclass
class Ragged:
    """Token sequences stored flat: sequence ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``."""

    tokens: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


def encode(sp: Any, texts: Sequence[str]) -> Ragged:
    """Each text as SentencePiece ids with EOS appended (AlgoPerf's tokenizer, ``add_eos``)."""
    parts, lengths = [], []
    for start in range(0, len(texts), _ENCODE_CHUNK):
        ids = sp.encode(list(texts[start : start + _ENCODE_CHUNK]), add_eos=True)
        lengths.extend(len(x) for x in ids)
        parts.append(np.fromiter((t for x in ids for t in x), dtype=np.int16))
    tokens = np.concatenate(parts) if parts else np.zeros(0, np.int16)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    return Ragged(tokens, offsets)


def concatenate(parts: Sequence[Ragged]) -> Ragged:
    """The sequences of ``parts`` one after another."""
    tokens = np.concatenate([p.tokens for p in parts])
    lengths = np.concatenate([p.lengths() for p in parts])
    return Ragged(tokens, np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))


def files_fingerprint(root: Path, split: str) -> str:
    """A digest of the tokenizer and the split's files (paths, sizes, modification times): the
    cache key of the split's token ids."""
    digest = hashlib.sha256((root / MODEL_FILE).read_bytes())
    for german, english, archive in split_files(split):
        for name in (german, english):
            try:
                stat = (root / name).stat()
            except FileNotFoundError:
                raise UserError(
                    f"{root / name} not found: {_extract_hint(archive, root)}"
                ) from None
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def tokenize_split(root: Path, split: str, sp: Any) -> tuple[dict[str, np.ndarray], dict]:
    """Token ids of a split's pairs, as arrays ``{src,tgt}_{tokens,offsets}``, and provenance."""
    sources, targets, counts = [], [], {}
    for german, english, archive in split_files(split):
        de, en = read_pairs(root, german, english, archive)
        sources.append(encode(sp, de))
        targets.append(encode(sp, en))
        counts[german] = len(de)
    src, tgt = concatenate(sources), concatenate(targets)
    arrays = {
        "src_tokens": src.tokens,
        "src_offsets": src.offsets,
        "tgt_tokens": tgt.tokens,
        "tgt_offsets": tgt.offsets,
    }
    return arrays, {"split": split, "pairs_per_file": counts}


class Pairs:
    """A split's tokenised pairs; ``kept`` are those AlgoPerf's length filter keeps."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.src = Ragged(arrays["src_tokens"], arrays["src_offsets"])
        self.tgt = Ragged(arrays["tgt_tokens"], arrays["tgt_offsets"])
        longest = np.maximum(self.src.lengths(), self.tgt.lengths())
        self.kept = np.flatnonzero(longest <= MAX_LEN)

    def __len__(self) -> int:
        return len(self.src)

    def padded(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Pairs ``indices`` one per row, padded with 0 to 256: ``inputs``, ``targets``."""
        out = {k: np.zeros((len(indices), MAX_LEN), np.int64) for k in ("inputs", "targets")}
        for row, i in enumerate(indices):
            src, tgt = self.src[i], self.tgt[i]
            out["inputs"][row, : len(src)] = src
            out["targets"][row, : len(tgt)] = tgt
        return out


def _packed_rows(examples: list[tuple[np.ndarray, np.ndarray]], length: int) -> list[list[int]]:
    """Greedy packing: the example indices of each row, in order, a new row whenever the next
    example does not fit on both sides."""
    rows: list[list[int]] = []
    used_src = used_tgt = length + 1  # forces a first row
    for i, (src, tgt) in enumerate(examples):
        if used_src + len(src) > length or used_tgt + len(tgt) > length:
            rows.append([])
            used_src = used_tgt = 0
        rows[-1].append(i)
        used_src, used_tgt = used_src + len(src), used_tgt + len(tgt)
    return rows


def pack(examples: list[tuple[np.ndarray, np.ndarray]], length: int = MAX_LEN) -> dict[str, Any]:
    """AlgoPerf's ``pack_dataset`` of one group of examples into rows of ``length`` tokens:
    ``inputs``, ``targets`` and their ``_position`` (from 0 within each example) and
    ``_segmentation`` (1, 2, ... per example in its row; 0 on padding). As AlgoPerf, each
    sequence keeps as many tokens as it has non-zero ones (trimmed to ``length``)."""
    trimmed = [
        (s[: min(np.count_nonzero(s), length)], t[: min(np.count_nonzero(t), length)])
        for s, t in examples
    ]
    rows = _packed_rows(trimmed, length)
    out = {}
    for side, key in ((0, "inputs"), (1, "targets")):
        tokens = np.zeros((len(rows), length), np.int64)
        positions = np.zeros((len(rows), length), np.int64)
        for r, members in enumerate(rows):
            seqs = [trimmed[i][side] for i in members]
            n = sum(len(s) for s in seqs)
            tokens[r, :n] = np.concatenate(seqs)
            positions[r, :n] = np.concatenate([np.arange(len(s)) for s in seqs])
        segments = np.cumsum(positions == 0, axis=1) * (tokens != 0)
        out.update({key: tokens, f"{key}_position": positions, f"{key}_segmentation": segments})
    return out


def packed_batches(pairs: Pairs, seed: int, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Training batches forever: each epoch the kept pairs in a fresh random order (from
    ``seed``), packed 256 examples at a time, rows gathered into batches of ``batch_size``
    (``weights``: 1 on non-padding target tokens)."""
    pending: list[dict[str, np.ndarray]] = []
    have, epoch = 0, 0
    while True:
        order = pairs.kept[np.random.default_rng([seed, epoch]).permutation(len(pairs.kept))]
        for start in range(0, len(order), MAX_LEN):
            group = [(pairs.src[i], pairs.tgt[i]) for i in order[start : start + MAX_LEN]]
            pending.append(pack(group))
            have += len(pending[-1]["inputs"])
            while have >= batch_size:
                rows = {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}
                batch = {k: v[:batch_size] for k, v in rows.items()}
                batch["weights"] = (batch["targets"] > 0).astype(np.int64)
                yield batch
                pending = [{k: v[batch_size:] for k, v in rows.items()}]
                have -= batch_size
        epoch += 1


def train_tokenizer(
    root: Path, max_chars: int = 10**7, seed: int = 0, vocab_size: int = VOCAB_SIZE
) -> Path:
    """Train ``root/wmt_sentencepiece_model`` as AlgoPerf's ``dataset_setup.py --wmt`` does: a
    32,000-piece unigram model, character coverage 1.0, on the first ``max_chars`` characters of
    training pairs (German line, English line, ...). AlgoPerf takes its pairs in TFDS's stored
    order; here they come in a fixed random order (``seed``), so the sample differs, not its
    size or the settings."""
    import tempfile

    spm = sentencepiece_module()
    de, en = [], []
    for german, english, archive in split_files("train"):
        d, e = read_pairs(root, german, english, archive)
        de.extend(d)
        en.extend(e)
    order = np.random.default_rng(seed).permutation(len(de))
    with tempfile.TemporaryDirectory() as tmp:
        corpus, chars = Path(tmp) / "corpus.txt", 0
        with corpus.open("w", encoding="utf-8") as f:
            for i in order:
                if chars >= max_chars:
                    break
                line = f"{de[i]}\n{en[i]}\n"
                f.write(line)
                chars += len(line.encode())  # AlgoPerf counts bytes
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(tmp) / "sp"),
            vocab_size=vocab_size,
            character_coverage=1.0,
            model_type="unigram",
        )
        (root / MODEL_FILE).write_bytes((Path(tmp) / "sp.model").read_bytes())
    return root / MODEL_FILE


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit(
            "usage: python -m optbench.data.wmt DATA_DIR  (writes DATA_DIR/" + MODEL_FILE + ")"
        )
    print(train_tokenizer(find_root(Path(sys.argv[1]))))
