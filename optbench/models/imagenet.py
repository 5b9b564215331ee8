"""AlgoPerf's ImageNet networks in PyTorch: ResNet-50 (``imagenet_resnet``) and ViT-S/16
(``imagenet_vit``), with the switches of their variants.

**ResNet-50** as AlgoPerf's ``imagenet_resnet`` PyTorch model (torchvision's ResNet v1.5: the
stride of a bottleneck sits on its 3x3 convolution): a 7x7/2 stem convolution, BatchNorm, the
activation, 3x3/2 max pooling, four stages of 3, 4, 6 and 3 bottlenecks (64, 128, 256 and 512
planes, expansion 4; a 1x1 projection with BatchNorm where the shape changes), global average
pooling and a 1000-way linear layer ``fc``: 25,557,032 parameters. Initialisation:
convolutions truncated LeCun normal (AlgoPerf's ``pytorch_default_init``), BatchNorm scale 1 and
shift 0 except the last BatchNorm of every bottleneck, whose scale starts at ``bn_init_scale``
(0, or 8 for ``imagenet_resnet_large_bn_init``), ``fc`` normal(0, 0.01) with zero bias.
Activation ReLU, SiLU (``_silu``) or tanh-approximated GELU (``_gelu``).

**ViT-S/16** as AlgoPerf's ``imagenet_vit`` PyTorch model: a 16x16/16 convolutional patch
embedding (width 384) plus fixed 2-D sine-cosine position embeddings (MoCo v3; no parameters),
12 pre-LN encoder blocks (6 heads, MLP 1536 with tanh-approximated GELU, LayerNorm eps 1e-6), a
final LayerNorm, mean pooling over the 196 patches (no class token), a ``pre_logits`` layer
with tanh and a zero-initialised 1000-way ``head``: 22,122,472 parameters. Variants: GLU in
the MLP (``_glu``: a 1536x1536 gate on the activated hidden layer, 50,452,456 parameters),
LayerNorm after each residual sum and no final LayerNorm (``_post_ln``, 22,121,704), multihead
attention pooling with a learned probe in place of the mean (``_map``, 23,896,552).
Initialisation: attention and MLP weights Xavier uniform (attention biases 0, MLP biases
normal(0, 1e-6)), patch embedding and ``pre_logits`` truncated LeCun normal.

Dropout sits where AlgoPerf's ViT applies its ``dropout_rate`` (after the embedding, on the
attention probabilities, after each sub-layer and inside the MLP), as ``nn.Dropout`` modules of
rate 0 whose rate the workload sets per forward pass.

Module and parameter names follow AlgoPerf's, so ``param_shapes`` has AlgoPerf's keys.
``ResNetConfig.reduced()`` and ``ViTConfig.reduced()`` are narrow, shallow versions of the same
code that the tests train on a CPU in well under a second.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec
from optbench.models.common import lecun_normal_, residual

NUM_CLASSES = 1000


# --- ResNet-50 -------------------------------------------------------------------------------
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}


def activation(name: str) -> nn.Module:
    """AlgoPerf's activations: ReLU, SiLU, or GELU with the tanh approximation."""
    if name == "gelu":
        return nn.GELU(approximate="tanh")
    return ACTIVATIONS[name]()


@dataclass(frozen=True)
class ResNetConfig:
    """Shape and variant switches of the ResNet (the defaults are ResNet-50)."""

    activation: str = "relu"
    bn_init_scale: float = 0.0
    width: int = 64  # planes of the first stage (doubled per stage)
    blocks: tuple[int, ...] = (3, 4, 6, 3)
    num_classes: int = NUM_CLASSES

    def reduced(self) -> ResNetConfig:
        """The same network at width 8 with one bottleneck per stage (tests on a CPU)."""
        return replace(self, width=8, blocks=(1, 1, 1, 1))


