"""AlgoPerf's WMT Transformer in PyTorch: an encoder-decoder with 6 + 6 layers of width 1024.

The architecture, parameter names and initialisation are those of AlgoPerf's
``algoperf/workloads/wmt/wmt_pytorch/models.py`` (written here anew):

- one token embedding (``shared_embedding``, PyTorch's default N(0, 1) init) for encoder input,
  decoder input and output logits (``decoder output @ embedding.T / sqrt(width)``), no input scale;
- fixed sinusoidal position encodings of 256 positions (sines in the first half of the width,
  cosines in the second, frequency ratio ``10000 ** (-1 / (width / 2 - 1))``), then dropout;
- attention layers without biases: self-attention with one fused ``in_proj`` (q, k, v),
  cross-attention with ``q_proj`` and a fused ``kv_proj``; queries multiplied by the attention
  temperature before the scaled dot product; dropout on the attention weights;
- feed-forward ``linear2(dropout(act(linear1(x)) [* linear_glu(x)]))`` with biases, width 1024;
- pre-LN (LayerNorm eps 1e-6 before each sublayer, and a final LayerNorm on each stack) or post-LN
  (after each residual sum, no final LayerNorm); dropout on every sublayer's output;
- every ``nn.Linear`` weight Xavier-uniform over its whole (fused) matrix, biases N(0, 1e-6).

Masks are additive (-1e10 where attention is not allowed), as AlgoPerf's: padding (token 0) is
masked on both sides, packed segments attend only within themselves, and decoder
self-attention is causal. Training shifts the whole target row right by one (AlgoPerf's PyTorch
``shift_right``, not segment-aware). Decoding (:meth:`WmtTransformer.start_decoding`,
:meth:`WmtTransformer.decode_step`) feeds one token at a time against cached keys and values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from optbench import spec

MAX_LEN = 256
MASK_VALUE = -1e10
LAYER_NORM_EPS = 1e-6


def sinusoidal_positions(width: int, max_len: int = MAX_LEN) -> torch.Tensor:
    """AlgoPerf's position table ``(1, max_len, width)``: sines then cosines."""
    half = width // 2
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(half) * (-math.log(10000.0) / (half - 1)))
    table = torch.zeros(1, max_len, width)
    table[0, :, :half] = torch.sin(position * frequency)
    table[0, :, half : 2 * half] = torch.cos(position * frequency)
    return table


