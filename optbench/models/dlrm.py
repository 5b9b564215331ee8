"""AlgoPerf's DLRM-small (``criteo1tb``) and its residual variant (``criteo1tb_resnet``).

DLRM-small, as AlgoPerf: one embedding table of ``vocab_size`` (4,194,304) rows x ``embed_dim``
(128) for all 26 categorical features, held as 4 equal row chunks (``embedding_chunk_0..3``); a
categorical input id is used modulo ``vocab_size``. The bottom MLP (13-512-256-128, ReLU after
every layer) embeds the dense features; the 27 vectors' pairwise dot products (upper triangle
*with* the diagonal: 378 values) follow the bottom output (128 + 378 = 506 inputs) into the top
MLP (1024-1024-512-256-1, ReLU after every hidden layer, dropout before the output layer).
``use_layer_norm`` (``criteo1tb_layernorm``) adds LayerNorm (eps 1e-6) after every hidden ReLU
and on the embedded categorical vectors; ``embedding_init_multiplier`` (``criteo1tb_embed_init``:
1.0) replaces the embedding scale 1/sqrt(vocab_size).

Initialisation, as AlgoPerf: embedding rows uniform in [0, scale); bottom MLP weights uniform in
+-sqrt(6 / (fan_in + fan_out)); top MLP weights normal with std sqrt(2 / (fan_in + fan_out));
every bias normal with std sqrt(1 / fan_out). Module and parameter names are AlgoPerf's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from optbench import spec

NUM_CHUNKS = 4
NUM_SPARSE = 26


def _init_bottom(module: nn.Linear) -> None:
    limit = math.sqrt(6.0 / (module.in_features + module.out_features))
    nn.init.uniform_(module.weight, -limit, limit)
    nn.init.normal_(module.bias, 0.0, math.sqrt(1.0 / module.out_features))


def _init_top(module: nn.Linear) -> None:
    nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / (module.in_features + module.out_features)))
    nn.init.normal_(module.bias, 0.0, math.sqrt(1.0 / module.out_features))


def _init_mlps(bottom: nn.Module, top: nn.Module) -> None:
    """AlgoPerf's initialisation of every linear layer of the bottom and the top MLP."""
    for mlp, init in ((bottom, _init_bottom), (top, _init_top)):
        for module in mlp.modules():
            if isinstance(module, nn.Linear):
                init(module)


