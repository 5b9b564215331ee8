"""The pieces AlgoPerf's two LibriSpeech networks share, in PyTorch: the in-model front-end that
turns raw 16 kHz audio into normalised log-mel features, SpecAugment, the x4 convolutional
subsampling, AlgoPerf's LayerNorm and padding-aware BatchNorm, AlgoPerf's parameter types, and
the networks' common frame (:class:`SpeechEncoderDecoder`: front-end, encoder, output layer).

**Front-end** (:class:`MelFilterbankFrontend`, AlgoPerf's PyTorch ``preprocessor.py``, itself
lingvo's ``MelAsrFrontend``): samples (int16 values as floats) scaled by 2^-15, framed in 401
samples (25 ms + 1 for the pre-emphasis) every 160 (10 ms; no end padding), HTK pre-emphasis
0.97 (400 samples out), a periodic Hann window of 400, a 512-point real FFT, the power spectrum,
80 triangular mel filters of 125-7600 Hz on the HTK mel scale (TensorFlow's
``linear_to_mel_weight_matrix``: the DC bin excluded), ``log(max(mel, 1e-5))``, normalised by
AlgoPerf's per-bin LibriSpeech mean and standard deviation. A frame is padding when all of its
401 samples are. 320,000 samples (AlgoPerf's fixed input length) give 1,998 frames.

**SpecAugment** (:class:`SpecAug`, AlgoPerf's ``spectrum_augmenter.py``; training only): time
masks (each up to 5 % of the utterance's unpadded frames, AlgoPerf's dynamic maximum) drawn
first, then frequency masks of up to 27 bins; mask lengths and starts are uniform draws from
the global torch generator, in AlgoPerf's order.

**Subsampling** (:class:`Conv2dSubsampling`): a 3x3 convolution of stride 2 with TensorFlow's
``SAME`` padding over (time, mel), then ReLU (tanh in ``librispeech_deepspeech_tanh``); a
subsampled frame is padding when the first input frame it covers is, and padded frames are
zeroed. Two of them take 1,998 x 80 features to 500 x 20.

Parameter types: AlgoPerf types PyTorch parameters by their names
(``algoperf/param_utils.py``: ``bn`` before ``norm``/``ln`` before ``conv`` before attention
names, else weight or bias); :func:`algoperf_parameter_types` applies the same rules, so these
networks, whose parameter names are AlgoPerf's, get AlgoPerf's types (the linear layers of a
Conformer's convolution block are ``CONV_WEIGHT``, as there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec

SAMPLE_RATE = 16_000
FRAME_STEP = 160  # 10 ms
FRAME_SIZE = 401  # 25 ms, plus one sample for the pre-emphasis
FFT_SIZE = 512
NUM_BINS = 80
PREEMPHASIS = 0.97
LOWER_EDGE_HZ = 125.0
UPPER_EDGE_HZ = 7600.0
OUTPUT_FLOOR = 1e-5
INPUT_SCALE = 2.0**-15

# AlgoPerf's per-bin statistics of LibriSpeech log-mel features (preprocessor.py's
# LIBRISPEECH_MEAN_VECTOR and LIBRISPEECH_STD_VECTOR).
LIBRISPEECH_MEAN = (
    -7.6047816276550293, -7.1206226348876953, -6.8864245414733887, -6.8705768585205078,
    -6.9667720794677734, -7.1084094047546387, -6.9528026580810547, -6.783994197845459,
    -6.6195521354675293, -6.4876265525817871, -6.4120659828186035, -6.394047737121582,
    -6.4244871139526367, -6.3993711471557617, -6.5158271789550781, -6.7137999534606934,
    -6.8476877212524414, -6.9885001182556152, -6.9221386909484863, -7.146148681640625,
    -7.2040400505065918, -7.0537552833557129, -7.3140382766723633, -7.1223249435424805,
    -7.30251407623291, -7.1212143898010254, -7.2425732612609863, -7.1730537414550781,
    -7.0979413986206055, -7.088747501373291, -6.9849910736083984, -6.8787732124328613,
    -6.7602753639221191, -6.6300945281982422, -6.5145769119262695, -6.4245057106018066,
    -6.356513500213623, -6.31787633895874, -6.2660770416259766, -6.2468328475952148,
    -6.2821526527404785, -6.1908388137817383, -6.2484354972839355, -6.1472640037536621,
    -6.0924725532531738, -6.0171003341674805, -5.9250402450561523, -5.8535833358764648,
    -5.8209109306335449, -5.8118929862976074, -5.80783748626709, -5.7714629173278809,
    -5.7453732490539551, -5.7705655097961426, -5.7765641212463379, -5.7831673622131348,
    -5.7954087257385254, -5.7994823455810547, -5.8023476600646973, -5.8047118186950684,
    -5.8168182373046875, -5.8844799995422363, -5.9727106094360352, -6.0444660186767578,
    -6.1284866333007812, -6.2257585525512695, -6.3157496452331543, -6.39061164855957,
    -6.4928598403930664, -6.5498456954956055, -6.6054320335388184, -6.6508378982543945,
    -6.66917610168457, -6.6726889610290527, -6.684234619140625, -6.6974577903747559,
    -6.75471830368042, -6.7949142456054688, -6.8634209632873535, -6.94186544418335,
)  # fmt: skip
LIBRISPEECH_STD = (
    3.4353282451629639, 3.5962932109832764, 3.7012472152709961, 3.7369205951690674,
    3.7535104751586914, 3.693629264831543, 3.6922497749328613, 3.7641522884368896,
    3.8419716358184814, 3.8999848365783691, 3.9294240474700928, 3.9317409992218018,
    3.9139585494995117, 3.9031598567962646, 3.8691999912261963, 3.8155081272125244,
    3.7644970417022705, 3.7099106311798096, 3.6965086460113525, 3.6003766059875488,
    3.5493226051330566, 3.5465121269226074, 3.45003604888916, 3.4712812900543213,
    3.4084610939025879, 3.4408135414123535, 3.4104881286621094, 3.4217638969421387,
    3.4312851428985596, 3.4199209213256836, 3.4305806159973145, 3.4382665157318115,
    3.4580366611480713, 3.4817991256713867, 3.4958710670471191, 3.5036792755126953,
    3.5047574043273926, 3.4988734722137451, 3.493056058883667, 3.4822943210601807,
    3.459430456161499, 3.4612770080566406, 3.4559063911437988, 3.4755423069000244,
    3.4971549510955811, 3.5326557159423828, 3.5705199241638184, 3.5920312404632568,
    3.596907377243042, 3.5913500785827637, 3.5865931510925293, 3.5826809406280518,
    3.5837743282318115, 3.5895791053771973, 3.5819313526153564, 3.5837869644165039,
    3.5861184597015381, 3.5889589786529541, 3.592214822769165, 3.5939455032348633,
    3.5856630802154541, 3.5884113311767578, 3.5921022891998291, 3.5870490074157715,
    3.5806570053100586, 3.5731067657470703, 3.5617532730102539, 3.54980731010437,
    3.5527374744415283, 3.5475366115570068, 3.5387849807739258, 3.5256178379058838,
    3.5031836032867432, 3.4922726154327393, 3.4879646301269531, 3.4725594520568848,
    3.4558389186859131, 3.4351828098297119, 3.4284293651580811, 3.4299170970916748,
)  # fmt: skip


def num_frames(samples: int) -> int:
    """Feature frames of ``samples`` audio samples (no end padding)."""
    return max(0, (samples - FRAME_SIZE) // FRAME_STEP + 1)


def _hertz_to_mel(hertz: torch.Tensor | float) -> torch.Tensor | float:
    """The HTK mel scale, ``1127 ln(1 + f / 700)``."""
    if isinstance(hertz, torch.Tensor):
        return 1127.0 * torch.log(1.0 + hertz / 700.0)
    return 1127.0 * math.log(1.0 + hertz / 700.0)


def mel_weight_matrix(
    num_mel_bins: int = NUM_BINS,
    num_spectrogram_bins: int = FFT_SIZE // 2 + 1,
    sample_rate: float = SAMPLE_RATE,
    lower_edge_hertz: float = LOWER_EDGE_HZ,
    upper_edge_hertz: float = UPPER_EDGE_HZ,
) -> torch.Tensor:
    """``(num_spectrogram_bins, num_mel_bins)`` triangular filters as TensorFlow's
    ``linear_to_mel_weight_matrix`` makes them (in float32): band edges evenly spaced on the mel
    scale, each spectrogram bin weighted by the lower of its two slopes, the DC bin zero."""
    frequencies = torch.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins)[1:]
    bins_mel = _hertz_to_mel(frequencies)[:, None]
    edges = torch.linspace(
        _hertz_to_mel(lower_edge_hertz), _hertz_to_mel(upper_edge_hertz), num_mel_bins + 2
    )
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = torch.minimum(rising, falling).clamp(min=0.0)
    return F.pad(weights, (0, 0, 1, 0))


class MelFilterbankFrontend(nn.Module):
    """Raw audio ``(B, samples)`` and its paddings to normalised log-mel features
    ``(B, frames, 80)`` and frame paddings (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        window = torch.hann_window(FRAME_SIZE - 1, periodic=True)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_weights", mel_weight_matrix(), persistent=False)
        self.register_buffer("mean", torch.tensor(LIBRISPEECH_MEAN), persistent=False)
        self.register_buffer("stddev", torch.tensor(LIBRISPEECH_STD), persistent=False)

    def forward(
        self, audio: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        audio = audio * (1.0 - paddings)
        frame_paddings = paddings.unfold(1, FRAME_SIZE, FRAME_STEP).amin(dim=2)
        frames = (audio * INPUT_SCALE).unfold(1, FRAME_SIZE, FRAME_STEP)  # (B, T, 401)
        emphasised = torch.cat(
            [
                frames[..., :1] * (1.0 - PREEMPHASIS),
                frames[..., 1:-1] - PREEMPHASIS * frames[..., :-2],
            ],
            dim=-1,
        )
        spectrum = torch.fft.rfft(emphasised * self.window, FFT_SIZE, dim=-1).abs() ** 2.0
        mel = torch.matmul(spectrum, self.mel_weights)
        log_mel = torch.log(mel.clamp(min=OUTPUT_FLOOR))
        return (log_mel - self.mean) / self.stddev, frame_paddings


class SpecAug(nn.Module):
    """SpecAugment as AlgoPerf's PyTorch models apply it (training only; see the module
    docstring): ``time_mask_count`` time masks of up to ``time_mask_max_ratio`` of each
    utterance's unpadded frames, then ``freq_mask_count`` masks of up to ``freq_mask_max_bins``
    mel bins; masked features become 0."""

    def __init__(
        self,
        freq_mask_count: int = 2,
        freq_mask_max_bins: int = 27,
        time_mask_count: int = 10,
        time_mask_max_ratio: float = 0.05,
    ) -> None:
        super().__init__()
        self.freq_mask_count = freq_mask_count
        self.freq_mask_max_bins = freq_mask_max_bins
        self.time_mask_count = time_mask_count
        self.time_mask_max_ratio = time_mask_max_ratio

    @classmethod
    def from_config(cls, config: SpeechConfig) -> SpecAug:
        """SpecAugment with the masks of a speech network's configuration."""
        return cls(
            freq_mask_count=config.freq_mask_count,
            freq_mask_max_bins=config.freq_mask_max_bins,
            time_mask_count=config.time_mask_count,
            time_mask_max_ratio=config.time_mask_max_ratio,
        )

    @staticmethod
    def keep_mask(
        choose_range: torch.Tensor,
        size: int,
        count: int,
        max_ratio: float,
        max_length: int | None = None,
    ) -> torch.Tensor:
        """``(B, size)``: 1.0 where no mask falls, 0.0 inside one of ``count`` masks per row.

        Row ``b`` draws mask lengths ``floor(u * m_b)`` (``m_b = max_length``, or
        ``max_ratio * choose_range[b]``), capped at ``max(1, floor(max_ratio *
        choose_range[b]))``, and starts ``floor(u * (choose_range[b] - length + 1))``; a mask
        covers ``start`` to ``start + length - 1``."""
        batch, device = choose_range.shape[0], choose_range.device
        choose_range = choose_range.float()
        limit = (
            torch.full((batch,), float(max_length), device=device)
            if max_length
            else choose_range * max_ratio
        )
        lengths = (limit[:, None] * torch.rand(batch, count, device=device)).long()
        bound = (max_ratio * choose_range[:, None]).long().clamp(min=1)
        lengths = torch.minimum(lengths, bound)
        starts = torch.rand(batch, count, device=device) * (choose_range[:, None] - lengths + 1)
        starts = starts.long()
        positions = torch.arange(size, device=device)[None, None, :]
        inside = (positions >= starts[..., None]) & (positions < (starts + lengths)[..., None])
        return 1.0 - inside.any(dim=1).float()

    def forward(
        self, features: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, frames, bins = features.shape
        if self.time_mask_count and self.time_mask_max_ratio > 0:
            lengths = (1 - paddings).sum(dim=1).long()
            keep = self.keep_mask(lengths, frames, self.time_mask_count, self.time_mask_max_ratio)
            features = features * keep[:, :, None]
        if self.freq_mask_count and self.freq_mask_max_bins:
            every_bin = torch.full((batch,), bins, device=features.device)
            keep = self.keep_mask(
                every_bin, bins, self.freq_mask_count, 1.0, self.freq_mask_max_bins
            )
            features = features * keep[:, None, :]
        return features, paddings


def _same_padding(size: int, stride: int = 2, kernel: int = 3) -> tuple[int, int]:
    """TensorFlow's ``SAME`` padding (before, after) of one dimension."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


class Conv2dSubsampling(nn.Module):
    """A 3x3, stride-2 convolution over ``(B, C, time, mel)`` with ``SAME`` padding and ReLU (or
    tanh), and the paddings of its output frames (see the module docstring). Its weight is the
    parameter ``kernel`` ``(out, in, 3, 3)``, Xavier uniform, with a zero ``bias``."""

    def __init__(self, in_channels: int, out_channels: int, use_tanh: bool = False) -> None:
        super().__init__()
        self.kernel = nn.Parameter(
            nn.init.xavier_uniform_(torch.empty(out_channels, in_channels, 3, 3))
        )
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.use_tanh = use_tanh

    def forward(
        self, inputs: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        top, bottom = _same_padding(inputs.shape[2])
        left, right = _same_padding(inputs.shape[3])
        outputs = F.conv2d(F.pad(inputs, (left, right, top, bottom)), self.kernel, self.bias, 2)
        outputs = torch.tanh(outputs) if self.use_tanh else F.relu(outputs)
        out_paddings = paddings[:, ::2]
        return outputs * (1 - out_paddings[:, None, :, None]), out_paddings


class Subsampling(nn.Module):
    """The two subsampling convolutions of both speech networks, ``conv1`` (1 to ``dim``
    channels) and ``conv2`` (``dim`` to ``dim``); a subclass adds the linear layer to the model
    width under its network's name for it, and what follows that layer."""

    def __init__(self, dim: int, use_tanh: bool = False) -> None:
        super().__init__()
        self.conv1 = Conv2dSubsampling(1, dim, use_tanh=use_tanh)
        self.conv2 = Conv2dSubsampling(dim, dim, use_tanh=use_tanh)

    def convolve(
        self, features: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``(B, T, bins)`` through both convolutions to ``(B, T / 4, bins / 4 * dim)``
        (each frame's bins outer, channels inner, as AlgoPerf flattens them) and their paddings."""
        outputs, paddings = self.conv1(features[:, None], paddings)
        outputs, paddings = self.conv2(outputs, paddings)
        batch, channels, frames, bins = outputs.shape
        return outputs.permute(0, 2, 3, 1).reshape(batch, frames, bins * channels), paddings


class LayerNorm(nn.Module):
    """AlgoPerf's LayerNorm: ``normalised * (1 + scale) + bias`` with ``scale`` and ``bias``
    starting at 0, epsilon 1e-6."""

    def __init__(self, dim: int, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.dim, self.epsilon = dim, epsilon
        self.scale = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), 1 + self.scale, self.bias, self.epsilon)


class MaskedBatchNorm(nn.Module):
    """AlgoPerf's padding-aware BatchNorm over ``(B, T, dim)``: in training, the mean and
    (biased) variance of the unpadded frames, which move the running statistics by
    ``momentum`` (0.001) unless :attr:`update_stats` is off (AlgoPerf's ``update_batch_norm``
    sets the momentum to 0 then, still normalising by the batch); in evaluation, the running
    statistics. Output ``(x - mean) / sqrt(var + 1e-3) * (1 + scale) + bias``, padded frames 0.

    ``scale_name`` is the scale parameter's name (the Conformer's ``scale``, DeepSpeech's
    ``weight``); with ``sync``, the sums are all-reduced over the ranks of an initialised
    process group, as AlgoPerf's DeepSpeech does under DDP."""

    def __init__(
        self,
        dim: int,
        scale_name: str = "scale",
        momentum: float = 1 - 0.999,
        epsilon: float = 1e-3,
        sync: bool = False,
    ) -> None:
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))
        self.scale_name = scale_name
        self.register_parameter(scale_name, nn.Parameter(torch.zeros(dim)))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.momentum, self.epsilon, self.sync = momentum, epsilon, sync
        self.update_stats = True

    def _all_reduce(self, value: torch.Tensor) -> torch.Tensor:
        distributed = torch.distributed
        if self.sync and distributed.is_available() and distributed.is_initialized():
            import torch.distributed.nn as distributed_nn

            return distributed_nn.all_reduce(value)
        return value

    def forward(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        mask = 1 - paddings[:, :, None]
        if self.training:
            count = self._all_reduce(mask.sum())
            masked = inputs.masked_fill(mask == 0, 0)
            mean = self._all_reduce(masked.sum(dim=(0, 1))) / count
            var = self._all_reduce((torch.square(masked - mean) * mask).sum(dim=(0, 1))) / count
            if self.update_stats:
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * mean.detach()
                self.running_var = (1 - m) * self.running_var + m * var.detach()
        else:
            mean, var = self.running_mean, self.running_var
        scale = getattr(self, self.scale_name)
        normed = (inputs - mean) * ((1 + scale) * torch.rsqrt(var + self.epsilon)) + self.bias
        return normed.masked_fill(mask == 0, 0)


def xavier_init(model: nn.Module) -> None:
    """AlgoPerf's ``initialize``: every ``nn.Linear`` and ``nn.Conv1d`` weight Xavier uniform,
    its bias 0 (in module order)."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def algoperf_parameter_type(name: str) -> spec.ParameterType:
    """The type AlgoPerf's ``pytorch_param_types`` gives the parameter called ``name``."""
    T = spec.ParameterType
    if "bn" in name:
        return T.BATCH_NORM_BIAS if "bias" in name else T.BATCH_NORM_SCALE
    if "norm" in name or "ln" in name:
        return T.LAYER_NORM_BIAS if "bias" in name else T.LAYER_NORM_SCALE
    if "conv" in name:
        return T.BIAS if "bias" in name else T.CONV_WEIGHT
    if ("embedding" in name or "embed" in name) and "weight" in name:
        return T.EMBEDDING
    if "attn" in name or "attention" in name:
        for part, kind in (
            ("bias", T.ATTENTION_BIAS),
            ("in_proj", T.ATTENTION_QKV),
            ("kv_proj", T.ATTENTION_KV),
            ("k_proj", T.ATTENTION_K),
            ("key", T.ATTENTION_K),
            ("q_proj", T.ATTENTION_Q),
            ("query", T.ATTENTION_Q),
            ("v_proj", T.ATTENTION_V),
            ("value", T.ATTENTION_V),
        ):
            if part in name:
                return kind
        if "out" in name and "weight" in name:
            return T.ATTENTION_OUT
        return T.WEIGHT  # a query scale
    return T.BIAS if "bias" in name else T.WEIGHT


class AlgoPerfNamedTypes:
    """Mixin for a network whose parameter names are AlgoPerf's: its ``parameter_types`` (read by
    :func:`optbench.workloads.param_types.parameter_types`) are AlgoPerf's, by name."""

    @property
    def parameter_types(self) -> dict[str, spec.ParameterType]:
        assert isinstance(self, nn.Module)
        return {name: algoperf_parameter_type(name) for name, _ in self.named_parameters()}


@dataclass(frozen=True)
class SpeechConfig:
    """What AlgoPerf's ``ConformerConfig`` and ``DeepspeechConfig`` share: the outputs (1,024
    SentencePiece ids), the encoder width and SpecAugment's masks."""

    vocab_size: int = 1024
    encoder_dim: int = 512
    use_specaug: bool = True
    freq_mask_count: int = 2
    freq_mask_max_bins: int = 27
    time_mask_count: int = 10
    time_mask_max_ratio: float = 0.05


class SpeechEncoderDecoder(AlgoPerfNamedTypes, nn.Module):
    """What AlgoPerf's two speech networks share: audio ``(B, samples)`` and its paddings to
    logits ``(B, frames / 4, vocab)`` and their paddings, through the subclass's front-end
    (``preprocessor``, ``specaug``, ``subsample``), its encoder (:meth:`encode`), a final
    LayerNorm ``ln`` (or none) and the output layer ``lin``."""

    config: SpeechConfig

    def add_output_layers(self, final_norm: bool = True) -> None:
        """The final LayerNorm (with ``final_norm``) and the output layer, then AlgoPerf's
        initialisation of the whole network (:func:`xavier_init`): the end of ``__init__``."""
        self.ln = LayerNorm(self.config.encoder_dim) if final_norm else None
        self.lin = nn.Linear(self.config.encoder_dim, self.config.vocab_size)
        xavier_init(self)

    def encoder_inputs(
        self, audio: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel features of ``audio`` (``preprocessor``), SpecAugment in training if the
        configuration asks for it (``specaug``), then the subsampling (``subsample``)."""
        features, paddings = self.preprocessor(audio, paddings)
        if self.training and self.config.use_specaug:
            features, paddings = self.specaug(features, paddings)
        return self.subsample(features, paddings)

    def encode(self, inputs: torch.Tensor, paddings: torch.Tensor) -> torch.Tensor:
        """The encoder's layers over the subsampled ``inputs`` ``(B, frames / 4, width)``."""
        raise NotImplementedError

    def forward(
        self, audio: torch.Tensor, paddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, paddings = self.encoder_inputs(audio, paddings)
        outputs = self.encode(outputs, paddings)
        if self.ln is not None:
            outputs = self.ln(outputs)
        return self.lin(outputs), paddings
