"""The molecules, MRI and speech workloads (and variants) at the smoke size: data, init, loss,
metrics, eval keys, and NadamW reaching the smoke target."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
import torch

from optbench import prng, spec
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload
from optbench.workloads.common.average_precision import (
    average_precision,
    mean_average_precision,
)
from optbench.workloads.common.ctc_metrics import edit_distance, greedy_decode, word_errors
from optbench.workloads.mri_unet import ssim

BASES = {
    "molecules_gnn": ("molecules_gnn", "molecules_gnn_gelu"),
    "mri_unet": ("mri_unet", "mri_unet_tanh"),
    "speech_lstm": ("speech_lstm", "speech_lstm_tanh"),
    "speech_conformer": ("speech_conformer", "speech_conformer_attention_temperature"),
}
ALL = [name for names in BASES.values() for name in names]
SPEECH = {n for n in ALL if n.startswith("speech")}


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    """One cache folder for the session: each dataset is prepared once."""
    return tmp_path_factory.mktemp("optbench_cache")


@pytest.fixture(scope="session")
def loaded(data_cache):
    """Smoke-size instances, data loaded (prepared into the session cache)."""
    out = {}
    for name in ALL:
        workload = get_workload(name, "smoke", cache_dir=data_cache)
        workload.load_data()
        out[name] = workload
    return out


def _batch(workload, n=8, seed=0):
    queue = workload._build_input_queue(prng.key(seed), "train", None, n)
    return next(queue)


# --- data ------------------------------------------------------------------------------------
def test_molecule_splits(loaded):
    w = loaded["molecules_gnn"]
    sizes = (w.num_train_examples, w.num_validation_examples, w.num_test_examples)
    assert sizes == (2000, 500, 500)
    assert w.data_provenance["synthetic"] is False and len(w.data_provenance["sha256"]) == 64
    splits = {s: w._split(s) for s in ("train", "validation", "test")}
    # No overlap: no molecule graph (node features + edges) repeats across splits.
    keys = {}
    for s, data in splits.items():
        keys[s] = {
            data.batch(torch.tensor([i]))["inputs"].numpy().tobytes()
            + data.batch(torch.tensor([i]))["edge_index"].numpy().tobytes()
            for i in range(0, len(data), 5)
        }
    assert not keys["train"] & keys["validation"] and not keys["train"] & keys["test"]
    b = _batch(w, 4)
    assert b["inputs"].shape[1] == 22 and b["edge_features"].shape[1] == 6
    assert b["targets"].shape == b["weights"].shape == (4, 32)
    assert int(b["node_graph"].max()) == 3 and int(b["edge_index"].max()) < len(b["inputs"])
    # Every edge joins two atoms of the same molecule.
    src, dst = b["edge_index"]
    assert torch.equal(b["node_graph"][src], b["node_graph"][dst])
    assert 0.85 < float(splits["train"].weights.mean()) < 0.95  # 10% of labels masked


def test_mri_splits(loaded):
    w = loaded["mri_unet"]
    x, y = w._split("validation")
    assert x.shape == y.shape and x.shape[1:] == (1, 32, 32)
    assert w.num_train_examples > 300
    assert w.num_validation_examples > 30 and w.num_test_examples > 30
    assert torch.allclose(y.flatten(1).amax(1), torch.ones(len(y)))
    # The validation inputs are undersampled: different from the targets, but correlated.
    assert (x - y).abs().mean() > 0.01
    assert torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1] > 0.8
    slices = {s: {tuple(r) for r in _slices(w, s)} for s in ("train", "validation", "test")}
    assert not slices["train"] & slices["validation"] and not slices["validation"] & slices["test"]
    b = _batch(w, 4)
    assert b["inputs"].shape == b["targets"].shape == (4, 1, 32, 32)
    assert not torch.equal(b["inputs"], b["targets"])


def _slices(w, split):
    from optbench.data import mri

    arrays, _ = mri.load("ch2.nii.gz", 32, w._cache_dir)
    return arrays[f"{split}_slice"].tolist()


def test_speech_splits(loaded):
    w = loaded["speech_lstm"]
    assert (w.num_train_examples, w.num_validation_examples, w.num_test_examples) == (320, 48, 48)
    assert w.data_provenance["synthetic"] is True
    assert "espeak-ng" in w.data_provenance["source"]
    b = _batch(w, 4)
    (x, xp), (t, tp) = b["inputs"], b["targets"]
    assert x.shape[0] == 4 and x.shape[2] == 80 and x.shape[1] % 4 == 0 and xp.shape == x.shape[:2]
    assert t.shape[0] == 4 and int(t.max()) <= 10 and int(t[tp == 0].min()) >= 1  # digits only
    assert torch.all(x[xp > 0] == 0)
    # Held-out voices: no validation voice variant is used in training.
    from optbench.data import speech

    assert not set(speech.HELD_OUT_VARIANTS["validation"]) & set(speech.TRAIN_VARIANTS)
    assert speech.utterance_spec(0, "train", 3, 5) == speech.utterance_spec(0, "train", 3, 5)


def test_speech_audio_is_resampled_to_16_khz():
    """A 1 kHz tone at espeak-ng's 22,050 Hz comes out as 16,000 samples a second with its peak
    at 1 kHz; a synthesised clip has one feature frame per 10 ms of 16 kHz audio."""
    from optbench.data import speech

    t = np.arange(speech.ESPEAK_RATE) / speech.ESPEAK_RATE
    audio = speech.resample(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), speech.ESPEAK_RATE)
    assert audio.dtype == np.float32 and len(audio) == speech.SAMPLE_RATE == 16_000
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.fft.rfftfreq(len(audio), 1 / speech.SAMPLE_RATE)[spectrum.argmax()] == 1000.0

    spec = speech.utterance_spec(0, "train", 3, 5)
    cmd = ["espeak-ng", "-v", spec["voice"], "-s", str(spec["rate"]), "-p", str(spec["pitch"])]
    raw = subprocess.run([*cmd, "--stdout", "one two"], capture_output=True, check=True).stdout
    pcm, rate = speech.wav_pcm(raw)
    assert rate == speech.ESPEAK_RATE
    spec["words"] = [1, 2]
    resampled = math.ceil(len(pcm) * 320 / 441)  # scipy's resample_poly output length
    assert len(speech.synthesise(spec)) == 1 + resampled // speech.HOP


# --- init, loss, eval --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_init_is_deterministic_per_rng(loaded, name):
    w = loaded[name]
    a = [p.detach().clone() for p in w.init_model_fn(prng.key(1))[0].parameters()]
    b = [p.detach().clone() for p in w.init_model_fn(prng.key(1))[0].parameters()]
    c = [p.detach().clone() for p in w.init_model_fn(prng.key(2))[0].parameters()]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    assert set(w.param_shapes) == set(w.model_params_types)
    assert any(w.is_output_params(k) for k in w.param_shapes)


def test_molecule_loss_by_hand(loaded):
    w = loaded["molecules_gnn"]
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    out = w.loss_fn(labels, logits, mask)
    expected = math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)) + math.log(2.0)
    assert out["summed"].item() == pytest.approx(expected, rel=1e-6)
    assert out["n_valid_examples"].item() == 3 and out["per_example"].shape == (2, 2)
    assert w.loss_type == spec.LossType.SIGMOID_CROSS_ENTROPY


def test_mri_loss_by_hand(loaded):
    w = loaded["mri_unet"]
    target = torch.zeros(2, 1, 2, 2)
    pred = torch.tensor([[[[1.0, -1.0], [0.0, 0.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])
    out = w.loss_fn(target, pred)
    assert out["per_example"].tolist() == [0.5, 0.5]
    assert out["summed"].item() == 1.0 and out["n_valid_examples"].item() == 2
    assert w.loss_type == spec.LossType.MEAN_ABSOLUTE_ERROR


def test_ctc_loss_by_hand(loaded):
    w = loaded["speech_lstm"]
    # One frame, one target word: CTC loss = -log p(word at that frame).
    logits = torch.log(torch.tensor([[[0.2, 0.7] + [0.1 / 29] * 29]]))
    out = w.loss_fn((torch.tensor([[1]]), torch.zeros(1, 1)), (logits, torch.zeros(1, 1)))
    assert out["summed"].item() == pytest.approx(-math.log(0.7), rel=1e-5)
    assert out["n_valid_examples"].item() == 1
    # Two frames for one word "1": paths (1,1), (0,1), (1,0).
    p = torch.tensor([[0.5, 0.3] + [0.2 / 29] * 29, [0.4, 0.4] + [0.2 / 29] * 29])
    out = w.loss_fn(
        (torch.tensor([[1, 0]]), torch.tensor([[0.0, 1.0]])),
        (torch.log(p)[None], torch.zeros(1, 2)),
    )
    prob = 0.3 * 0.4 + 0.5 * 0.4 + 0.3 * 0.4
    assert out["summed"].item() == pytest.approx(-math.log(prob), rel=1e-5)
    assert w.loss_type == spec.LossType.CTC_LOSS


def test_prior_blank_logit_by_hand():
    """Utterances of 37 and 41 frames keep 10 + 11 = 21 output frames for 3 words: the blank's
    share is 18/21 = 6/7, against 30 word logits at 0: b = log(30 * 6) = log(180)."""
    from optbench.workloads.common.speech_layers import prior_blank_logit

    assert prior_blank_logit(np.array([37, 41]), np.array([1, 2])) == pytest.approx(math.log(180))


@pytest.mark.parametrize("name", sorted(SPEECH))
def test_ctc_head_starts_at_the_blank_share(loaded, name):
    """At init the blank takes the share of output frames that no word needs (one per word)."""
    w = loaded[name]
    model, state = w.init_model_fn(prng.key(0))
    batch = _batch(w, 32)
    (logits, paddings), _ = w.model_fn(
        model, batch, state, spec.ForwardPassMode.EVAL, prng.key(0), False
    )
    frames = paddings == 0
    p_blank = logits.softmax(-1)[..., 0][frames].mean().item()
    share = 1 - (batch["targets"][1] == 0).sum().item() / frames.sum().item()
    # Not exact: the word logits carry the default init's noise (W h); without the prior the
    # blank would start at about 1/31.
    assert p_blank == pytest.approx(share, abs=0.06)


def test_speech_eval_in_length_order_changes_only_the_padding(loaded, monkeypatch):
    """Length-sorted eval batches: same loss and WER as batches in index order, less padding."""
    from optbench.workloads.split_object import SplitObjectWorkload

    w = loaded["speech_conformer"]
    model, state = w.init_model_fn(prng.key(0))
    torch.nn.init.zeros_(model.output.bias)  # no blank prior: the decoder emits words
    sorted_metrics, n = w._eval_split("validation", model, state, prng.key(0), 8)
    sorted_frames = sum(b["inputs"][0].shape[1] for b in w._eval_batches("validation", 8))
    monkeypatch.setattr(type(w), "_eval_order", SplitObjectWorkload._eval_order)
    plain_metrics, m = w._eval_split("validation", model, state, prng.key(0), 8)
    plain_frames = sum(b["inputs"][0].shape[1] for b in w._eval_batches("validation", 8))
    assert n == m == 48
    assert sorted_metrics["loss"] == pytest.approx(plain_metrics["loss"], rel=1e-5)
    assert sorted_metrics["wer"] == plain_metrics["wer"] != 1.0
    assert sorted_frames < plain_frames


def test_metrics_on_hand_made_cases():
    # SSIM: identical images score 1; a constant offset lowers it.
    img = torch.rand(2, 1, 16, 16)
    assert torch.allclose(ssim(img, img), torch.ones(2))
    assert float(ssim(img + 0.3, img).max()) < 0.95
    assert float(ssim(torch.zeros_like(img), img).max()) < 0.05
    # WER: edit distances and greedy CTC decoding.
    assert edit_distance([1, 2, 3], [1, 3]) == 1 and edit_distance([], [4, 5]) == 2
    logits = torch.full((1, 6, 31), -5.0)
    for t, k in enumerate([3, 3, 0, 3, 7, 0]):
        logits[0, t, k] = 5.0
    assert greedy_decode(logits, torch.zeros(1, 6)) == [[3, 3, 7]]
    assert greedy_decode(logits, torch.tensor([[0.0, 0, 0, 1, 1, 1]])) == [[3]]
    assert word_errors([[3, 3, 7], [1]], [[3, 7], [1, 2]]) == (2, 4)
    # Average precision of a known ranking: positives at ranks 1 and 3 -> (1 + 2/3) / 2.
    scores, labels = np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0])
    assert average_precision(scores, labels) == pytest.approx(5 / 6)
    # Ties form one threshold (as sklearn): all tied -> precision = prevalence.
    assert average_precision(np.zeros(4), labels) == pytest.approx(0.5)
    logits2 = np.stack([scores, -scores], 1)
    weights = np.ones((4, 2))
    expected = (5 / 6 + (0.5 + 2 / 4) / 2) / 2  # task 2 ranks the positives 2nd and 4th
    assert mean_average_precision(logits2, np.stack([labels, labels], 1), weights) == pytest.approx(
        expected
    )


@pytest.mark.parametrize("name", ["molecules_gnn", "mri_unet", "speech_lstm", "speech_conformer"])
def test_eval_keys_and_model_fn(loaded, name):
    w = loaded[name]
    model, state = w.init_model_fn(prng.key(0))
    batch = _batch(w, 4)
    logits, _ = w.model_fn(model, batch, state, spec.ForwardPassMode.TRAIN, prng.key(0), True)
    losses = w.loss_fn(batch["targets"], logits, batch.get("weights"))
    assert set(losses) == {"summed", "n_valid_examples", "per_example"}
    assert torch.isfinite(losses["summed"]) and losses["summed"].requires_grad
    metrics = w.eval_model(w.eval_batch_size, model, state, prng.key(0))
    # Another batch size (ragged last batch) changes only the float rounding.
    assert w.eval_model(7, model, state, prng.key(0)) == pytest.approx(metrics, rel=1e-5)
    metric = w.target_metric_name
    for prefix in ("train", "validation", "test"):
        assert math.isfinite(metrics[f"{prefix}/loss"])
        assert math.isfinite(metrics[f"{prefix}/{metric}"])
    assert metrics["validation/num_examples"] == w.num_validation_examples
    higher = {"mean_average_precision": True, "ssim": True, "wer": False}[metric]
    assert w.metric_higher_is_better is higher


def test_variants_change_one_property(loaded):
    for base, variant in BASES.values():
        assert loaded[variant].base_name == base
        # The AlgoPerf variant's name (asked first by get_batch_size), e.g. ogbg_gelu.
        assert loaded[variant].algoperf_name.startswith(loaded[base].algoperf_name + "_")
    assert loaded["speech_conformer_attention_temperature"].attention_temperature == 1.6
    loaded["speech_conformer"].init_model_fn(prng.key(0))  # types exist once a model does
    types = loaded["speech_conformer"].model_params_types
    assert types["blocks.0.attn.qkv.weight"] == spec.ParameterType.ATTENTION_QKV


# --- training reaches the smoke target ---------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SPEECH else n for n in ALL],
)
def test_nadamw_reaches_smoke_target(loaded, name):
    result = run_trial(loaded[name], load_submission("nadamw"), seed=0)
    assert result.status == "completed"
    assert result.reached_target, result.eval_rows[-1]
