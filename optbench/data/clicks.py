"""Synthetic click logs: a documented generative model standing in for Criteo 1TB (SYNTHETIC data).

Criteo's logs cannot be had offline, so ``clicks_dlrm`` trains on examples drawn from a known
model of the same shape: 13 dense count features and 26 categorical fields per impression, and a
binary click label. Because the true click probability of every example is known, the
Bayes-optimal log loss (the expected log loss of the true probabilities) is known too, and is
recorded in the provenance.

The generative model (version ``v1``; everything below is drawn from ``np.random.default_rng``
with the fixed seed :data:`SEED`, so the data are a pure function of this file):

* **Categorical fields.** Field ``f`` has ``VOCAB_SIZES[f]`` ids (3 up to 9,370, growing
  geometrically). An impression draws a rank ``r`` with probability proportional to
  ``r ** -ZIPF_EXPONENT`` (Zipf, truncated); a fixed random permutation per field maps ranks to
  ids, so an id's value says nothing about its frequency. Each id has a bias ``b`` and a latent
  vector ``u`` in ``R^LATENT_DIM``, both Gaussian.
* **Dense features.** Each impression has a hidden "user" vector ``a ~ N(0, I_3)``; dense feature
  ``j`` is a count ``Poisson(exp(m_j + A_j . a))`` (clipped to 32,767), so the counts are noisy
  views of ``a``.
* **Click probability.** ``logit = c0 + s1 * sum_f b_f + s2 * sum_{f<g} <u_f, u_g>
  + s3 * <w, a> + s4 * <B a, sum_f u_f>``: id biases, pairwise interactions of id latents (what
  DLRM's dot interaction models), a dense effect and a dense-by-categorical interaction. The
  scales ``s1..s4`` give each term a fixed standard deviation (:data:`TERM_STDDEVS`) on a pilot
  sample, and ``c0`` sets the mean click rate to :data:`CLICK_RATE`. Then
  ``y ~ Bernoulli(sigmoid(logit))``.

Split: one i.i.d. stream of impressions; the first ``n_train`` are train, the next
``n_validation`` validation, the next ``n_test`` test (disjoint draws from the same distribution).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optbench.data.cache import cached_arrays, default_cache_dir

VERSION = "v1"
SEED = 20_231_017
NUM_DENSE = 13
NUM_FIELDS = 26
VOCAB_SIZES: tuple[int, ...] = tuple(round(3 * 1.38**f) for f in range(NUM_FIELDS))
ZIPF_EXPONENT = 1.1
LATENT_DIM = 4
USER_DIM = 3
MAX_COUNT = 32_767  # dense counts are stored as int16
TERM_STDDEVS = (0.8, 0.8, 0.6, 0.6)  # id biases, id x id, dense, dense x id (logit units)
CLICK_RATE = 0.25
_PILOT = 200_000
_CHUNK = 250_000


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """``-(p log p + (1 - p) log(1 - p))`` in nats: the expected log loss of predicting ``p``."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean log loss (nats) of probabilities ``p`` on binary labels ``y``."""
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(y > 0, np.log(p), np.log1p(-p))))


