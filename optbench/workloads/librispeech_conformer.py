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

from torch import nn

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

    def _build_model(self) -> nn.Module:
        config = self.config
        if self.test_width is not None:
            config = config.at_width(self.test_width, self.vocab_size)
        return ConformerEncoderDecoder(config)


LibriSpeechConformerAttentionTemperature = variant(
    "LibriSpeechConformerAttentionTemperature",
    LibriSpeechConformer,
    "librispeech_conformer_attention_temperature",
    algoperf_name="librispeech_conformer_attention_temperature",
    description="Conformer with attention temperature 1.6 on LibriSpeech, AlgoPerf's variant",
    doc="``librispeech_conformer`` whose attention outputs are multiplied by 1.6 (AlgoPerf's "
    "``librispeech_conformer_attention_temperature``).",
    config=ConformerConfig(attention_temperature=1.6),
)


LibriSpeechConformerLayerNorm = variant(
    "LibriSpeechConformerLayerNorm",
    LibriSpeechConformer,
    "librispeech_conformer_layernorm",
    algoperf_name="librispeech_conformer_layernorm",
    description="Conformer without post-LayerNorm on LibriSpeech, AlgoPerf's variant",
    doc="``librispeech_conformer`` without the LayerNorm that ends each block (AlgoPerf's "
    "``librispeech_conformer_layernorm``).",
    config=ConformerConfig(use_post_layer_norm=False),
)


LibriSpeechConformerGelu = variant(
    "LibriSpeechConformerGelu",
    LibriSpeechConformer,
    "librispeech_conformer_gelu",
    algoperf_name="librispeech_conformer_gelu",
    description="Conformer with GELU on LibriSpeech, AlgoPerf's librispeech_conformer_gelu",
    doc="``librispeech_conformer`` with GELU in place of swish (AlgoPerf's "
    "``librispeech_conformer_gelu``).",
    config=ConformerConfig(use_gelu=True),
)
