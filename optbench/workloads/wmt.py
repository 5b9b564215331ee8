"""``wmt`` (and its variants): AlgoPerf's WMT17 German-to-English workload at its own size
(``full``).

AlgoPerf's encoder-decoder Transformer (6 + 6 layers, width 1024, 16 heads, 32,000 shared
embeddings; :mod:`optbench.models.transformer_wmt`) translates German into English, trained on
packed rows of 256 tokens of the raw WMT17 de-en text (:mod:`optbench.data.wmt`). Loss:
cross-entropy per target token with the submission's label smoothing, padding (token 0) masked
by ``weights``. Metric: BLEU as AlgoPerf computes it: beam search (4 beams, brevity alpha 0.6,
at most 256 positions; :mod:`optbench.models.beam_search`), each prediction cut after its first
EOS (the first token alone if it has none: AlgoPerf's ``_decode_tokens``), references the
tokenised targets; both detokenised by the SentencePiece model, then ``sacrebleu.corpus_bleu``
(13a tokenisation, exponential smoothing: the defaults AlgoPerf's own ``bleu.py`` copies).
Evaluation also reports the token-weighted loss (no smoothing) and accuracy. Dropout defaults to
0.1, as AlgoPerf's WMT ``model_fn``. Targets, budget, eval period and step hint are AlgoPerf's
(``targets/wmt*.json``, sources stated there).

Training batches: ``inputs``, ``targets``, ``inputs_position``, ``targets_position``,
``inputs_segmentation``, ``targets_segmentation`` and ``weights``, each (B, 256) int64
(AlgoPerf's keys). Evaluation batches: ``inputs``, ``targets``, ``weights``.

``test_width`` (test-only, never for results): the model width (and feed-forward width) instead
of 1024, heads the largest divisor of it up to 16, and, once the data is loaded, the
SentencePiece model's vocabulary instead of 32,000 embeddings, so that CI runs a training step
and an evaluation on a CPU; a trial records it in ``meta_data.json``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optbench import prng, spec
from optbench.data import wmt as data
from optbench.data.cache import cached_arrays, default_cache_dir
from optbench.data.criteo import prefetch
from optbench.errors import UserError
from optbench.models.beam_search import beam_search, best_sequences
from optbench.models.transformer_wmt import WmtTransformer
from optbench.workloads.common.losses import token_cross_entropy
from optbench.workloads.full_size import FullSizeWorkload
from optbench.workloads.variants import variant

DROPOUT_RATE = 0.1  # AlgoPerf's WMT default
EVAL_TRAIN_SEED = 0


def decode_tokens(tokenizer: Any, tokens: np.ndarray) -> str:
    """AlgoPerf's ``_decode_tokens``: the ids up to and including the first EOS (only the first
    id if there is none, as ``argmax`` of an all-false mask is 0), detokenised. Ids beyond a
    model with fewer than 32,000 pieces read as unknown (AlgoPerf's model has 32,000)."""
    end = int(np.argmax(tokens == data.EOS_ID)) + 1
    pieces = tokenizer.get_piece_size()
    return tokenizer.decode([int(t) if t < pieces else 0 for t in tokens[:end]])


def corpus_bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU (0-100) with sacrebleu's defaults, as AlgoPerf's ``bleu.corpus_bleu``."""
    try:
        import sacrebleu
    except ImportError:
        raise UserError(
            "the wmt workloads score BLEU with sacrebleu: pip install 'optbench[wmt]'"
        ) from None
    return float(sacrebleu.corpus_bleu(predictions, [references]).score)


def translate(
    model: nn.Module, inputs: torch.Tensor, beam_size: int, max_len: int, alpha: float
) -> torch.Tensor:
    """Beam-search translations ``(B, max_len - 1)`` of the source rows ``inputs``."""
    model = getattr(model, "module", model)  # DDP
    with torch.no_grad():
        cache = model.start_decoding(inputs, beam_size, max_len)
        seqs, _ = beam_search(
            lambda tokens: model.decode_step(tokens, cache),
            cache.reorder,
            len(inputs),
            beam_size,
            max_len,
            alpha=alpha,
            device=inputs.device,
        )
    return best_sequences(seqs)


class Wmt(FullSizeWorkload):
    """AlgoPerf's ``wmt`` at full size (see the module docstring)."""

    name = "wmt"
    algoperf_name = "wmt"
    description = "AlgoPerf's Transformer (6+6 layers, width 1024) translating WMT17 de-en"
    data_source = "WMT17 German-English news translation task (statmt.org), raw parallel text"
    target_metric_name = "bleu"
    loss_type = spec.LossType.SOFTMAX_CROSS_ENTROPY
    eval_batch_size = 128  # AlgoPerf's
    output_layer = "shared_embedding"  # also the input embedding (shared)
    default_dropout_rate = DROPOUT_RATE
    pre_ln: ClassVar[bool] = True
    attention_temp: ClassVar[float] = 1.0
    activation: ClassVar[str] = "relu"
    glu: ClassVar[bool] = False
    beam_size: ClassVar[int] = 4
    decode_alpha: ClassVar[float] = 0.6
    max_decode_len: ClassVar[int] = data.MAX_LEN
    eval_train_size: ClassVar[int | None] = None  # None: AlgoPerf's rule

    # --- data ---------------------------------------------------------------------------------
    def _load_splits(self) -> dict[str, Any]:
        root = data.find_root(self._data_dir)
        tokenizer = data.load_tokenizer(root)
        cache_dir = self._cache_dir or default_cache_dir()
        splits: dict[str, Any] = {"tokenizer": tokenizer}
        for split in ("train", "validation", "test"):
            key = f"wmt_{split}_{data.files_fingerprint(root, split)}"
            arrays, _ = cached_arrays(
                cache_dir, key, lambda s=split: data.tokenize_split(root, s, tokenizer)
            )
            splits[split] = data.Pairs(arrays)
            if not len(splits[split].kept):
                raise UserError(f"the wmt {split} split in {root} has no pairs of <= 256 tokens")
        self.data_provenance = {
            "root": str(root),
            "vocab_size": tokenizer.get_piece_size(),
            **{f"{s}_pairs": len(splits[s]) for s in ("train", "validation", "test")},
            **{f"{s}_pairs_kept": len(splits[s].kept) for s in ("train", "validation", "test")},
        }
        return splits

    def _split_size(self, split: str) -> int:
        if split == "eval_train":
            return self.num_eval_train_examples
        pairs = self._split(split)
        return len(pairs) if split == "train" else len(pairs.kept)

    @property
    def num_eval_train_examples(self) -> int:
        """AlgoPerf's: the validation size rounded up to whole eval batches (at most the train
        pairs the length filter keeps)."""
        if self.eval_train_size is not None:
            return self.eval_train_size
        rounded = math.ceil(self.num_validation_examples / self.eval_batch_size)
        return min(rounded * self.eval_batch_size, len(self._split("train").kept))

    def _eval_indices(self, split: str) -> np.ndarray:
        """The pairs an evaluation walks: eval-train a fixed random sample of the kept training
        pairs; validation and test every kept pair."""
        if split != "eval_train":
            return self._split(split).kept
        kept = self._split("train").kept
        rng = np.random.default_rng(EVAL_TRAIN_SEED)
        return np.sort(rng.choice(kept, self.num_eval_train_examples, replace=False))

    def _to_torch(self, batch: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        pairs = self._split("train" if split == "eval_train" else split)
        indices = self._eval_indices(split)
        for start in range(0, len(indices), batch_size):
            batch = pairs.padded(indices[start : start + batch_size])
            batch["weights"] = (batch["targets"] > 0).astype(np.int64)
            yield self._to_torch(batch)

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Training: packed rows, a fresh order of the pairs each epoch (from ``data_rng``),
        assembled ahead in a background thread. Other splits: their padded batches, repeated."""
        if split != "train":
            while True:
                yield from self._eval_batches(split, global_batch_size)
        stream = data.packed_batches(
            self._split("train"), prng.to_seed(data_rng), global_batch_size
        )
        for batch in prefetch(stream):
            yield self._to_torch(batch)

    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """Random token rows of 256 (one segment each) with the keys of packed training rows."""
        g = torch.Generator().manual_seed(seed)
        shape = (batch_size, data.MAX_LEN)
        positions = torch.arange(data.MAX_LEN).expand(shape).clone()
        batch = {
            "inputs": torch.randint(3, self._vocab_size(), shape, generator=g),
            "targets": torch.randint(3, self._vocab_size(), shape, generator=g),
            "inputs_position": positions,
            "targets_position": positions.clone(),
            "inputs_segmentation": torch.ones(shape, dtype=torch.long),
            "targets_segmentation": torch.ones(shape, dtype=torch.long),
            "weights": torch.ones(shape, dtype=torch.long),
        }
        return {k: v.to(self.device) for k, v in batch.items()}

    # --- model, loss, metrics -----------------------------------------------------------------
    def _vocab_size(self) -> int:
        """32,000 embeddings (AlgoPerf's); at a test width with the data loaded, the tokenizer's
        number of pieces."""
        if self.test_width and self._splits is not None:
            return int(self._split("tokenizer").get_piece_size())
        return data.VOCAB_SIZE

    def _build_model(self) -> nn.Module:
        width = self.test_width or 1024
        return WmtTransformer(
            vocab_size=self._vocab_size(),
            width=width,
            heads=math.gcd(16, width),
            hidden=width,
            activation=torch.tanh if self.activation == "tanh" else F.relu,
            glu=self.glu,
            attention_temp=self.attention_temp,
            pre_ln=self.pre_ln,
        )

    def _forward(self, model: nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
        return model(
            batch["inputs"],
            batch["targets"],
            batch.get("inputs_position"),
            batch.get("targets_position"),
            batch.get("inputs_segmentation"),
            batch.get("targets_segmentation"),
        )

    def _per_example_loss(
        self, labels: torch.Tensor, logits: torch.Tensor, label_smoothing: float
    ) -> torch.Tensor:
        """Cross-entropy per target token ``(B, L)``, smoothed by ``label_smoothing`` over the
        vocabulary (AlgoPerf's ``compute_weighted_cross_entropy``; ``loss_fn`` masks it with
        ``mask_batch``, the batch's ``weights``)."""
        return token_cross_entropy(logits, labels, label_smoothing)

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Token-weighted loss and accuracy, and corpus BLEU of beam-search translations."""
        tokenizer = self._split("tokenizer")
        sums = {"loss": 0.0, "accuracy": 0.0, "weight": 0.0}
        predictions, references = [], []
        for batch in self._eval_batches(split, batch_size):
            targets, weights = batch["targets"], batch["weights"]
            logits = self._eval_logits(params, batch, model_state, rng)
            sums["loss"] += self.loss_fn(targets, logits, weights)["summed"].item()
            sums["accuracy"] += ((logits.argmax(-1) == targets) * weights).sum().item()
            sums["weight"] += weights.sum().item()
            predicted = translate(
                params, batch["inputs"], self.beam_size, self.max_decode_len, self.decode_alpha
            )
            predictions += [decode_tokens(tokenizer, p) for p in predicted.cpu().numpy()]
            references += [decode_tokens(tokenizer, t) for t in targets.cpu().numpy()]
        weight = max(sums.pop("weight"), 1.0)
        metrics = {k: v / weight if math.isfinite(v) else math.nan for k, v in sums.items()}
        metrics["bleu"] = corpus_bleu(predictions, references)
        return metrics, len(references)


WmtPostLn = variant(
    Wmt, "post_ln", "LayerNorm after each residual sum and no final LayerNorms", pre_ln=False
)
WmtAttentionTemp = variant(
    Wmt, "attention_temp", "queries multiplied by 4 before attention", attention_temp=4.0
)
WmtGluTanh = variant(
    Wmt,
    "glu_tanh",
    "the feed-forward ``linear2(tanh(linear1(x)) * linear_glu(x))``",
    activation="tanh",
    glu=True,
)
