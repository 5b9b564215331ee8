"""``speech_conformer``: a small Conformer with word-level CTC on synthesised speech, the analogue
of AlgoPerf's ``librispeech_conformer`` (data, batches, loss and WER:
:mod:`optbench.workloads.common.speech_ctc`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.workloads.common import speech_layers
from optbench.workloads.common.speech_ctc import SpeechCtcWorkload
from optbench.workloads.variants import variant

# size -> (model dim, heads, blocks, depthwise kernel, conv front-end channels)
_SIZES = {"smoke": (48, 2, 1, 7, 8), "mini": (144, 4, 4, 15, 32)}


class SelfAttention(nn.Module):
    """Multi-head self-attention over unpadded frames; logits are divided by ``temperature``.
    The fused query-key-value and the output projections carry AlgoPerf's attention types."""

    parameter_types: ClassVar[dict[str, spec.ParameterType]] = {
        "qkv.weight": spec.ParameterType.ATTENTION_QKV,
        "qkv.bias": spec.ParameterType.ATTENTION_BIAS,
        "out.weight": spec.ParameterType.ATTENTION_OUT,
        "out.bias": spec.ParameterType.ATTENTION_BIAS,
    }

    def __init__(self, dim: int, heads: int, temperature: float) -> None:
        super().__init__()
        self.heads, self.temperature = heads, temperature
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scale = 1.0 / (math.sqrt(d // self.heads) * self.temperature)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :], scale=scale)
        return self.dropout(self.out(h.transpose(1, 2).reshape(b, t, d)))


class FeedForward(nn.Module):
    """Pre-norm feed-forward module (4x expansion, swish), added with weight 1/2 (macaron)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, 4 * dim),
            nn.SiLU(),
            nn.Dropout(0.0),
            nn.Linear(4 * dim, dim),
            nn.Dropout(0.0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, LayerNorm, swish, pointwise conv (Conformer's; layer
    norm in place of batch norm, so padded frames never enter any statistics)."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.pointwise_in = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm_mid = nn.LayerNorm(dim)
        self.pointwise_out = nn.Conv1d(dim, dim, 1)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = self.norm_in(x) * keep[..., None]
        h = F.glu(self.pointwise_in(h.transpose(1, 2)), dim=1)
        h = self.depthwise(h * keep[:, None, :]).transpose(1, 2)
        h = F.silu(self.norm_mid(h)).transpose(1, 2)
        return self.dropout(self.pointwise_out(h).transpose(1, 2))


class ConformerBlock(nn.Module):
    """FFN/2, self-attention, convolution, FFN/2, final LayerNorm, all residual."""

    def __init__(self, dim: int, heads: int, kernel: int, temperature: float) -> None:
        super().__init__()
        self.ff1, self.ff2 = FeedForward(dim), FeedForward(dim)
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, temperature)
        self.conv = ConvModule(dim, kernel)
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(self.attn_norm(x), keep)
        x = x + self.conv(x, keep)
        x = x + 0.5 * self.ff2(x)
        return self.norm_out(x)


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """Absolute sinusoidal position encodings (length, dim)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * freq), torch.cos(position * freq)
    return table


class Conformer(nn.Module):
    """SpecAugment, conv x4 subsampling, sinusoidal positions, Conformer blocks, CTC head started
    at the label prior (:func:`~optbench.workloads.common.speech_layers.ctc_head`)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        blocks: int,
        kernel: int,
        channels: int,
        temperature: float = 1.0,
        *,
        blank_logit: float,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.specaug = speech_layers.SpecAugment()
        self.frontend = speech_layers.ConvSubsampling(channels, dim, nn.ReLU)
        self.input_dropout = nn.Dropout(0.0)
        self.blocks = nn.ModuleList(
            ConformerBlock(dim, heads, kernel, temperature) for _ in range(blocks)
        )
        self.output = speech_layers.ctc_head(dim, blank_logit)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.frontend(self.specaug(x, lengths))
        out_lengths = speech_layers.subsampled_lengths(lengths, h.shape[1])
        keep = torch.arange(h.shape[1], device=h.device)[None, :] < out_lengths[:, None]
        h = self.input_dropout(h + sinusoids(h.shape[1], self.dim).to(h.device))
        for block in self.blocks:
            h = block(h, keep)
        return self.output(h)


class SpeechConformer(SpeechCtcWorkload):
    """Conformer (4 blocks, d=144, 4 heads, kernel 15; 1 x 48 at smoke size) + word CTC."""

    name = "speech_conformer"
    algoperf_name = "librispeech_conformer"
    description = "Conformer (4 blocks, d=144) + word-level CTC on espeak-ng speech"
    attention_temperature = 1.0

    def _build_model(self) -> nn.Module:
        return Conformer(
            *_SIZES[self.size],
            temperature=self.attention_temperature,
            blank_logit=self.blank_logit,
        )


SpeechConformerAttentionTemperature = variant(
    SpeechConformer,
    "attention_temperature",
    "attention logits divided by 1.6",
    attention_temperature=1.6,
)