def _conv_bn(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """The 1x1 projection of a shortcut whose shape changes."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c_in, c_out, 1, stride, bias=False),
            bn=nn.BatchNorm2d(c_out),
        )
    )


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand (x4), each with BatchNorm; residual sum,
    then the activation."""

    expansion: ClassVar[int] = 4

    def __init__(self, c_in: int, planes: int, stride: int, act: str) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.act_fnc = activation(act)
        self.downsample = _conv_bn(c_in, c_out, stride) if stride != 1 or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act_fnc(self.bn1(self.conv1(x)))
        out = self.act_fnc(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.act_fnc(out + identity)


class ResNet(nn.Module):
    """AlgoPerf's ImageNet ResNet (see the module docstring); ``fc`` is the output layer."""

    def __init__(self, config: ResNetConfig = ResNetConfig()) -> None:
        super().__init__()
        width = config.width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act_fnc = activation(config.activation)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c_in = width
        for stage, count in enumerate(config.blocks):
            planes = width * 2**stage
            blocks = []
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Bottleneck(c_in, planes, stride, config.activation))
                c_in = planes * Bottleneck.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.num_stages = len(config.blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c_in, config.num_classes)
        self._init(config.bn_init_scale)

    def _init(self, bn_init_scale: float) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                lecun_normal_(module)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.fc.weight, std=1e-2)
        nn.init.zeros_(self.fc.bias)
        for module in self.modules():
            if isinstance(module, Bottleneck):
                nn.init.constant_(module.bn3.weight, bn_init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act_fnc(self.bn1(self.conv1(x))))
        for stage in range(self.num_stages):
            x = getattr(self, f"layer{stage + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- ViT-S/16 --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ViTConfig:
    """Shape and variant switches of the ViT (the defaults are AlgoPerf's ViT-S/16)."""

    width: int = 384
    depth: int = 12
    mlp_dim: int = 1536
    num_heads: int = 6
    patch_size: int = 16
    use_glu: bool = False
    use_post_layer_norm: bool = False
    use_map: bool = False
    num_classes: int = NUM_CLASSES

    def reduced(self) -> ViTConfig:
        """The same network at width 32, one block of 2 heads, MLP 64 (tests on a CPU)."""
        return replace(self, width=32, depth=1, mlp_dim=64, num_heads=2)


def posemb_sincos_2d(h: int, w: int, width: int, device: torch.device) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings (MoCo v3), ``(1, h * w, width)``, row-major
    patch order, features ``[sin x, cos x, sin y, cos y]`` with temperature 10,000."""
    if width % 4:
        raise ValueError(f"the ViT width {width} must be a multiple of 4 for sin-cos embeddings")
    y, x = torch.meshgrid(
        torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij"
    )
    omega = torch.arange(width // 4, device=device) / (width // 4 - 1)
    omega = 1.0 / (10_000.0**omega)
    y = y.flatten()[:, None] * omega[None, :]
    x = x.flatten()[:, None] * omega[None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=1)[None].float()


class MlpBlock(nn.Module):
    """Linear, GELU (tanh), optional GLU gate on the activation, dropout, linear."""

    def __init__(self, width: int, mlp_dim: int, use_glu: bool = False) -> None:
        super().__init__()
        self.linear1 = nn.Linear(width, mlp_dim)
        self.act_fnc = nn.GELU(approximate="tanh")
        self.glu_linear = nn.Linear(mlp_dim, mlp_dim) if use_glu else None
        self.dropout = nn.Dropout(0.0)
        self.linear2 = nn.Linear(mlp_dim, width)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.normal_(module.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_fnc(self.linear1(x))
        if self.glu_linear is not None:
            x = x * self.glu_linear(x)
        return self.linear2(self.dropout(x))


def _attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, p: float
) -> torch.Tensor:
    """Multi-head scaled dot-product attention of ``(batch, tokens, width)`` projections, with
    dropout ``p`` on the attention probabilities."""

    def split(z: torch.Tensor) -> torch.Tensor:
        return z.view(z.shape[0], z.shape[1], heads, -1).transpose(1, 2)

    y = F.scaled_dot_product_attention(split(q), split(k), split(v), dropout_p=p)
    return y.transpose(1, 2).reshape(q.shape)


class SelfAttention(nn.Module):
    """Multi-head self-attention with query, key, value and output projections (with bias)."""

    parameter_types: ClassVar[dict[str, spec.ParameterType]] = {
        "query.weight": spec.ParameterType.ATTENTION_Q,
        "key.weight": spec.ParameterType.ATTENTION_K,
        "value.weight": spec.ParameterType.ATTENTION_V,
        "out.weight": spec.ParameterType.ATTENTION_OUT,
        **{
            f"{p}.bias": spec.ParameterType.ATTENTION_BIAS for p in ("query", "key", "value", "out")
        },
    }

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        if width % num_heads:
            raise ValueError(f"the ViT width {width} is not a multiple of {num_heads} heads")
        self.num_heads = num_heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.attention_dropout = nn.Dropout(0.0)  # its rate drops attention probabilities
        for module in (self.query, self.key, self.value, self.out):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.attention_dropout.p if self.training else 0.0
        return self.out(_attend(self.query(x), self.key(x), self.value(x), self.num_heads, p))


class Encoder1DBlock(nn.Module):
    """Attention and MLP sub-layers with residual sums; LayerNorm before each sub-layer (pre-LN)
    or after each sum (``post_ln``)."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.post_ln = config.use_post_layer_norm
        self.layer_norm0 = nn.LayerNorm(config.width, eps=1e-6)
        self.self_attention1 = SelfAttention(config.width, config.num_heads)
        self.layer_norm2 = nn.LayerNorm(config.width, eps=1e-6)
        self.mlp3 = MlpBlock(config.width, config.mlp_dim, config.use_glu)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = residual(x, self.self_attention1, self.layer_norm0, self.dropout, self.post_ln)
        return residual(x, self.mlp3, self.layer_norm2, self.dropout, self.post_ln)


class CrossAttention(nn.Module):
    """Multi-head attention of queries over other tokens: query, joint key-value and output
    projections (with bias), dropout on the attention probabilities."""

    parameter_types: ClassVar[dict[str, spec.ParameterType]] = {
        "q_proj.weight": spec.ParameterType.ATTENTION_Q,
        "kv_proj.weight": spec.ParameterType.ATTENTION_KV,
        "out_proj.weight": spec.ParameterType.ATTENTION_OUT,
        **{
            f"{p}.bias": spec.ParameterType.ATTENTION_BIAS
            for p in ("q_proj", "kv_proj", "out_proj")
        },
    }

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(width, width)
        self.kv_proj = nn.Linear(width, 2 * width)
        self.out_proj = nn.Linear(width, width)
        self.attention_dropout = nn.Dropout(0.0)
        for module in (self.q_proj, self.kv_proj, self.out_proj):
            nn.init.xavier_uniform_(module.weight)
            nn.init.normal_(module.bias, std=1e-6)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        k, v = self.kv_proj(tokens).chunk(2, dim=-1)
        p = self.attention_dropout.p if self.training else 0.0
        return self.out_proj(_attend(self.q_proj(queries), k, v, self.num_heads, p))


class MAPHead(nn.Module):
    """Multihead attention pooling: a learned probe attends over the tokens, then a residual
    LayerNorm-MLP; the probe's output is the image representation."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.empty(1, 1, config.width))
        nn.init.xavier_uniform_(self.probe)
        self.mha = CrossAttention(config.width, config.num_heads)
        self.layer_norm = nn.LayerNorm(config.width, eps=1e-6)
        self.mlp = MlpBlock(config.width, config.mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mha(self.probe.expand(x.shape[0], -1, -1), x)
        x = x + self.mlp(self.layer_norm(x))
        return x[:, 0]


class Encoder(nn.Module):
    """The blocks, then (pre-LN only) a final LayerNorm."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.net = nn.ModuleList(Encoder1DBlock(config) for _ in range(config.depth))
        post_ln = config.use_post_layer_norm
        self.encoder_norm = None if post_ln else nn.LayerNorm(config.width, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.net:
            x = block(x)
        return x if self.encoder_norm is None else self.encoder_norm(x)


class ViT(nn.Module):
    """AlgoPerf's ImageNet ViT (see the module docstring); ``head`` is the output layer."""

    def __init__(self, config: ViTConfig = ViTConfig()) -> None:
        super().__init__()
        self.config = config
        p = config.patch_size
        # Registered in AlgoPerf's order, so the parameters enumerate as AlgoPerf's do.
        self.pre_logits = nn.Linear(config.width, config.width)
        self.conv_patch_extract = nn.Conv2d(3, config.width, p, stride=p)
        self.dropout = nn.Dropout(0.0)
        self.encoder = Encoder(config)
        self.head = nn.Linear(config.width, config.num_classes)
        self.map = MAPHead(config) if config.use_map else None
        lecun_normal_(self.conv_patch_extract)
        lecun_normal_(self.pre_logits)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_patch_extract(x)
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w).transpose(1, 2) + posemb_sincos_2d(h, w, c, x.device)
        x = self.encoder(self.dropout(x))
        x = x.mean(dim=1) if self.map is None else self.map(x)
        return self.head(torch.tanh(self.pre_logits(x)))


def count_parameters(model: nn.Module) -> int:
    """The number of parameters of ``model`` (on any device, ``meta`` included)."""
    return sum(p.numel() for p in model.parameters())
