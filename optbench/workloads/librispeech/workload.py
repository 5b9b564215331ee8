"""What AlgoPerf's LibriSpeech workloads share: the data (:mod:`optbench.data.librispeech`),
CTC loss, WER (:mod:`.metrics`) and the size ``full``.

- **Splits**: train (263,840 utterances), validation (dev-clean + dev-other, 5,348) and test
  (test-clean, 2,472); eval-train is a fixed subset of train (the first
  ``num_eval_train_examples`` of a seed-0 permutation, in index order) of AlgoPerf's size: the
  validation size rounded up to a multiple of AlgoPerf's eval batch size (5,376).
- **Input queue**: the training utterances in a fresh torch permutation per epoch (the one input
  queue of every workload, :func:`~optbench.workloads.input_queue.batch_indices`), read while the
  previous batch trains; batches as AlgoPerf's PyTorch pipeline makes them (audio padded to
  320,000 samples, targets to 256 tokens, both float32, with paddings). The networks compute
  their features and SpecAugment themselves.
- **Model function**: ``model_fn`` returns ``(logits (B, 500, 1024), logit_paddings (B, 500))``.
  The dropout rate is 0.1 unless ``init_model_fn`` or ``model_fn`` is given one (AlgoPerf's
  default, in v0.5 and v0.6 alike). With ``update_batch_norm=False`` a training pass still
  normalises by the batch but leaves the running statistics as they are (AlgoPerf sets the
  BatchNorm momentum to 0 then).
- **Loss**: AlgoPerf's: CTC (blank 0) of ``log_softmax(logits)`` per utterance, unreduced;
  ``n_valid_examples`` is the number of target tokens of the batch without a mask, and the
  number of unmasked utterances with targets with one (as AlgoPerf's ``loss_fn`` counts).
- **Metrics**: ``wer`` (AlgoPerf's, :mod:`.metrics`) and ``ctc_loss`` (summed CTC losses over
  target tokens), on every split.

**Size.** These workloads have the one size ``full`` (AlgoPerf's LibriSpeech, its targets and
budgets), listed in ``sizes``.

**``test_width``** (tests only, never for results): the networks at that width, with as many
outputs as the tokenizer has pieces, and any number of utterances and pieces, so that a test can
train a step on a few generated utterances in the real layout; LibriSpeech's split sizes and
1,024-piece tokenizer are checked only without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from optbench import spec
from optbench.data import librispeech
from optbench.models.speech_frontend import MaskedBatchNorm
from optbench.workloads.common.ctc_metrics import greedy_decode
from optbench.workloads.common.losses import ctc_per_utterance, loss_dict
from optbench.workloads.full_size import FULL, FullSizeWorkload
from optbench.workloads.input_queue import batch_indices
from optbench.workloads.librispeech.metrics import word_errors

DROPOUT_RATE = 0.1  # AlgoPerf's default dropout rate for both networks
EOS_ID = 2


class LibriSpeechWorkload(FullSizeWorkload):
    """AlgoPerf's LibriSpeech speech recognition (see the module docstring); subclasses name the
    ``network`` class and its ``config`` (a variant changes the config)."""

    target_metric_name = "wer"
    loss_type = spec.LossType.CTC_LOSS
    data_source = (
        "LibriSpeech ASR corpus (960 h; dev-clean + dev-other, test-clean), as AlgoPerf's "
        "dataset_setup.py leaves it: per-utterance audio and token arrays, SentencePiece model"
    )
    output_layer = "lin"
    default_dropout_rate = DROPOUT_RATE
    # Examples per eval batch on one device (the metrics do not depend on it); AlgoPerf's own
    # sets the eval-train size.
    eval_batch_size = 256
    algoperf_eval_batch_size: ClassVar[int] = 256
    network: ClassVar[Callable[[Any], nn.Module]]
    config: ClassVar[Any]

    def __init__(self, size: str = FULL, *, test_width: int | None = None, **kwargs: Any) -> None:
        super().__init__(size, test_width=test_width, **kwargs)
        self._tokenizer: librispeech.Tokenizer | None = None

    def _build_model(self) -> nn.Module:
        config = self.config
        if self.test_width is not None:
            config = config.at_width(self.test_width, self.vocab_size)
        return self.network(config)

    # --- data ---------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Index the splits and load the tokenizer (utterances are read as batches need them)."""
        if self._splits is None:
            full = self.test_width is None
            self._splits, self._tokenizer = librispeech.load_splits(self._data_dir, full=full)
            self.data_provenance = {
                "root": str(self._splits["train"].root),
                "tokenizer_pieces": self._tokenizer.vocab_size,
                **{f"{split}_examples": len(self._splits[split]) for split in self._splits},
            }

    @property
    def tokenizer(self) -> librispeech.Tokenizer:
        self.load_data()
        assert self._tokenizer is not None
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        """The network's outputs: 1,024 (AlgoPerf's); at a test width with data, the
        tokenizer's pieces."""
        if self.test_width is None or self._data_dir is None:
            return librispeech.VOCAB_SIZE
        return self.tokenizer.vocab_size

    @property
    def train_mean(self) -> float:
        """0: the networks normalise their log-mel features themselves (AlgoPerf's per-bin
        LibriSpeech statistics, :mod:`optbench.models.speech_frontend`)."""
        return 0.0

    @property
    def train_stddev(self) -> float:
        return 1.0

    def _eval_ids(self, split: str) -> np.ndarray:
        """The utterances an eval of ``split`` reads: eval-train's fixed subset of train (in
        index order), every utterance otherwise."""
        if split != "eval_train":
            return np.arange(self._split_size(split))
        order = torch.randperm(self.num_train_examples, generator=torch.Generator().manual_seed(0))
        return np.sort(order[: self.num_eval_train_examples].numpy())

    def _batches(
        self, jobs: Iterator[tuple[librispeech.Split, np.ndarray]]
    ) -> Iterator[dict[str, Any]]:
        pin = self.device.type == "cuda"
        for batch in librispeech.Prefetcher(jobs, pin_memory=pin):
            yield {
                key: tuple(t.to(self.device, non_blocking=pin) for t in pair)
                for key, pair in batch.items()
            }

    def _queue(
        self, data_rng: spec.RandomState, split: str, global_batch_size: int
    ) -> Iterator[dict[str, Any]]:
        """Training batches in a fresh permutation per epoch, forever; another split's batches
        in order, repeated forever."""
        if split != "train":
            return self._repeated_eval_batches(split, global_batch_size)
        source = self._split("train")
        indices = batch_indices(data_rng, len(source), global_batch_size, "train")
        return self._batches((source, idx.numpy()) for idx in indices)

    def _eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, Any]]:
        ids, source = self._eval_ids(split), self._split(split)
        spans = range(0, len(ids), batch_size)
        yield from self._batches((source, ids[s : s + batch_size]) for s in spans)

    def _repeated_eval_batches(self, split: str, batch_size: int) -> Iterator[dict[str, Any]]:
        while True:
            yield from self._eval_batches(split, batch_size)

    def synthetic_batch(self, batch_size: int, seed: int = 0) -> dict[str, Any]:
        """Random utterances in the shapes of real batches: noise of 4 to 20 s (LibriSpeech's
        training utterances average about 12 s) at speech-like levels, and one target token
        per 0.25 s ending in ``</s>``."""
        g = torch.Generator().manual_seed(seed)
        samples = librispeech.MAX_INPUT_LENGTH
        lengths = torch.randint(samples // 5, samples + 1, (batch_size,), generator=g)
        positions = torch.arange(samples)[None, :]
        audio_paddings = (positions >= lengths[:, None]).float()
        audio = (torch.randn(batch_size, samples, generator=g) * 3000.0).round()
        audio = audio.clamp(-32768, 32767) * (1 - audio_paddings)
        tokens = librispeech.MAX_TARGET_LENGTH
        counts = (lengths // (librispeech.SAMPLE_RATE // 4)).clamp(2, tokens)
        targets = torch.randint(EOS_ID + 1, self.vocab_size, (batch_size, tokens), generator=g)
        targets[torch.arange(batch_size), counts - 1] = EOS_ID
        target_paddings = (torch.arange(tokens)[None, :] >= counts[:, None]).float()
        targets = targets.float() * (1 - target_paddings)
        batch = {"inputs": (audio, audio_paddings), "targets": (targets, target_paddings)}
        return {k: tuple(t.to(self.device) for t in v) for k, v in batch.items()}

    # --- model --------------------------------------------------------------------------------
    def _set_mode(
        self,
        model: nn.Module,
        mode: spec.ForwardPassMode,
        update_batch_norm: bool,
        dropout_rate: float | None,
    ) -> bool:
        """As for every workload, and in a training pass the padding-aware BatchNorms update
        their running statistics only with ``update_batch_norm``."""
        training = super()._set_mode(model, mode, update_batch_norm, dropout_rate)
        update = bool(update_batch_norm)
        if training and getattr(model, "_optbench_bn_update", None) != update:
            for module in model.modules():
                if isinstance(module, MaskedBatchNorm):
                    module.update_stats = update
            model._optbench_bn_update = update
        return training

    def _forward(
        self, model: nn.Module, batch: Mapping[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, logit_paddings)`` of a batch, as AlgoPerf's ``model_fn``."""
        audio, paddings = batch["inputs"]
        return model(audio, paddings)

    # --- loss and metrics -----------------------------------------------------------------------
    def loss_fn(
        self,
        label_batch: tuple[torch.Tensor, torch.Tensor],
        logits_batch: tuple[torch.Tensor, torch.Tensor],
        mask_batch: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """AlgoPerf's CTC loss dict (see the module docstring; label smoothing does not apply)."""
        del label_smoothing
        per_example, target_lengths = ctc_per_utterance(label_batch, logits_batch)
        if mask_batch is not None:
            per_example = per_example * mask_batch
            valid = torch.logical_and(mask_batch, target_lengths)
        else:
            valid = target_lengths
        return loss_dict(per_example, valid.sum().to(per_example.dtype).clamp_min(1))

    def _eval_split(
        self, split: str, params: nn.Module, model_state: Any, rng: Any, batch_size: int
    ) -> tuple[dict[str, float], int]:
        """AlgoPerf's WER and CTC loss per target token on one split."""
        loss = tokens = 0.0
        errors = words = 0
        detokenize = self.tokenizer.detokenize
        for batch in self._eval_batches(split, batch_size):
            logits = self._eval_logits(params, batch, model_state, rng)
            result = self.loss_fn(batch["targets"], logits)
            loss += result["summed"].item()
            tokens += result["n_valid_examples"].item()
            targets, target_paddings = (t.cpu() for t in batch["targets"])
            lengths = (target_paddings == 0).sum(dim=1).tolist()
            references = [t[:n].long().tolist() for t, n in zip(targets, lengths, strict=True)]
            e, w = word_errors(greedy_decode(*logits), references, detokenize)
            errors, words = errors + e, words + w
        ctc_loss = loss / max(tokens, 1.0)
        wer = errors / max(words, 1)
        metrics = {"ctc_loss": ctc_loss if math.isfinite(ctc_loss) else math.nan, "wer": wer}
        return metrics, self._split_size(split)