class _ChunkedEmbedding(nn.Module):
    """The shared embedding table as AlgoPerf's 4 row chunks (registered on the model itself,
    so the parameter names are ``embedding_chunk_<i>``): a mixin of the two DLRM models."""

    vocab_size: int
    embed_dim: int

    def _init_embedding(self, vocab_size: int, embed_dim: int, scale: float) -> None:
        if vocab_size % NUM_CHUNKS:
            raise ValueError(f"vocab_size {vocab_size} is not a multiple of {NUM_CHUNKS}")
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.parameter_types = {}
        for i in range(NUM_CHUNKS):
            chunk = nn.Parameter(torch.empty(vocab_size // NUM_CHUNKS, embed_dim))
            with torch.no_grad():
                chunk.uniform_(0.0, 1.0).mul_(scale)
            self.register_parameter(f"embedding_chunk_{i}", chunk)
            self.parameter_types[f"embedding_chunk_{i}"] = spec.ParameterType.EMBEDDING

    def _embed(self, sparse: torch.Tensor) -> torch.Tensor:
        """(B, 26) ids (float32 or integer, as the input pipeline gives them) -> (B, 26, D)."""
        ids = sparse.to(torch.int32).reshape(-1) % self.vocab_size
        table = torch.cat([getattr(self, f"embedding_chunk_{i}") for i in range(NUM_CHUNKS)])
        return table[ids].reshape(sparse.shape[0], -1, self.embed_dim)


class DlrmSmall(_ChunkedEmbedding):
    """DLRM-small (see the module docstring); input (B, 13 + 26) float32, output (B, 1) logits."""

    def __init__(
        self,
        vocab_size: int = 4_194_304,
        num_dense_features: int = 13,
        mlp_bottom_dims: Sequence[int] = (512, 256, 128),
        mlp_top_dims: Sequence[int] = (1024, 1024, 512, 256, 1),
        embed_dim: int = 128,
        use_layer_norm: bool = False,
        embedding_init_multiplier: float | None = None,
    ) -> None:
        super().__init__()
        self.num_dense_features = num_dense_features
        scale = 1.0 / math.sqrt(vocab_size)
        if embedding_init_multiplier is not None:
            scale = embedding_init_multiplier
        self._init_embedding(vocab_size, embed_dim, scale)
        layers: list[nn.Module] = []
        width = num_dense_features
        for dim in mlp_bottom_dims:
            layers += [nn.Linear(width, dim), nn.ReLU(inplace=True)]
            layers += [nn.LayerNorm(dim, eps=1e-6)] if use_layer_norm else []
            width = dim
        self.bot_mlp = nn.Sequential(*layers)
        n_vectors = NUM_SPARSE + 1
        self.register_buffer("triu", torch.triu_indices(n_vectors, n_vectors), persistent=False)
        width = mlp_bottom_dims[-1] + n_vectors * (n_vectors + 1) // 2  # 506 at AlgoPerf's sizes
        layers = []
        for i, dim in enumerate(mlp_top_dims):
            layers.append(nn.Linear(width, dim))
            if i < len(mlp_top_dims) - 1:
                layers.append(nn.ReLU(inplace=True))
                layers += [nn.LayerNorm(dim, eps=1e-6)] if use_layer_norm else []
            if i == len(mlp_top_dims) - 2:
                layers.append(nn.Dropout(0.0))
            width = dim
        self.top_mlp = nn.Sequential(*layers)
        self.embed_ln = nn.LayerNorm(embed_dim, eps=1e-6) if use_layer_norm else None
        _init_mlps(self.bot_mlp, self.top_mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dense, sparse = x[:, : self.num_dense_features], x[:, self.num_dense_features :]
        bottom = self.bot_mlp(dense)
        embedded = self._embed(sparse)
        if self.embed_ln is not None:
            embedded = self.embed_ln(embedded)
        vectors = torch.cat([bottom.unsqueeze(1), embedded], dim=1)
        dots = torch.bmm(vectors, vectors.transpose(1, 2))[:, self.triu[0], self.triu[1]]
        return self.top_mlp(torch.cat([bottom, dots], dim=1))


class _Residual(nn.Module):
    """``module(x) + x`` (or ``module(x)``): AlgoPerf's ``DenseBlock``."""

    def __init__(self, module: nn.Module, resnet: bool) -> None:
        super().__init__()
        self.module, self.resnet = module, resnet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x) + x if self.resnet else self.module(x)


class DlrmResNet(_ChunkedEmbedding):
    """AlgoPerf's ``DLRMResNet`` (``criteo1tb_resnet``): residual MLPs (bottom 13-256-256-256,
    top 256-256-256-256-1, a residual connection around every layer but the first of each and the
    output layer), no dot interaction: the top MLP reads the bottom output and the 26 flattened
    embeddings (256 + 26 x 128 = 3,584 inputs). Initialisation as :class:`DlrmSmall`."""

    def __init__(
        self,
        vocab_size: int = 4_194_304,
        num_dense_features: int = 13,
        mlp_bottom_dims: Sequence[int] = (256, 256, 256),
        mlp_top_dims: Sequence[int] = (256, 256, 256, 256, 1),
        embed_dim: int = 128,
    ) -> None:
        super().__init__()
        self.num_dense_features = num_dense_features
        self._init_embedding(vocab_size, embed_dim, 1.0 / math.sqrt(vocab_size))
        blocks, width = [], num_dense_features
        for i, dim in enumerate(mlp_bottom_dims):
            blocks.append(_Residual(nn.Sequential(nn.Linear(width, dim), nn.ReLU(True)), i > 0))
            width = dim
        self.bot_mlp = nn.Sequential(*blocks)
        blocks, width = [], NUM_SPARSE * embed_dim + mlp_bottom_dims[-1]
        last = len(mlp_top_dims) - 1
        for i, dim in enumerate(mlp_top_dims):
            layers: list[nn.Module] = [nn.Linear(width, dim)]
            layers += [nn.ReLU(inplace=True)] if i < last else []
            layers += [nn.Dropout(0.0)] if i == last - 1 else []
            blocks.append(_Residual(nn.Sequential(*layers), 0 < i < last))
            width = dim
        self.top_mlp = nn.Sequential(*blocks)
        _init_mlps(self.bot_mlp, self.top_mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dense, sparse = x[:, : self.num_dense_features], x[:, self.num_dense_features :]
        bottom = self.bot_mlp(dense)
        embedded = self._embed(sparse).reshape(x.shape[0], -1)
        return self.top_mlp(torch.cat([bottom, embedded], dim=1))
