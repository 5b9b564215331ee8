"""``speech_lstm``: conv front-end + bidirectional LSTM + word-level CTC on synthesised speech, the
analogue of AlgoPerf's ``librispeech_deepspeech``. Also :class:`SpeechCtcWorkload`, the data,
loss and WER machinery shared with ``speech_conformer``.

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
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.data import speech
from optbench.workloads.base import SplitObjectWorkload

NUM_CLASSES = len(speech.VOCAB) + 1  # words + the CTC blank (0)
# size -> (train, validation, test utterances, maximum words per utterance, vocabulary size);
# the smoke size speaks only the ten digits, so that a tiny model learns them in seconds.
DATA_SIZES = {"smoke": (320, 48, 48, 1, 10), "mini": (6_000, 500, 500, 5, 30)}


def prior_blank_logit(frames: np.ndarray, num_words: np.ndarray) -> float:
    """The blank logit that, with the 30 word logits at 0, gives the blank its share of the train
    split's output frames: ``p = 1 - words / output frames`` (CTC needs one frame per word; the
    front-end keeps ``(frames + 3) // 4`` of each utterance's frames), ``b = log(30 p / (1 - p))``.
    """
    output_frames = int(((np.asarray(frames, np.int64) + 3) // 4).sum())
    p = 1.0 - int(np.asarray(num_words).sum()) / output_frames
    return math.log((NUM_CLASSES - 1) * p / (1.0 - p))


def init_ctc_head(output: nn.Linear, blank_logit: float) -> None:
    """Start the CTC head near the label prior: word biases 0, the blank's ``blank_logit``
    (weights keep their default init: zeroing them too slowed the Conformer's start).

    Without it, the first steps spend a burst of large gradients (norm 6-16, then about 1) on
    learning to emit blanks, and runs then sat on the blank-only plateau (train loss ~3.9 per
    word, WER 1.0) for 350 to more than 500 steps, seed by seed. Started at the prior, NadamW's
    self-tuning point had train loss about 1.0 by step 100 on the mini BiLSTM (2 of 2 seeds;
    0.9 by step 200 on the mini Conformer), with no plateau (benchmarks/RESULTS.md).
    """
    with torch.no_grad():
        output.bias.zero_()
        output.bias[0] = blank_logit


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance between two token sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def greedy_decode(logits: torch.Tensor, paddings: torch.Tensor) -> list[list[int]]:
    """CTC best-path decoding: argmax per frame, merge repeats, drop blanks (0) and padding."""
    best = logits.argmax(dim=-1).masked_fill(paddings > 0, 0).cpu().numpy()
    out = []
    for row in best:
        keep = np.r_[True, row[1:] != row[:-1]] & (row != 0)
        out.append(row[keep].tolist())
    return out


def word_errors(hypotheses: list[list[int]], references: list[list[int]]) -> tuple[int, int]:
    """Total word edits and reference words (corpus WER = edits / words)."""
    edits = sum(edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True))
    return edits, sum(len(r) for r in references)


def lengths_to_paddings(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths to (B, max_len) float paddings, 1.0 past each length."""
    return (torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]).float()


