"""``librispeech_deepspeech``: AlgoPerf's DeepSpeech on LibriSpeech at full scale, and its
variants ``librispeech_deepspeech_tanh``, ``librispeech_deepspeech_no_resnet`` and
``librispeech_deepspeech_norm_and_spec_aug``.

The network is :class:`optbench.models.deepspeech.DeepspeechEncoderDecoder` (18,393,600
parameters; ``_norm_and_spec_aug`` 18,392,576); the data, CTC loss and WER are AlgoPerf's
LibriSpeech ones (:mod:`optbench.workloads.librispeech.workload`). Targets, budget, eval period
and step hint are AlgoPerf's (``targets/librispeech_deepspeech*.json``, size ``full``).
"""

from __future__ import annotations

from typing import ClassVar

from optbench.models.deepspeech import DeepspeechConfig, DeepspeechEncoderDecoder
from optbench.workloads.librispeech.workload import LibriSpeechWorkload
from optbench.workloads.variants import variant


class LibriSpeechDeepSpeech(LibriSpeechWorkload):
    """DeepSpeech (conv subsampling, 6 bidirectional LSTM and 3 feed-forward residual layers
    with BatchNorm, width 512) + CTC."""

    name = "librispeech_deepspeech"
    algoperf_name = "librispeech_deepspeech"
    description = (
        "DeepSpeech (6 BiLSTM + 3 FFN layers, d=512) + CTC on LibriSpeech, AlgoPerf's "
        "librispeech_deepspeech"
    )
    config: ClassVar[DeepspeechConfig] = DeepspeechConfig()
    network = DeepspeechEncoderDecoder


LibriSpeechDeepSpeechTanh = variant(
    LibriSpeechDeepSpeech, "tanh", "tanh in place of ReLU", config=DeepspeechConfig(use_tanh=True)
)


LibriSpeechDeepSpeechNoResnet = variant(
    LibriSpeechDeepSpeech,
    "no_resnet",
    "no residual connections",
    config=DeepspeechConfig(enable_residual_connections=False),
)


LibriSpeechDeepSpeechNormAndSpecAug = variant(
    LibriSpeechDeepSpeech,
    "norm_and_spec_aug",
    "LayerNorm in place of every BatchNorm, no LayerNorm before the output layer, 4 frequency "
    "and 15 time masks, and eval batches of 128",
    config=DeepspeechConfig(
        layernorm_everywhere=True,
        enable_decoder_layer_norm=False,
        freq_mask_count=4,
        time_mask_count=15,
    ),
    eval_batch_size=128,
    algoperf_eval_batch_size=128,
)
