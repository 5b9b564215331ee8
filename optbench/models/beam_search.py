"""Beam search as AlgoPerf's WMT workload decodes (``wmt_pytorch/decode.py``, a port of Flax's
WMT example), written anew.

Per sentence, ``beam_size`` live sequences and ``beam_size`` finished ones. Each step extends
every live sequence by every token, keeps the ``2 * beam_size`` most probable extensions (so
that enough stay live if some end), moves those ending in EOS to the finished set with score
``log p / ((5 + length) / 6) ** alpha`` and keeps the ``beam_size`` best of the rest live. The
search stops after ``max_len - 1`` steps, or once for every sentence all finished slots are full
and their worst score beats the best live log-probability under the longest length's penalty.
Sentences that finished nothing return their live sequences. Sequences start with a 0 (the
decoder's shifted-right first input), which :func:`best_sequences` drops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

NEG_INF = -1.0e7  # AlgoPerf's "effective negative infinity"
EOS_ID = 2


def brevity_penalty(alpha: float, length: int) -> float:
    """The length normalisation ``((5 + length) / 6) ** alpha`` (Wu et al., 2016)."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class BeamState:
    """Live and finished beams of every sentence; beams sorted by ascending score."""

    index: int
    live_logprobs: torch.Tensor  # (B, K)
    finished_scores: torch.Tensor  # (B, K)
    live_seqs: torch.Tensor  # (B, K, max_len)
    finished_seqs: torch.Tensor  # (B, K, max_len)
    finished_flags: torch.Tensor  # (B, K) bool


def _gather(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``x[b, indices[b, j]]`` for ``x`` of shape ``(B, K0, ...)`` and indices ``(B, K1)``."""
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[rows, indices]


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` highest scores per row, in ascending order (AlgoPerf flips them)."""
    return torch.topk(scores, k=k).indices.flip(1)


def _init(batch: int, beams: int, max_len: int, device: torch.device) -> BeamState:
    live = torch.full((batch, beams), NEG_INF, device=device)
    live[:, 0] = 0.0
    seqs = torch.zeros((batch, beams, max_len), dtype=torch.long, device=device)
    return BeamState(
        index=0,
        live_logprobs=live,
        finished_scores=torch.full((batch, beams), NEG_INF, device=device),
        live_seqs=seqs,
        finished_seqs=seqs.clone(),
        finished_flags=torch.zeros((batch, beams), dtype=torch.bool, device=device),
    )


def _go_on(state: BeamState, max_len: int, alpha: float) -> bool:
    if state.index >= max_len - 1:
        return False
    best_live = state.live_logprobs[:, -1:] / brevity_penalty(alpha, max_len)
    worst_finished = state.finished_scores.min(dim=1, keepdim=True).values
    worst_finished = torch.where(state.finished_flags, worst_finished, NEG_INF)
    return not bool((worst_finished > best_live).all())


def _advance(state: BeamState, log_probs: torch.Tensor, eos_id: int, alpha: float) -> tuple[
    BeamState, torch.Tensor
]:  # fmt: skip
    """One step from the next-token log-probabilities ``(B, K, V)``; also returns, per new
    live beam, the index of its parent beam ``(B, K)``."""
    batch, beams, vocab = log_probs.shape
    t = state.index
    candidates = (log_probs + state.live_logprobs[:, :, None]).view(batch, beams * vocab)
    top_logprobs, top_indices = torch.topk(candidates, k=2 * beams)
    parents = torch.div(top_indices, vocab, rounding_mode="floor")
    top_seqs = _gather(state.live_seqs, parents)
    top_seqs[:, :, t + 1 :] = (top_indices % vocab)[:, :, None]
    ended = top_seqs[:, :, t + 1] == eos_id
    still_live = top_logprobs + ended * NEG_INF
    keep = _top(still_live, beams)
    new_scores = top_logprobs / brevity_penalty(alpha, t + 1) + (~ended) * NEG_INF
    scores = torch.cat([state.finished_scores, new_scores], dim=1)
    best = _top(scores, beams)
    new_state = BeamState(
        index=t + 1,
        live_logprobs=_gather(still_live, keep),
        finished_scores=_gather(scores, best),
        live_seqs=_gather(top_seqs, keep),
        finished_seqs=_gather(torch.cat([state.finished_seqs, top_seqs], dim=1), best),
        finished_flags=_gather(torch.cat([state.finished_flags, ended], dim=1), best),
    )
    return new_state, _gather(parents, keep)


def beam_search(
    step: Callable[[torch.Tensor], torch.Tensor],
    reorder: Callable[[torch.Tensor], None],
    batch: int,
    beam_size: int,
    max_len: int,
    eos_id: int = EOS_ID,
    alpha: float = 0.6,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences ``(B, K, max_len)`` and scores ``(B, K)``, ascending by score.

    ``step(tokens)`` gets the current token of every beam, ``(B * K,)`` with row
    ``b * K + k``, and returns the next-token logits ``(B * K, V)``; ``reorder(rows)`` then
    makes the decoder's state of row ``i`` that of row ``rows[i]`` (the beams that go on)."""
    state = _init(batch, beam_size, max_len, torch.device(device))
    offsets = torch.arange(batch, device=state.live_seqs.device)[:, None] * beam_size
    while _go_on(state, max_len, alpha):
        logits = step(state.live_seqs[:, :, state.index].reshape(-1))
        log_probs = F.log_softmax(logits.float(), dim=-1).view(batch, beam_size, -1)
        state, parents = _advance(state, log_probs, eos_id, alpha)
        reorder((parents + offsets).reshape(-1))
    any_finished = state.finished_flags.any(dim=1)
    seqs = torch.where(any_finished[:, None, None], state.finished_seqs, state.live_seqs)
    scores = torch.where(any_finished[:, None], state.finished_scores, state.live_logprobs)
    return seqs, scores


def best_sequences(seqs: torch.Tensor) -> torch.Tensor:
    """The highest-scoring sequence per sentence without its leading 0: ``(B, max_len - 1)``."""
    return seqs[:, -1, 1:]
