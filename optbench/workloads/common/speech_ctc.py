"""The speech-CTC workload shared by ``speech_lstm`` and ``speech_conformer``: data, batches,
CTC loss and WER.

Data (:mod:`optbench.data.speech`, SYNTHETIC: espeak-ng utterances of 1-5 words from a 30-word
vocabulary, validation and test voices unseen in training). Batches follow AlgoPerf's librispeech
layout: ``inputs = (features (B, T, 80), feature_paddings (B, T))`` and ``targets = (tokens (B, L),
token_paddings (B, L))``, paddings 1.0 where padded; tokens are word ids + 1 (0 is the CTC blank).
``model_fn`` returns ``(logits (B, T/4, 31), logit_paddings (B, T/4))`` and ``loss_fn`` takes these
pairs, as AlgoPerf's librispeech workloads do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from optbench import spec
from optbench.data import speech
from optbench.workloads.common.ctc_metrics import greedy_decode, word_errors
from optbench.workloads.common.losses import ctc_per_utterance, loss_dict
from optbench.workloads.common.speech_layers import (
    lengths_to_paddings,
    prior_blank_logit,
    subsampled_lengths,
)
from optbench.workloads.split_object import SplitObjectWorkload

# size -> (train, validation, test utterances, maximum words per utterance, vocabulary size);
# the smoke size speaks only the ten digits, so that a tiny model learns them in seconds.
DATA_SIZES = {"smoke": (320, 48, 48, 1, 10), "mini": (6_000, 500, 500, 5, 30)}


class _SpeechSplit:
    """One split's utterances (concatenated features, offsets, words) and batch assembly."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        prefix: str,
        mean: np.ndarray,
        std: np.ndarray,
        device: torch.device,
    ) -> None:
        self.features = torch.from_numpy(np.asarray(arrays[f"{prefix}_features"]))
        self.frames = np.asarray(arrays[f"{prefix}_frames"]).astype(np.int64)
        self.starts = np.r_[0, np.cumsum(self.frames)[:-1]]
        num_words = np.asarray(arrays[f"{prefix}_num_words"]).astype(np.int64)
        word_starts = np.r_[0, np.cumsum(num_words)[:-1]]
        words = np.asarray(arrays[f"{prefix}_words"]).astype(np.int64)
        self.words = [words[s : s + n] for s, n in zip(word_starts, num_words, strict=True)]
        self.mean = torch.from_numpy(mean.astype(np.float32))
        self.std = torch.from_numpy(std.astype(np.float32))
        self.device = device

    def __len__(self) -> int:
        return len(self.frames)

    def batch(self, idx: np.ndarray) -> dict[str, Any]:
        """Utterances ``idx``, padded to the longest (rounded up to a multiple of 4)."""
        lengths = self.frames[idx]
        t = int(math.ceil(lengths.max() / 4) * 4)
        x = torch.zeros(len(idx), t, speech.N_MELS)
        for row, (i, n) in enumerate(zip(idx, lengths, strict=True)):
            s = self.starts[i]
            x[row, :n] = (self.features[s : s + n].float() - self.mean) / self.std
        word_counts = [len(self.words[i]) for i in idx]
        tokens = torch.zeros(len(idx), max(word_counts), dtype=torch.long)
        for row, i in enumerate(idx):
            tokens[row, : len(self.words[i])] = torch.from_numpy(self.words[i] + 1)
        lengths_t = torch.from_numpy(lengths)
        word_counts_t = torch.tensor(word_counts)
        return {
            "inputs": (x.to(self.device), lengths_to_paddings(lengths_t, t).to(self.device)),
            "targets": (
                tokens.to(self.device),
                lengths_to_paddings(word_counts_t, tokens.shape[1]).to(self.device),
            ),
        }


class SpeechCtcWorkload(SplitObjectWorkload):
    """Word-level CTC on the synthesised utterances, scored by WER (shared by both models)."""

    output_layer = "output"
    target_metric_name = "wer"
    loss_type = spec.LossType.CTC_LOSS
    eval_batch_size = 64
    synthetic_data = True
    data_source = (
        "SYNTHETIC speech: espeak-ng utterances of 1-5 words (30-word vocabulary), "
        "held-out voices for validation and test"
    )

    # --- data ---------------------------------------------------------------------------------
    def _load_splits(self) -> dict[str, _SpeechSplit]:
        """Synthesise (or read from the cache) the utterances of this size."""
        n_train, n_val, n_test, max_words, vocab_size = DATA_SIZES[self.size]
        arrays, self.data_provenance = speech.load(
            {"train": n_train, "validation": n_val, "test": n_test},
            max_words=max_words,
            vocab_size=vocab_size,
            cache_dir=self._cache_dir,
        )
        train = np.asarray(arrays["train_features"], np.float32)
        self._mean, self._std = train.mean(axis=0), train.std(axis=0) + 1e-5
        self._blank_logit = prior_blank_logit(arrays["train_frames"], arrays["train_num_words"])
        return {
            s: _SpeechSplit(arrays, s, self._mean, self._std, self.device)
            for s in ("train", "validation", "test")
        }

    @property
    def blank_logit(self) -> float:
        """The CTC head's initial blank logit, from the train split (:func:`prior_blank_logit`)."""
        self.load_data()
        return self._blank_logit

    def _eval_order(self, split: str) -> torch.Tensor:
        """Shortest utterances first: eval batches of similar lengths carry little padding."""
        frames = self._split(split).frames[: self._split_size(split)]
        return torch.from_numpy(np.argsort(frames, kind="stable"))

    # --- model --------------------------------------------------------------------------------
    def _forward(
        self, model: nn.Module, batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, logit_paddings)`` of a batch, as AlgoPerf's librispeech ``model_fn``."""
        features, paddings = batch["inputs"]
        lengths = (1 - paddings).sum(dim=1).long()
        logits = model(features, lengths)
        out_lengths = subsampled_lengths(lengths, logits.shape[1])
        return logits, lengths_to_paddings(out_lengths, logits.shape[1])

    def loss_fn(
        self,
        label_batch: tuple[torch.Tensor, torch.Tensor],
        logits_batch: tuple[torch.Tensor, torch.Tensor],
        mask_batch: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """CTC loss per utterance (blank 0); ``n_valid_examples`` counts target words, as in
        AlgoPerf's librispeech workloads (so ``summed / n_valid_examples`` is per word)."""
        del label_smoothing  # not defined for CTC (AlgoPerf ignores it too)
        per_example, target_lengths = ctc_per_utterance(
            label_batch, logits_batch, zero_infinity=True
        )
        if mask_batch is not None:
            per_example = per_example * mask_batch
            n_valid = (target_lengths * mask_batch).sum()
        else:
            n_valid = target_lengths.sum()
        return loss_dict(per_example, n_valid.to(per_example.dtype).clamp_min(1))

    # --- evaluation ---------------------------------------------------------------------------
    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """Corpus WER (greedy CTC decoding) and CTC loss per word."""
        edits = words = examples = 0
        loss_sum = 0.0
        for batch in self._eval_batches(split, batch_size):
            out = self._eval_logits(params, batch, model_state, rng)
            loss_sum += self.loss_fn(batch["targets"], out)["summed"].item()
            tokens, token_paddings = batch["targets"]
            references = [t[p == 0].tolist() for t, p in zip(tokens, token_paddings, strict=True)]
            e, w = word_errors(greedy_decode(*out), references)
            edits, words, examples = edits + e, words + w, examples + len(references)
        loss = loss_sum / max(words, 1)
        return {
            "loss": loss if math.isfinite(loss) else math.nan,
            "wer": edits / max(words, 1),
        }, examples
