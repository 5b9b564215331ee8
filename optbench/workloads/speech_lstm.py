"""``speech_lstm``: conv front-end + bidirectional LSTM + word-level CTC on synthesised speech, the
analogue of AlgoPerf's ``librispeech_deepspeech`` (data, batches, loss and WER:
:mod:`optbench.workloads.common.speech_ctc`).
"""

from __future__ import annotations

import torch
from torch import nn

from optbench.workloads.common import speech_layers
from optbench.workloads.common.speech_ctc import SpeechCtcWorkload
from optbench.workloads.variants import variant


class LstmCtc(nn.Module):
    """SpecAugment, conv subsampling, LayerNorm, bidirectional LSTM layers, dropout, linear CTC
    head started at the label prior (:func:`~optbench.workloads.common.speech_layers.ctc_head`).
    The LayerNorm (DeepSpeech2 normalises here too, with BatchNorm) shortens CTC's blank-only
    plateau, where NadamW's self-tuning point otherwise stays for about a thousand steps."""

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
        self.specaug = speech_layers.SpecAugment()
        self.frontend = speech_layers.ConvSubsampling(channels, dim, activation)
        self.norm = nn.LayerNorm(dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.output = speech_layers.ctc_head(2 * hidden, blank_logit)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.frontend(self.specaug(x, lengths)))
        out_lengths = speech_layers.subsampled_lengths(lengths, h.shape[1])
        frames = h.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(
            h, out_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=frames)
        return self.output(self.dropout(h))


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


SpeechLstmTanh = variant(
    SpeechLstm, "tanh", "tanh instead of ReLU in the convolutional front-end", activation=nn.Tanh
)
