"""Random keys in the shape AlgoPerf hands to submissions (a pair of uint32), built on numpy.

``split`` and ``fold_in`` are pure functions of their inputs, so a trial's randomness is a
function of its seed alone.
"""

from __future__ import annotations

import numpy as np

Key = np.ndarray


def key(seed: int) -> Key:
    """A key from an integer seed."""
    return np.random.SeedSequence(int(seed) % 2**63).generate_state(2, dtype=np.uint32)


def split(rng: Key, num: int = 2) -> list[Key]:
    """``num`` independent keys derived from ``rng``."""
    states = np.random.SeedSequence([int(x) for x in rng]).generate_state(2 * num, np.uint32)
    return [states[2 * i : 2 * i + 2] for i in range(num)]


def fold_in(rng: Key, data: int) -> Key:
    """A key derived from ``rng`` and an integer (e.g. the step number)."""
    entropy = [int(x) for x in rng] + [int(data) % 2**32]
    return np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)


def to_seed(rng: Key) -> int:
    """A 63-bit integer seed from a key (for torch.Generator and numpy)."""
    a, b = (int(x) for x in np.asarray(rng).ravel()[:2])
    return ((a << 32) | b) & (2**63 - 1)
