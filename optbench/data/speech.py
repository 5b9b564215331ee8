"""Spoken word sequences synthesised with espeak-ng (SYNTHETIC speech), as log-mel features.

Each utterance is 1 to ``max_words`` words drawn from a 30-word vocabulary (``VOCAB``), spoken by
the ``espeak-ng`` binary with a random voice (accent + voice variant), rate 120-220 words/minute
and pitch 20-80, resampled to 16 kHz, mixed with white noise at 10-30 dB SNR, and turned into
80-bin log-mel features (25 ms window, 10 ms hop, 20-7600 Hz), stored as float16.

Speakers: training voices combine 6 accents with 16 voice variants; validation and test voices
are unseen in training: each uses its own 4 held-out variants, and a quarter of them also a
held-out accent (West Midlands English). Every clip is a pure function of (seed, split, index),
so the data are deterministic per seed whatever the number of worker processes.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from optbench.data.cache import cached_arrays, default_cache_dir
from optbench.errors import UserError

VOCAB: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "hello",
    "world",
    "time",
    "day",
    "good",
    "bad",
    "red",
    "blue",
    "green",
    "house",
)
TRAIN_ACCENTS = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-scotland", "en-029")
HELD_OUT_ACCENT = "en-gb-x-gbcwmd"
TRAIN_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m6",
    "f1",
    "f2",
    "f4",
    "klatt",
    "klatt3",
    "Andy",
    "david",
    "edward",
    "linda",
    "steph",
    "max",
)
HELD_OUT_VARIANTS = {
    "validation": ("m5", "f3", "klatt2", "john"),
    "test": ("m7", "f5", "klatt4", "robert"),
}
SAMPLE_RATE = 16_000
ESPEAK_RATE = 22_050  # what espeak-ng writes; the rate is read from each WAV header
N_FFT, HOP, N_MELS = 400, 160, 80
_SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


def mel_filterbank(
    n_mels: int = N_MELS,
    n_fft: int = N_FFT,
    sr: int = SAMPLE_RATE,
    fmin: float = 20.0,
    fmax: float = 7600.0,
) -> np.ndarray:
    """Triangular mel filters ``(n_fft // 2 + 1, n_mels)`` (HTK mel scale)."""

    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lower = (freqs[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    upper = (edges[None, 2:] - freqs[:, None]) / (edges[2:] - edges[1:-1])
    return np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)


_MEL = mel_filterbank()


def log_mel(audio: np.ndarray) -> np.ndarray:
    """80-bin log-mel features ``(frames, 80)`` of 16 kHz audio (25 ms Hann window, 10 ms hop)."""
    audio = np.pad(audio, (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = 1 + (len(audio) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spectrum = np.abs(np.fft.rfft(audio[idx] * np.hanning(N_FFT).astype(np.float32), axis=1)) ** 2
    return np.log(spectrum @ _MEL + 1e-6).astype(np.float32)


def utterance_spec(
    seed: int, split: str, index: int, max_words: int, vocab_size: int = len(VOCAB)
) -> dict:
    """The words, voice, rate, pitch and SNR of one utterance (a function of its arguments);
    words are drawn from the first ``vocab_size`` words of ``VOCAB``."""
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
    words = rng.integers(0, vocab_size, size=int(rng.integers(1, max_words + 1)))
    if split == "train":
        accent = TRAIN_ACCENTS[rng.integers(len(TRAIN_ACCENTS))]
        variant = TRAIN_VARIANTS[rng.integers(len(TRAIN_VARIANTS))]
    else:
        accent = (
            HELD_OUT_ACCENT
            if rng.random() < 0.25
            else TRAIN_ACCENTS[rng.integers(len(TRAIN_ACCENTS))]
        )
        variant = HELD_OUT_VARIANTS[split][rng.integers(4)]
    return {
        "words": words.tolist(),
        "voice": f"{accent}+{variant}",
        "rate": int(rng.integers(120, 221)),
        "pitch": int(rng.integers(20, 81)),
        "snr_db": float(rng.uniform(10.0, 30.0)),
        "noise_seed": int(rng.integers(2**31)),
    }


def wav_pcm(raw: bytes) -> tuple[np.ndarray, int]:
    """The 16-bit mono samples and the sample rate of a WAV stream as espeak-ng writes it.

    espeak-ng streams a 44-byte header whose length fields are unknown (it writes to a pipe), so
    the data are everything after the header; the rate is the header's sample-rate field.
    """
    rate = int.from_bytes(raw[24:28], "little")
    pcm = np.frombuffer(raw[44 : 44 + (len(raw) - 44) // 2 * 2], dtype="<i2")
    return pcm, rate


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` sampled at ``rate`` Hz, resampled to ``target`` Hz (polyphase, float32).

    The up/down factors are the rates divided by their greatest common divisor: 22,050 Hz to
    16 kHz is up 320, down 441.
    """
    from scipy.signal import resample_poly

    g = math.gcd(target, rate)
    return resample_poly(audio, target // g, rate // g).astype(np.float32)


def synthesise(spec: dict) -> np.ndarray:
    """The log-mel features (float16) of one utterance described by :func:`utterance_spec`."""
    text = " ".join(VOCAB[w] for w in spec["words"])
    cmd = [
        "espeak-ng",
        "-v",
        spec["voice"],
        "-s",
        str(spec["rate"]),
        "-p",
        str(spec["pitch"]),
        "--stdout",
        text,
    ]
    pcm, rate = wav_pcm(subprocess.run(cmd, capture_output=True, check=True).stdout)
    audio = resample(pcm.astype(np.float32) / 32768.0, rate)
    noise = np.random.default_rng(spec["noise_seed"]).standard_normal(len(audio))
    power = float(np.mean(audio**2)) + 1e-10
    audio = audio + noise.astype(np.float32) * np.sqrt(power / 10 ** (spec["snr_db"] / 10))
    return log_mel(audio).astype(np.float16)


def _synthesise_many(specs: list[dict]) -> list[np.ndarray]:
    return [synthesise(s) for s in specs]


def load(
    sizes: dict[str, int],
    max_words: int = 5,
    vocab_size: int = len(VOCAB),
    seed: int = 0,
    workers: int = 2,
    cache_dir: Path | None = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Synthesised utterances per split: ``({<split>_<array>}, provenance)``.

    Utterances have 1 to ``max_words`` words from the first ``vocab_size`` words of ``VOCAB``.

    Arrays per split: ``features`` (total frames, 80) float16, all utterances concatenated;
    ``frames`` (N,) frames per utterance; ``words`` (total words,) int16 word ids (0-29) and
    ``num_words`` (N,). The first call prepares and caches them (minutes at the mini size), with a
    progress bar per split on stderr.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def prepare() -> tuple[dict[str, np.ndarray], dict]:
        if shutil.which("espeak-ng") is None:
            raise UserError("espeak-ng not found: apt-get install espeak-ng")
        version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
        start = time.perf_counter()
        arrays: dict[str, np.ndarray] = {}
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for split, n in sizes.items():
                specs = [utterance_spec(seed, split, i, max_words, vocab_size) for i in range(n)]
                chunks = [specs[i : i + 64] for i in range(0, n, 64)]
                feats = []
                with tqdm(
                    total=n,
                    desc=f"espeak-ng {split}",
                    unit="clip",
                    file=sys.stderr,
                    mininterval=2.0,
                ) as bar:
                    for chunk in pool.map(_synthesise_many, chunks):
                        feats.extend(chunk)
                        bar.update(len(chunk))
                arrays[f"{split}_features"] = np.concatenate(feats)
                arrays[f"{split}_frames"] = np.array([len(f) for f in feats], np.int32)
                arrays[f"{split}_words"] = np.array(
                    [w for s in specs for w in s["words"]], np.int16
                )
                arrays[f"{split}_num_words"] = np.array([len(s["words"]) for s in specs], np.int32)
        provenance = {
            "dataset": "espeak-ng word sequences (SYNTHETIC speech from text-to-speech)",
            "source": f"espeak-ng binary ({version.stdout.strip()})",
            "licence": "generated data; espeak-ng is GPL-3.0 (the tool, not the output)",
            "synthetic": True,
            "vocabulary": list(VOCAB[:vocab_size]),
            "max_words": max_words,
            "seed": seed,
            "voices": {
                "train": f"{TRAIN_ACCENTS} x {TRAIN_VARIANTS}",
                "validation": f"held-out variants {HELD_OUT_VARIANTS['validation']}",
                "test": f"held-out variants {HELD_OUT_VARIANTS['test']}",
                "held_out_accent": HELD_OUT_ACCENT,
            },
            "features": "80-bin log-mel, 25 ms window, 10 ms hop, 16 kHz, float16",
            "split": " / ".join(f"{k} {v}" for k, v in sizes.items()),
            "prepare_seconds": round(time.perf_counter() - start, 2),
        }
        return arrays, provenance

    # v2: audio at 16 kHz (v1 caches hold features of audio resampled to 8 kHz by mistake).
    key = f"speech_v2_s{seed}_w{max_words}_v{vocab_size}_" + "_".join(map(str, sizes.values()))
    return cached_arrays(cache_dir, key, prepare)