class ClickModel:
    """The generative model of the module docstring, built deterministically from ``seed``."""

    def __init__(self, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        self.rank_probs = []
        self.rank_to_id = []
        self.bias = []
        self.latent = []
        for vocab in VOCAB_SIZES:
            p = np.arange(1, vocab + 1, dtype=np.float64) ** -ZIPF_EXPONENT
            self.rank_probs.append(p / p.sum())
            self.rank_to_id.append(rng.permutation(vocab))
            self.bias.append(rng.standard_normal(vocab))
            self.latent.append(rng.standard_normal((vocab, LATENT_DIM)))
        self.dense_mean = rng.uniform(0.0, 3.0, NUM_DENSE)
        self.dense_loadings = rng.normal(0.0, 0.5, (NUM_DENSE, USER_DIM))
        self.user_weights = rng.standard_normal(USER_DIM)
        self.user_to_latent = rng.standard_normal((LATENT_DIM, USER_DIM))
        self.scales = np.ones(4)
        self.offset = 0.0
        # Calibrate the term scales and the offset on a pilot sample from a separate stream.
        pilot = self._features(np.random.default_rng([seed, 1]), _PILOT)
        terms = self._terms(*pilot[:2])
        self.scales = np.asarray(TERM_STDDEVS) / terms.std(axis=0)
        logits = terms @ self.scales
        lo, hi = -20.0, 20.0
        for _ in range(60):  # bisection: mean click probability = CLICK_RATE
            mid = (lo + hi) / 2
            if _sigmoid(logits + mid).mean() < CLICK_RATE:
                lo = mid
            else:
                hi = mid
        self.offset = (lo + hi) / 2

    def _features(self, rng: np.random.Generator, n: int):
        ranks = np.stack([rng.choice(len(p), size=n, p=p) for p in self.rank_probs], axis=1)
        ids = np.stack([self.rank_to_id[f][ranks[:, f]] for f in range(NUM_FIELDS)], axis=1)
        user = rng.standard_normal((n, USER_DIM))
        rates = np.exp(self.dense_mean + user @ self.dense_loadings.T)
        counts = np.minimum(rng.poisson(rates), MAX_COUNT)
        return ids, user, counts

    def _terms(self, ids: np.ndarray, user: np.ndarray) -> np.ndarray:
        n = len(ids)
        bias, squares = np.zeros(n), np.zeros(n)
        total = np.zeros((n, LATENT_DIM))
        for f in range(NUM_FIELDS):
            bias += self.bias[f][ids[:, f]]
            latent = self.latent[f][ids[:, f]]
            total += latent
            squares += (latent**2).sum(axis=1)
        # sum_{f<g} <u_f, u_g> = (|sum_f u_f|^2 - sum_f |u_f|^2) / 2
        pairwise = 0.5 * ((total**2).sum(axis=1) - squares)
        dense = user @ self.user_weights
        cross = ((user @ self.user_to_latent.T) * total).sum(axis=1)
        return np.stack([bias, pairwise, dense, cross], axis=1)

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` impressions: ``ids`` (n, 26) int16, ``dense`` (n, 13) int16 counts,
        ``labels`` (n,) uint8 and the true click probabilities ``p`` (n,) float64."""
        out: dict[str, list[np.ndarray]] = {"ids": [], "dense": [], "labels": [], "p": []}
        for start in range(0, n, _CHUNK):
            m = min(_CHUNK, n - start)
            ids, user, counts = self._features(rng, m)
            p = _sigmoid(self._terms(ids, user) @ self.scales + self.offset)
            out["ids"].append(ids.astype(np.int16))
            out["dense"].append(counts.astype(np.int16))
            out["labels"].append((rng.random(m) < p).astype(np.uint8))
            out["p"].append(p)
        return {k: np.concatenate(v) for k, v in out.items()}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def load(
    n_train: int, n_validation: int, n_test: int, cache_dir: Path | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Generate (or load from the cache) the synthetic click logs, split as documented above.

    Returns ``({split_ids, split_dense, split_y}, provenance)`` for ``split`` in train /
    validation / test; the provenance holds the Bayes-optimal log loss of each held-out split.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def prepare() -> tuple[dict[str, np.ndarray], dict]:
        model = ClickModel(SEED)
        stream = np.random.default_rng([SEED, 2])
        arrays: dict[str, np.ndarray] = {}
        provenance: dict = {
            "dataset": f"synthetic click logs {VERSION} (optbench.data.clicks)",
            "source": f"generated by optbench.data.clicks.ClickModel(seed={SEED})",
            "licence": "generated data, no licence restrictions",
            "synthetic": True,
            "split": f"i.i.d. stream: train {n_train:,} / validation {n_validation:,} / "
            f"test {n_test:,}, in this order",
            "vocab_sizes": list(VOCAB_SIZES),
        }
        for split, n in (("train", n_train), ("validation", n_validation), ("test", n_test)):
            sample = model.sample(stream, n)
            arrays[f"{split}_ids"] = sample["ids"]
            arrays[f"{split}_dense"] = sample["dense"]
            arrays[f"{split}_y"] = sample["labels"]
            provenance[f"{split}_click_rate"] = float(sample["labels"].mean())
            # Bayes-optimal: the expected log loss of the true probabilities, and the log loss
            # they realise on the drawn labels.
            provenance[f"{split}_bayes_log_loss"] = float(binary_entropy(sample["p"]).mean())
            provenance[f"{split}_bayes_log_loss_realised"] = log_loss(sample["p"], sample["labels"])
        return arrays, provenance

    key = f"clicks_{VERSION}_{n_train}_{n_validation}_{n_test}"
    return cached_arrays(cache_dir, key, prepare)
