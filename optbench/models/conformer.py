"""AlgoPerf's LibriSpeech Conformer in PyTorch (``librispeech_conformer`` and its variants).

As AlgoPerf's PyTorch ``ConformerEncoderDecoder`` (a port of init2winit's Conformer):

- the in-model front-end, SpecAugment (training only) and two stride-2 convolutions of
  :mod:`optbench.models.speech_frontend` (raw audio of 320,000 samples to 500 x 20 x 512), a
  linear layer to 512, sinusoidal positions (sines then cosines of 256 timescales from 1 to
  10,000), dropout;
- 4 Conformer blocks of width 512: ``x + FFN/2``, ``x + MHSA``, ``x + conv``, ``x + FFN/2``,
  then a LayerNorm (not in ``_layernorm``, AlgoPerf's ``use_post_layer_norm=False``);
  - FFN: LayerNorm, 512 -> 2048, swish (tanh-approximated GELU in ``_gelu``), padded frames
    zeroed, 2048 -> 512, padded frames zeroed, dropout;
  - MHSA: LayerNorm, a fused query-key-value projection, 8 heads of 64 whose queries are scaled
    per dimension by ``1.442695041 * softplus(s)`` (``s`` starting at 0, so by 1), softmax
    attention over unpadded frames (scale 1/8), the output multiplied by the attention
    temperature (1.6 in ``_attention_temperature``: AlgoPerf scales the attention *output*),
    an output projection, dropout;
  - convolution: LayerNorm, a GLU of two 512 -> 512 projections, padded frames zeroed, a
    depthwise convolution of kernel 5 (no bias), padding-aware BatchNorm, swish (exact GELU in
    ``_gelu``), a 512 -> 512 projection, dropout;
- a final LayerNorm and the 512 -> 1024 output layer ``lin`` (1024 SentencePiece ids, 0 the CTC
  blank).

Dropout sits where AlgoPerf v0.6 applies its ``dropout_rate`` (after the positions, at the end
of each FFN, MHSA and convolution module) as ``nn.Dropout`` modules whose rate the workload sets
per pass; AlgoPerf's other rates (inside the FFN and on the attention weights) are 0.

Initialisation (AlgoPerf's ``initialize``): every linear layer and the depthwise convolution
Xavier uniform with zero biases; the subsampling kernels Xavier uniform; LayerNorm and BatchNorm
scales (used as ``1 + scale``) and biases 0; query scales 0. Parameters: 32,321,792
(``_layernorm``: 32,317,696). Module and parameter names are AlgoPerf's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from optbench.models import speech_frontend as fe


@dataclass(frozen=True)
class ConformerConfig(fe.SpeechConfig):
    """AlgoPerf's ``ConformerConfig`` (the fields its workloads set)."""

    num_attention_heads: int = 8
    num_encoder_layers: int = 4
    convolution_kernel_size: int = 5
    feed_forward_expansion_factor: int = 4
    attention_temperature: float = 1.0
    use_gelu: bool = False
    use_post_layer_norm: bool = True

    def at_width(self, width: int, vocab_size: int) -> ConformerConfig:
        """The same network ``width`` wide (heads of 8 dimensions at most 8) with
        ``vocab_size`` outputs: the tests' CPU-sized version."""
        return replace(
            self,
            encoder_dim=width,
            num_attention_heads=max(1, min(8, width // 8)),
            vocab_size=vocab_size,
        )


def positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """``(1, length, dim)`` sinusoids: sines then cosines of ``dim // 2`` timescales
    geometrically spaced from 1 to 10,000 (a zero column for odd ``dim``)."""
    half = dim // 2
    increment = math.log(10_000.0) / max(half - 1, 1)
    inverse = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * -increment)
    scaled = torch.arange(length, dtype=torch.float32, device=device)[None, :, None] * inverse
    signal = torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=2)
    return F.pad(signal, (0, dim % 2))