def attention_mask(
    query_tokens: torch.Tensor,
    key_tokens: torch.Tensor,
    query_segments: torch.Tensor | None = None,
    key_segments: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """Additive mask ``(B, 1, Lq, Lk)``: 0 where a query may attend to a key (both non-padding,
    same segment, not in the future), -1e10 elsewhere."""
    allowed = (query_tokens > 0)[:, :, None] & (key_tokens > 0)[:, None, :]
    if query_segments is not None and key_segments is not None:
        allowed = allowed & (query_segments[:, :, None] == key_segments[:, None, :])
    if causal:
        allowed = (
            allowed & torch.ones(allowed.shape[-2:], dtype=torch.bool, device=allowed.device).tril()
        )
    mask = torch.zeros(allowed.shape, dtype=torch.float32, device=allowed.device)
    return mask.masked_fill_(~allowed, MASK_VALUE)[:, None]


def shift_right(tokens: torch.Tensor) -> torch.Tensor:
    """The decoder's input: the target row shifted right by one, a 0 in front."""
    return F.pad(tokens, (1, 0))[:, :-1]


class Attention(nn.Module):
    """Multi-head attention without biases (AlgoPerf's ``MultiheadAttention``)."""

    def __init__(self, width: int, heads: int, temperature: float, cross: bool) -> None:
        super().__init__()
        self.heads, self.width, self.temperature, self.cross = heads, width, temperature, cross
        if cross:
            self.q_proj = nn.Linear(width, width, bias=False)
            self.kv_proj = nn.Linear(width, 2 * width, bias=False)
        else:
            self.in_proj = nn.Linear(width, 3 * width, bias=False)
        self.out_proj = nn.Linear(width, width, bias=False)
        self.dropout = nn.Dropout(0.0)  # on the attention weights
        out = {"out_proj.weight": spec.ParameterType.ATTENTION_OUT}
        if cross:
            self.parameter_types = {
                "q_proj.weight": spec.ParameterType.ATTENTION_Q,
                "kv_proj.weight": spec.ParameterType.ATTENTION_KV,
                **out,
            }
        else:
            self.parameter_types = {"in_proj.weight": spec.ParameterType.ATTENTION_QKV, **out}

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.view(t.shape[0], t.shape[1], self.heads, -1).transpose(1, 2)

    def projections(
        self, x: torch.Tensor, memory: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries of ``x``; keys and values of ``memory`` (cross) or of ``x`` (self), each
        ``(B, heads, L, head_dim)``."""
        if self.cross:
            q, (k, v) = self.q_proj(x), self.kv_proj(memory).split(self.width, dim=-1)
        else:
            q, k, v = self.in_proj(x).split(self.width, dim=-1)
        return self._heads(q), self._heads(k), self._heads(v)

    def cross_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys and values of the encoded source (fixed while decoding)."""
        k, v = self.kv_proj(memory).split(self.width, dim=-1)
        return self._heads(k), self._heads(v)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Scaled dot-product attention of tempered queries, then the output projection."""
        if mask is not None and mask.dtype != q.dtype:
            mask = mask.to(q.dtype).clamp_min(torch.finfo(q.dtype).min)
        p = self.dropout.p if self.training else 0.0
        out = F.scaled_dot_product_attention(
            self.temperature * q, k, v, attn_mask=mask, dropout_p=p
        )
        return self.out_proj(out.transpose(1, 2).reshape(out.shape[0], -1, self.width))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, memory: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.attend(*self.projections(x, memory), mask)


Sublayer = Callable[[torch.Tensor], torch.Tensor]


class _Layer(nn.Module):
    """The feed-forward block and residual wiring shared by encoder and decoder layers."""

    def __init__(self, width: int, hidden: int, activation: Sublayer, glu: bool, pre_ln: bool):
        super().__init__()
        self.linear1 = nn.Linear(width, hidden)
        if glu:
            self.linear_glu = nn.Linear(width, hidden)
        self.linear2 = nn.Linear(hidden, width)
        self.glu, self.pre_ln, self.activation = glu, pre_ln, activation
        self.dropout = nn.Dropout(0.0)

    def _ff(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activation(self.linear1(x))
        if self.glu:
            h = h * self.linear_glu(x)
        return self.dropout(self.linear2(self.dropout(h)))

    def _residual(
        self, x: torch.Tensor, blocks: list[tuple[Sublayer, nn.LayerNorm]]
    ) -> torch.Tensor:
        """Each sublayer in turn, with its LayerNorm before (pre-LN) or after (post-LN) the sum."""
        for block, norm in blocks:
            x = x + block(norm(x)) if self.pre_ln else norm(x + block(x))
        return x


class EncoderLayer(_Layer):
    """Self-attention and feed-forward (AlgoPerf's ``TransformerEncoderLayer``)."""

    def __init__(self, width: int, heads: int, hidden: int, activation: Sublayer, glu: bool,
                 temperature: float, pre_ln: bool) -> None:  # fmt: skip
        super().__init__(width, hidden, activation, glu, pre_ln)
        self.self_attn = Attention(width, heads, temperature, cross=False)
        self.norm1 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.norm2 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attend = lambda h: self.dropout(self.self_attn(h, mask))  # noqa: E731
        return self._residual(x, [(attend, self.norm1), (self._ff, self.norm2)])


class DecoderLayer(_Layer):
    """Causal self-attention, cross-attention and feed-forward (``TransformerDecoderLayer``)."""

    def __init__(self, width: int, heads: int, hidden: int, activation: Sublayer, glu: bool,
                 temperature: float, pre_ln: bool) -> None:  # fmt: skip
        super().__init__(width, hidden, activation, glu, pre_ln)
        self.self_attn = Attention(width, heads, temperature, cross=False)
        self.multihead_attn = Attention(width, heads, temperature, cross=True)
        self.norm1 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.norm2 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.norm3 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)

    def run(self, x: torch.Tensor, self_attend: Sublayer, cross_attend: Sublayer) -> torch.Tensor:
        """The layer with the given attention functions (full sequences or one cached step)."""
        blocks = [
            (lambda h: self.dropout(self_attend(h)), self.norm1),
            (lambda h: self.dropout(cross_attend(h)), self.norm2),
            (self._ff, self.norm3),
        ]
        return self._residual(x, blocks)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor,
        memory_mask: torch.Tensor,
    ) -> torch.Tensor:
        return self.run(
            x,
            lambda h: self.self_attn(h, self_mask),
            lambda h: self.multihead_attn(h, memory_mask, memory),
        )


class Stack(nn.Module):
    """Layers, then a final LayerNorm under pre-LN (AlgoPerf's ``TransformerEncoder`` and
    ``TransformerDecoder``: attributes ``layers`` and ``norm``)."""

    def __init__(self, layers: list[nn.Module], width: int, pre_ln: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS) if pre_ln else None

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.norm is not None else x


class _Side(nn.Module):
    """Holder of one stack, so that parameter names read ``encoder.encoder.layers.0...`` and
    ``decoder.decoder.layers.0...`` as in AlgoPerf."""

    def __init__(self, attribute: str, stack: Stack) -> None:
        super().__init__()
        setattr(self, attribute, stack)


@dataclass
class DecodeCache:
    """Keys and values of the decoded prefix (per layer, ``(N, heads, max_len, head_dim)``),
    the cross-attention keys and values of the encoded source, its mask, and the next position."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    cross: list[tuple[torch.Tensor, torch.Tensor]]
    memory_mask: torch.Tensor
    index: int = 0

    def reorder(self, rows: torch.Tensor) -> None:
        """Make row ``i`` of the prefix caches a copy of row ``rows[i]`` (beams chosen to go on
        from their parents; a beam's source stays the same, so the cross caches do too)."""
        for cache in (*self.keys, *self.values):
            cache[:, :, : self.index] = cache[rows, :, : self.index]


class WmtTransformer(nn.Module):
    """AlgoPerf's WMT Transformer (see the module docstring). ``forward`` gives the logits
    ``(B, L, vocab)`` of teacher-forced decoding."""

    def __init__(
        self,
        vocab_size: int = 32000,
        width: int = 1024,
        heads: int = 16,
        hidden: int = 1024,
        num_layers: int = 6,
        activation: Sublayer = F.relu,
        glu: bool = False,
        attention_temp: float = 1.0,
        pre_ln: bool = True,
    ) -> None:
        super().__init__()
        self.width = width
        self.register_buffer("pe", sinusoidal_positions(width), persistent=False)
        self.shared_embedding = nn.Embedding(vocab_size, width)
        args = (width, heads, hidden, activation, glu, attention_temp, pre_ln)
        encoder = [EncoderLayer(*args) for _ in range(num_layers)]
        decoder = [DecoderLayer(*args) for _ in range(num_layers)]
        self.encoder = _Side("encoder", Stack(encoder, width, pre_ln))
        self.decoder = _Side("decoder", Stack(decoder, width, pre_ln))
        self.dropout = nn.Dropout(0.0)  # after the position encoding
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.normal_(module.bias, std=1e-6)

    def _embed(self, tokens: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
        pe = self.pe[:, : tokens.shape[1]] if positions is None else self.pe[0, positions]
        return self.dropout(self.shared_embedding(tokens) + pe)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.shared_embedding.weight.T / math.sqrt(self.width)

    def encode(
        self,
        src: torch.Tensor,
        positions: torch.Tensor | None = None,
        segments: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The encoder's output ``(B, L, width)`` for source tokens ``(B, L)``."""
        mask = attention_mask(src, src, segments, segments)
        x = self._embed(src, positions)
        for layer in self.encoder.encoder.layers:
            x = layer(x, mask)
        return self.encoder.encoder.finish(x)

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        inputs_positions: torch.Tensor | None = None,
        targets_positions: torch.Tensor | None = None,
        inputs_segmentation: torch.Tensor | None = None,
        targets_segmentation: torch.Tensor | None = None,
    ) -> torch.Tensor:
        memory = self.encode(src, inputs_positions, inputs_segmentation)
        self_mask = attention_mask(tgt, tgt, targets_segmentation, targets_segmentation, True)
        memory_mask = attention_mask(tgt, src, targets_segmentation, inputs_segmentation)
        x = self._embed(shift_right(tgt), targets_positions)
        for layer in self.decoder.decoder.layers:
            x = layer(x, memory, self_mask, memory_mask)
        return self._logits(self.decoder.decoder.finish(x))

    # --- one token at a time --------------------------------------------------------------------
    def start_decoding(self, src: torch.Tensor, beams: int, max_len: int = MAX_LEN) -> DecodeCache:
        """Encode ``src`` ``(B, L)`` and prepare caches for ``B * beams`` decoded rows (row
        ``b * beams + k`` is beam ``k`` of sentence ``b``)."""
        memory = self.encode(src).repeat_interleave(beams, dim=0)
        src = src.repeat_interleave(beams, dim=0)
        rows, layers = len(src), self.decoder.decoder.layers
        shape = (rows, layers[0].self_attn.heads, max_len, self.width // layers[0].self_attn.heads)
        make = lambda: torch.zeros(shape, dtype=memory.dtype, device=memory.device)  # noqa: E731
        cross = [layer.multihead_attn.cross_keys_values(memory) for layer in layers]
        memory_mask = attention_mask(torch.ones_like(src[:, :1]), src)
        return DecodeCache([make() for _ in layers], [make() for _ in layers], cross, memory_mask)

    def decode_step(self, tokens: torch.Tensor, cache: DecodeCache) -> torch.Tensor:
        """Logits ``(N, vocab)`` of the token after ``tokens`` ``(N,)`` at position
        ``cache.index``, given the cached prefix; advances the cache by one position."""
        t = cache.index
        x = self.dropout(self.shared_embedding(tokens[:, None]) + self.pe[:, t : t + 1])
        for i, layer in enumerate(self.decoder.decoder.layers):

            def self_attend(
                h: torch.Tensor, i: int = i, layer: DecoderLayer = layer
            ) -> torch.Tensor:
                q, k, v = layer.self_attn.projections(h)
                cache.keys[i][:, :, t : t + 1] = k
                cache.values[i][:, :, t : t + 1] = v
                keys, values = cache.keys[i][:, :, : t + 1], cache.values[i][:, :, : t + 1]
                return layer.self_attn.attend(q, keys, values, None)

            def cross_attend(
                h: torch.Tensor, i: int = i, layer: DecoderLayer = layer
            ) -> torch.Tensor:
                q = layer.multihead_attn._heads(layer.multihead_attn.q_proj(h))
                return layer.multihead_attn.attend(q, *cache.cross[i], cache.memory_mask)

            x = layer.run(x, self_attend, cross_attend)
        cache.index += 1
        return self._logits(self.decoder.decoder.finish(x))[:, 0]
