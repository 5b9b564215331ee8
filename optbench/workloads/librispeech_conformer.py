"""``librispeech_conformer``: AlgoPerf's Conformer on LibriSpeech at full scale, and its variants
``librispeech_conformer_attention_temperature``, ``librispeech_conformer_layernorm`` and
``librispeech_conformer_gelu``.

The network is :class:`optbench.models.conformer.ConformerEncoderDecoder` (32,321,792
parameters; ``_layernorm`` 32,317,696); the data, CTC loss and WER are AlgoPerf's LibriSpeech
ones (:mod:`optbench.workloads.librispeech.workload`). Targets, budget, eval period and step
hint are AlgoPerf's (``targets/librispeech_conformer*.json``, size ``full``).
"""

from __future__ import annotations

from typing import ClassVar

from optbench.models.conformer import ConformerConfig, ConformerEncoderDecoder
from optbench.workloads.librispeech.workload import LibriSpeechWorkload
from optbench.workloads.variants import variant


class LibriSpeechConformer(LibriSpeechWorkload):
    """Conformer (4 blocks of width 512, 8 heads, swish, post-LayerNorm) + CTC."""

    name = "librispeech_conformer"
    algoperf_name = "librispeech_conformer"
    description = (
        "Conformer (4 blocks, d=512) + CTC on LibriSpeech, AlgoPerf's librispeech_conformer"
    )
    config: ClassVar[ConformerConfig] = ConformerConfig()
    network = ConformerEncoderDecoder


LibriSpeechConformerAttentionTemperature = variant(
    LibriSpeechConformer,
    "attention_temperature",
    "attention outputs multiplied by 1.6",
    config=ConformerConfig(attention_temperature=1.6),
)


LibriSpeechConformerLayernorm = variant(
    LibriSpeechConformer,
    "layernorm",
    "no LayerNorm at the end of each block",
    config=ConformerConfig(use_post_layer_norm=False),
)


LibriSpeechConformerGelu = variant(
    LibriSpeechConformer, "gelu", "GELU in place of swish", config=ConformerConfig(use_gelu=True)
)