class Subsample(fe.Subsampling):
    """Two subsampling convolutions, a linear layer to the model width, positions, dropout."""

    def __init__(self, encoder_dim: int, num_bins: int = fe.NUM_BINS) -> None:
        super().__init__(encoder_dim)
        self.encoder_dim = encoder_dim
        self.linear = nn.Linear(encoder_dim * num_bins // 4, encoder_dim)
        self.dropout = nn.Dropout(0.0)

    def forward(
        self, features: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, paddings = self.convolve(features, paddings)
        outputs = self.linear(outputs)
        outputs = outputs + positions(outputs.shape[1], self.encoder_dim, outputs.device)
        return self.dropout(outputs), paddings


class FeedForwardModule(nn.Module):
    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        dim, hidden = config.encoder_dim, config.encoder_dim * config.feed_forward_expansion_factor
        self.ln = fe.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, hidden)
        self.linear2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(0.0)
        self.use_gelu = config.use_gelu

    def forward(self, inputs: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        hidden = self.linear1(self.ln(inputs))
        hidden = F.gelu(hidden, approximate="tanh") if self.use_gelu else F.silu(hidden)
        outputs = self.linear2(hidden * keep) * keep
        return self.dropout(outputs)


class QueryScaler(nn.Module):
    """Per-dimension query scales ``1.442695041 * softplus(scale)`` (1 at init)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(dim))

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        return queries * (1.442695041 * F.softplus(self.scale))


class MHSAwithQS(nn.Module):
    """Multi-head self-attention with query scaling, over unpadded keys."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = config.encoder_dim, config.num_attention_heads
        self.in_proj = nn.Linear(self.embed_dim, 3 * self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.qs = QueryScaler(self.embed_dim // self.num_heads)
        self.attention_temperature = config.attention_temperature

    def forward(self, inputs: torch.Tensor, key_padding_mask: torch.Tensor) -> torch.Tensor:
        batch, frames, dim = inputs.shape
        q, k, v = self.in_proj(inputs).split(dim, dim=2)
        q = self.qs(q.view(batch, frames, self.num_heads, -1)).transpose(1, 2)
        k = k.view(batch, frames, self.num_heads, -1).transpose(1, 2)
        v = v.view(batch, frames, self.num_heads, -1).transpose(1, 2)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=~key_padding_mask[:, None, None]
        )
        attended = attended.transpose(1, 2).reshape(batch, frames, dim)
        return self.out_proj(attended * self.attention_temperature)


class MultiHeadedSelfAttention(nn.Module):
    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.ln = fe.LayerNorm(config.encoder_dim)
        self.self_attention = MHSAwithQS(config)
        self.dropout = nn.Dropout(0.0)

    def forward(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        outputs = self.self_attention(self.ln(inputs), key_padding_mask=paddings == 1)
        return self.dropout(outputs)


class ConvolutionBlock(nn.Module):
    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        dim = config.encoder_dim
        self.ln = fe.LayerNorm(dim)
        self.lin1 = nn.Linear(dim, dim)
        self.lin2 = nn.Linear(dim, dim)
        self.conv1 = nn.Conv1d(
            dim, dim, config.convolution_kernel_size, padding="same", bias=False, groups=dim
        )
        self.bn = fe.MaskedBatchNorm(dim, scale_name="scale")
        self.lin3 = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(0.0)
        self.use_gelu = config.use_gelu

    def forward(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        inputs = self.ln(inputs)
        outputs = F.glu(torch.cat([self.lin1(inputs), self.lin2(inputs)], dim=2))
        outputs = outputs * (1 - paddings[:, :, None])
        outputs = self.conv1(outputs.permute(0, 2, 1)).permute(0, 2, 1)
        outputs = self.bn(outputs, paddings)
        outputs = F.gelu(outputs) if self.use_gelu else F.silu(outputs)
        return self.dropout(self.lin3(outputs))


class ConformerBlock(nn.Module):
    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.ff1 = FeedForwardModule(config)
        self.mhsa = MultiHeadedSelfAttention(config)
        self.conv = ConvolutionBlock(config)
        self.ff2 = FeedForwardModule(config)
        self.ln = fe.LayerNorm(config.encoder_dim) if config.use_post_layer_norm else None

    def forward(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        keep = 1 - paddings[:, :, None]
        inputs = inputs + 0.5 * self.ff1(inputs, keep)
        inputs = inputs + self.mhsa(inputs, paddings)
        inputs = inputs + self.conv(inputs, paddings)
        inputs = inputs + 0.5 * self.ff2(inputs, keep)
        return self.ln(inputs) if self.ln is not None else inputs


class ConformerEncoderDecoder(fe.SpeechEncoderDecoder):
    """Audio ``(B, samples)`` and paddings to logits ``(B, frames / 4, vocab)`` and their
    paddings (see the module docstring); initialised as AlgoPerf initialises it."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.preprocessor = fe.MelFilterbankFrontend()
        self.specaug = fe.SpecAug.from_config(config)
        self.subsample = Subsample(config.encoder_dim)
        self.conformers = nn.ModuleList(
            ConformerBlock(config) for _ in range(config.num_encoder_layers)
        )
        self.add_output_layers()

    def encode(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        for block in self.conformers:
            inputs = block(inputs, paddings)
        return inputs
