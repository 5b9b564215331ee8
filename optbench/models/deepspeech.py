"""AlgoPerf's LibriSpeech DeepSpeech in PyTorch (``librispeech_deepspeech`` and its variants).

As AlgoPerf's PyTorch ``DeepspeechEncoderDecoder``:

- the in-model front-end and SpecAugment (training only) of
  :mod:`optbench.models.speech_frontend` (2 frequency and 10 time masks; 4 and 15 in
  ``_norm_and_spec_aug``), two stride-2 subsampling convolutions of 512 channels (ReLU; tanh in
  ``_tanh``), a linear layer 10,240 -> 512 and dropout;
- 6 recurrent layers, each a padding-aware BatchNorm (a LayerNorm in ``_norm_and_spec_aug``)
  then a bidirectional LSTM of 256 units per direction over the unpadded frames (packed
  sequences; padded frames come out 0), added to its input (no residual in ``_no_resnet``);
- 3 feed-forward layers, each a BatchNorm (LayerNorm in ``_norm_and_spec_aug``), 512 -> 512,
  ReLU (tanh in ``_tanh``), padded frames zeroed, dropout, added to the input (no residual in
  ``_no_resnet``);
- a LayerNorm (none in ``_norm_and_spec_aug``) and the 512 -> 1024 output layer ``lin``.

The BatchNorms (momentum 0.001, epsilon 1e-3) all-reduce their statistics over the ranks of a
data-parallel run, as AlgoPerf's do under DDP. Dropout sits where AlgoPerf v0.6 applies its
``dropout_rate`` (after the subsampling, in each feed-forward layer) as ``nn.Dropout`` modules
whose rate the workload sets per pass.

Initialisation: the linear layers Xavier uniform with zero biases (AlgoPerf's ``initialize``,
which AlgoPerf runs after materialising its lazy linear layers), the subsampling kernels Xavier
uniform, the LSTMs PyTorch's default (uniform within ``1/sqrt(256)``), norm scales (used as
``1 + scale``) and biases 0. Parameters: 18,393,600 (``_norm_and_spec_aug``: 18,392,576).
Module and parameter names are AlgoPerf's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from optbench.models import speech_frontend as fe


@dataclass(frozen=True)
class DeepspeechConfig(fe.SpeechConfig):
    """AlgoPerf's ``DeepspeechConfig`` (the fields its workloads set)."""

    num_lstm_layers: int = 6
    num_ffn_layers: int = 3
    enable_residual_connections: bool = True
    enable_decoder_layer_norm: bool = True
    use_tanh: bool = False
    layernorm_everywhere: bool = False

    def at_width(self, width: int, vocab_size: int) -> DeepspeechConfig:
        """The same network ``width`` wide (even) with ``vocab_size`` outputs: the tests'
        CPU-sized version."""
        return replace(self, encoder_dim=width, vocab_size=vocab_size)


def _norm(config: DeepspeechConfig) -> dict[str, nn.Module]:
    """A layer's normalisation, under AlgoPerf's attribute name for its kind."""
    if config.layernorm_everywhere:
        return {"normalization_layer": fe.LayerNorm(config.encoder_dim)}
    return {"bn_normalization_layer": fe.MaskedBatchNorm(config.encoder_dim, "weight", sync=True)}


def _normalise(layer: nn.Module, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
    if hasattr(layer, "normalization_layer"):
        return layer.normalization_layer(inputs)
    return layer.bn_normalization_layer(inputs, paddings)


class Subsample(fe.Subsampling):
    """Two subsampling convolutions, a linear layer to the model width, dropout."""

    def __init__(self, config: DeepspeechConfig) -> None:
        dim = config.encoder_dim
        super().__init__(dim, use_tanh=config.use_tanh)
        self.lin = nn.Linear(dim * fe.NUM_BINS // 4, dim)
        self.dropout = nn.Dropout(0.0)

    def forward(
        self, features: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, paddings = self.convolve(features, paddings)
        return self.dropout(self.lin(outputs)), paddings


class FeedForwardModule(nn.Module):
    def __init__(self, config: DeepspeechConfig) -> None:
        super().__init__()
        for name, module in _norm(config).items():
            self.add_module(name, module)
        self.lin = nn.Linear(config.encoder_dim, config.encoder_dim)
        self.dropout = nn.Dropout(0.0)
        self.use_tanh = config.use_tanh

    def forward(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        outputs = self.lin(_normalise(self, inputs, paddings))
        outputs = torch.tanh(outputs) if self.use_tanh else F.relu(outputs)
        return self.dropout(outputs * (1 - paddings)[:, :, None])


class BatchRNN(nn.Module):
    def __init__(self, config: DeepspeechConfig) -> None:
        super().__init__()
        for name, module in _norm(config).items():
            self.add_module(name, module)
        dim = config.encoder_dim
        self.lstm = nn.LSTM(dim, dim // 2, bidirectional=True, batch_first=True)

    def forward(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        inputs = _normalise(self, inputs, paddings)
        lengths = (1 - paddings).sum(dim=1).long().cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            inputs, lengths, batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.lstm(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(
            outputs, batch_first=True, total_length=inputs.shape[1]
        )
        return outputs


class DeepspeechEncoderDecoder(fe.SpeechEncoderDecoder):
    """Audio ``(B, samples)`` and paddings to logits ``(B, frames / 4, vocab)`` and their
    paddings (see the module docstring); initialised as AlgoPerf initialises it."""

    def __init__(self, config: DeepspeechConfig) -> None:
        super().__init__()
        self.config = config
        self.specaug = fe.SpecAug.from_config(config)
        self.preprocessor = fe.MelFilterbankFrontend()
        self.subsample = Subsample(config)
        self.lstms = nn.ModuleList(BatchRNN(config) for _ in range(config.num_lstm_layers))
        self.ffns = nn.ModuleList(FeedForwardModule(config) for _ in range(config.num_ffn_layers))
        self.add_output_layers(config.enable_decoder_layer_norm)

    def encode(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        residual = self.config.enable_residual_connections
        for layer in (*self.lstms, *self.ffns):
            update = layer(inputs, paddings)
            inputs = inputs + update if residual else update
        return inputs