class SpecAugment(nn.Module):
    """SpecAugment-lite (train mode only): 2 frequency masks of up to 10 bins and 2 time masks of
    up to 10% of the frames per utterance, on normalised features (masked to 0)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        b, t, f = x.shape
        keep = torch.ones_like(x, dtype=torch.bool)
        bins, frames = torch.arange(f, device=x.device), torch.arange(t, device=x.device)
        for _ in range(2):
            width = torch.randint(0, 11, (b, 1), device=x.device)
            start = (torch.rand(b, 1, device=x.device) * (f - width)).long()
            keep &= ~((bins >= start) & (bins < start + width))[:, None, :]
            width = (torch.rand(b, 1, device=x.device) * 0.1 * lengths[:, None]).long()
            start = (torch.rand(b, 1, device=x.device) * (lengths[:, None] - width)).long()
            keep &= ~((frames >= start) & (frames < start + width))[:, :, None]
        return x * keep


class ConvSubsampling(nn.Module):
    """Two 3x3 stride-2 convolutions over (time, mel): x4 fewer frames, then a linear projection."""

    def __init__(self, channels: int, dim: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2, padding=1),
            activation(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            activation(),
        )
        self.proj = nn.Linear(channels * (speech.N_MELS // 4), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.unsqueeze(1))  # (B, C, T/4, 20)
        return self.proj(h.permute(0, 2, 1, 3).flatten(2))


class LstmCtc(nn.Module):
    """SpecAugment, conv subsampling, LayerNorm, bidirectional LSTM layers, dropout, linear CTC
    head started at the label prior (:func:`init_ctc_head`). The LayerNorm (DeepSpeech2
    normalises here too, with BatchNorm) shortens the CTC blank-only plateau: without it,
    NadamW's self-tuning point stayed there ~1,000 steps."""

    def __init__(
        self,
        channels: int,
        dim: int,
        hidden: int,
        layers: int,
        activation: type[nn.Module],
        blank_logit: float,
    ) -> None:
        super().__init__()
        self.specaug = SpecAugment()
        self.frontend = ConvSubsampling(channels, dim, activation)
        self.norm = nn.LayerNorm(dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.output = nn.Linear(2 * hidden, NUM_CLASSES)
        init_ctc_head(self.output, blank_logit)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.frontend(self.specaug(x, lengths)))
        out_lengths = torch.div(lengths + 3, 4, rounding_mode="floor").clamp(1, h.shape[1])
        frames = h.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(
            h, out_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=frames)
        return self.output(self.dropout(h))


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
    synthetic_data = True
    data_source = (
        "SYNTHETIC speech: espeak-ng utterances of 1-5 words (30-word vocabulary), "
        "held-out voices for validation and test"
    )

    @property
    def target_metric_name(self) -> str:
        return "wer"

    @property
    def loss_type(self) -> spec.LossType:
        return spec.LossType.CTC_LOSS

    # --- data ---------------------------------------------------------------------------------
    def load_data(self) -> None:
        """Synthesise (or read from the cache) the utterances of this size."""
        if self._splits is not None:
            return
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
        self._splits = {
            s: _SpeechSplit(arrays, s, self._mean, self._std, self.device)
            for s in ("train", "validation", "test")
        }

    @property
    def blank_logit(self) -> float:
        """The CTC head's initial blank logit, from the train split (:func:`prior_blank_logit`)."""
        self.load_data()
        return self._blank_logit

    @property
    def eval_batch_size(self) -> int:
        return 64

    def _eval_order(self, split: str) -> np.ndarray:
        """Shortest utterances first: eval batches of similar lengths carry little padding."""
        return np.argsort(self._split(split).frames[: self._split_size(split)], kind="stable")

    # --- model --------------------------------------------------------------------------------
    def model_fn(
        self,
        params: nn.Module,
        augmented_and_preprocessed_input_batch: Mapping[str, Any],
        model_state: Any,
        mode: spec.ForwardPassMode,
        rng: spec.RandomState,
        update_batch_norm: bool,
        use_running_average_bn: bool | None = None,
        dropout_rate: float | None = None,
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], Any]:
        """Forward pass; returns ``((logits, logit_paddings), model_state)`` as AlgoPerf's."""
        model = params
        training = self._set_mode(model, mode, update_batch_norm, dropout_rate)
        features, paddings = augmented_and_preprocessed_input_batch["inputs"]
        lengths = (1 - paddings).sum(dim=1).long()
        with torch.set_grad_enabled(training):
            logits = model(features, lengths)
        out_lengths = torch.div(lengths + 3, 4, rounding_mode="floor").clamp(1, logits.shape[1])
        return (logits, lengths_to_paddings(out_lengths, logits.shape[1])), model_state

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
        targets, target_paddings = label_batch
        logits, logit_paddings = logits_batch
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        input_lengths = (1 - logit_paddings).sum(dim=1).long()
        target_lengths = (1 - target_paddings).sum(dim=1).long()
        per_example = F.ctc_loss(
            log_probs.transpose(0, 1),
            targets.long(),
            input_lengths,
            target_lengths,
            blank=0,
            reduction="none",
            zero_infinity=True,
        )
        if mask_batch is not None:
            per_example = per_example * mask_batch
            n_valid = (target_lengths * mask_batch).sum()
        else:
            n_valid = target_lengths.sum()
        n_valid = n_valid.to(per_example.dtype).clamp_min(1)
        return {
            "summed": per_example.sum(),
            "n_valid_examples": n_valid,
            "per_example": per_example,
        }

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


# size -> (conv channels, projection dim, LSTM hidden per direction, LSTM layers)
_LSTM_SIZES = {"smoke": (16, 128, 128, 1), "mini": (32, 256, 160, 2)}


class SpeechLstm(SpeechCtcWorkload):
    """Conv x4 subsampling (32 ch), LayerNorm, 2-layer BiLSTM (160 per direction), word CTC
    (1.3M params)."""

    name = "speech_lstm"
    algoperf_name = "librispeech_deepspeech"
    description = (
        "conv x4 subsampling + LayerNorm + 2-layer BiLSTM (160) + word CTC on espeak-ng speech"
    )
    activation: type[nn.Module] = nn.ReLU

    def _build_model(self) -> nn.Module:
        return LstmCtc(
            *_LSTM_SIZES[self.size],
            activation=self.activation,
            blank_logit=self.blank_logit,
        )


class SpeechLstmTanh(SpeechLstm):
    """Variant: tanh instead of ReLU in the convolutional front-end (as AlgoPerf's
    ``librispeech_deepspeech_tanh``)."""

    name = "speech_lstm_tanh"
    base_name = "speech_lstm"
    algoperf_name = "librispeech_deepspeech_tanh"
    description = "speech_lstm with tanh activations in the front-end"
    activation = nn.Tanh
