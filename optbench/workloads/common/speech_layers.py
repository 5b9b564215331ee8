"""Layers of the speech-CTC models: SpecAugment, the convolutional x4 front-end, and the CTC
head's initialisation at the label prior."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from optbench.data import speech

NUM_CLASSES = len(speech.VOCAB) + 1  # words + the CTC blank (0)


def subsampled_lengths(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """Frames per utterance after the x4 front-end: ``ceil(lengths / 4)``, in 1..``frames``."""
    return torch.div(lengths + 3, 4, rounding_mode="floor").clamp(1, frames)


def lengths_to_paddings(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths to (B, max_len) float paddings, 1.0 past each length."""
    return (torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]).float()


def prior_blank_logit(frames: np.ndarray, num_words: np.ndarray) -> float:
    """The blank logit that, with the 30 word logits at 0, gives the blank its share of the train
    split's output frames: ``p = 1 - words / output frames`` (CTC needs one frame per word; the
    front-end keeps ``(frames + 3) // 4`` of each utterance's frames), ``b = log(30 p / (1 - p))``.
    """
    output_frames = int(((np.asarray(frames, np.int64) + 3) // 4).sum())
    p = 1.0 - int(np.asarray(num_words).sum()) / output_frames
    return math.log((NUM_CLASSES - 1) * p / (1.0 - p))


def ctc_head(in_features: int, blank_logit: float) -> nn.Linear:
    """The linear CTC head (words + blank), started near the label prior: word biases 0, the
    blank's ``blank_logit`` (weights keep their default init: zeroing them too slowed the
    Conformer's start).

    Started at zero, the head first spends large gradients on learning to emit blanks, and runs
    then sit on CTC's blank-only plateau (WER 1.0) for hundreds of steps; started at the prior,
    they leave it at once (benchmarks/RESULTS.md and benchmarks/ctc_plateau.py measure both).
    """
    output = nn.Linear(in_features, NUM_CLASSES)
    with torch.no_grad():
        output.bias.zero_()
        output.bias[0] = blank_logit
    return output


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
