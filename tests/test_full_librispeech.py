"""The full-size LibriSpeech workloads (``librispeech_conformer``, ``librispeech_deepspeech`` and
their AlgoPerf variants, size ``full``): AlgoPerf's parameter counts and types (networks built
on the meta device), targets and budgets, the batch rule, the front-end, SpecAugment, CTC loss
and WER, the data pipeline on a few spoken-digit utterances (espeak-ng) and a tiny SentencePiece
model that the test writes in the real ``dataset_setup.py`` layout, its one-line errors, and one
training step and one eval of every workload at a test width."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from algoperf_full import PARAM_COUNTS
from checks import (
    meta_network,
    nadamw_two_steps,
    one_line_error,
    sgd_step,
)

from optbench import prng, spec
from optbench.data import librispeech, speech
from optbench.errors import UserError
from optbench.models import speech_frontend as fe
from optbench.workloads import get_workload
from optbench.workloads.librispeech import metrics

sentencepiece = pytest.importorskip("sentencepiece", reason="pip install 'optbench[speech]'")

CONFORMER = (
    "librispeech_conformer",
    "librispeech_conformer_attention_temperature",
    "librispeech_conformer_layernorm",
    "librispeech_conformer_gelu",
)
DEEPSPEECH = (
    "librispeech_deepspeech",
    "librispeech_deepspeech_tanh",
    "librispeech_deepspeech_no_resnet",
    "librispeech_deepspeech_norm_and_spec_aug",
)
DIGITS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
# subset -> transcripts of its utterances
UTTERANCES = {
    "train-clean-100": ["ONE TWO", "THREE", "FOUR FIVE SIX"],
    "train-clean-360": ["SEVEN EIGHT"],
    "train-other-500": ["NINE ZERO"],
    "dev-clean": ["TWO FOUR"],
    "dev-other": ["SIX"],
    "test-clean": ["EIGHT ONE", "ZERO"],
}
WIDTH = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def _speak(text: str) -> np.ndarray:
    """``text`` spoken by espeak-ng at 16 kHz, as int64 samples of 16-bit values (what
    AlgoPerf's preprocessing stores)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "190", "--stdout", text.lower()],
        capture_output=True,
        check=True,
    ).stdout
    pcm, rate = speech.wav_pcm(wav)
    audio = speech.resample(pcm.astype(np.float32) / 32768.0, rate)
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int64)


def _train_tokenizer(folder: Path) -> Path:
    """A unigram SentencePiece model of digit words, trained as librispeech_tokenizer.py trains
    AlgoPerf's (on transcript lines), written as ``spm_model.vocab``."""
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(DIGITS, size=rng.integers(1, 5))) for _ in range(400)]
    corpus = folder / "chars.txt"
    corpus.write_text("\n".join(lines) + "\n")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "spm"),
        vocab_size=24,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        minloglevel=2,
    )
    model = folder / librispeech.TOKENIZER_FILE
    (folder / "spm.model").rename(model)
    for leftover in (corpus, folder / "spm.vocab"):
        leftover.unlink()
    return model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``DATA/librispeech`` as dataset_setup.py leaves it, with a few espeak-ng utterances per
    subset; returns ``DATA``."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    data = tmp_path_factory.mktemp("data")
    root = data / "librispeech"
    root.mkdir()
    tokenizer = librispeech.Tokenizer(_train_tokenizer(root))
    for subset, transcripts in UTTERANCES.items():
        (root / subset).mkdir()
        rows = [",id"]
        for k, text in enumerate(transcripts):
            utterance = f"{100 + k}-{2000 + k}-{k:04d}"
            np.save(root / subset / f"{utterance}_audio.npy", _speak(text))
            np.save(root / subset / f"{utterance}_targets.npy", tokenizer.tokenize(text))
            rows.append(f"{k},{utterance}")
        (root / f"{subset}.csv").write_text("\n".join(rows) + "\n")
    return data


def _copy(data_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "librispeech"
    shutil.copytree(data_dir / "librispeech", root)
    return root


# --- networks, targets, batch sizes (no data) ------------------------------------------------
@pytest.mark.parametrize("name", sorted((*CONFORMER, *DEEPSPEECH)))
def test_parameter_counts_and_types_are_algoperfs(name):
    workload, _ = meta_network(name, PARAM_COUNTS[name])
    assert [k for k in workload.param_shapes if workload.is_output_params(k)] == [
        "lin.weight",
        "lin.bias",
    ]
    assert tuple(workload.param_shapes["lin.weight"].shape_tuple) == (1024, 512)
    types, T = workload.model_params_types, spec.ParameterType
    assert types["subsample.conv1.kernel"] == T.CONV_WEIGHT
    assert types["subsample.conv2.bias"] == T.BIAS
    if name in CONFORMER:  # names typed by AlgoPerf's rules, its quirks included
        block = "conformers.3"
        assert types[f"{block}.mhsa.self_attention.in_proj.weight"] == T.ATTENTION_QKV
        assert types[f"{block}.mhsa.self_attention.out_proj.weight"] == T.ATTENTION_OUT
        assert types[f"{block}.mhsa.self_attention.out_proj.bias"] == T.ATTENTION_BIAS
        assert types[f"{block}.mhsa.self_attention.qs.scale"] == T.WEIGHT
        assert types[f"{block}.conv.lin1.weight"] == T.CONV_WEIGHT
        assert types[f"{block}.conv.bn.scale"] == T.BATCH_NORM_SCALE
        assert types[f"{block}.ff2.ln.bias"] == T.LAYER_NORM_BIAS
        assert types["subsample.linear.weight"] == T.WEIGHT
        assert (f"{block}.ln.scale" in types) == (name != "librispeech_conformer_layernorm")
    else:
        assert types["lstms.5.lstm.weight_hh_l0_reverse"] == T.WEIGHT
        assert types["lstms.0.lstm.bias_ih_l0"] == T.BIAS
        norm = (
            ("normalization_layer.scale", T.LAYER_NORM_SCALE)
            if name.endswith("norm_and_spec_aug")
            else ("bn_normalization_layer.weight", T.BATCH_NORM_SCALE)
        )
        assert types[f"ffns.2.{norm[0]}"] == norm[1]
        assert ("ln.scale" in types) == (not name.endswith("norm_and_spec_aug"))


def test_targets_point_the_right_way_and_the_loss_is_ctc():
    for name in (*CONFORMER, *DEEPSPEECH):
        assert get_workload(name, "full").loss_type == spec.LossType.CTC_LOSS
    assert get_workload("librispeech_conformer", "full").has_reached_validation_target(
        {"validation/wer": 0.08}
    )


# --- front-end, SpecAugment, loss and WER -----------------------------------------------------
def test_frontend_frames_and_filters():
    frontend = fe.MelFilterbankFrontend()
    audio = torch.zeros(2, librispeech.MAX_INPUT_LENGTH)
    audio[0, :16_000] = torch.sin(torch.arange(16_000) * 2 * math.pi * 1000 / 16_000) * 8000
    paddings = torch.zeros_like(audio)
    paddings[0, 16_000:] = 1.0
    features, frame_paddings = frontend(audio, paddings)
    assert features.shape == (2, 1998, 80) == (2, fe.num_frames(320_000), fe.NUM_BINS)
    assert frame_paddings[0].sum() == 1998 - 100  # padding once all of its 401 samples are
    assert frame_paddings[1].sum() == 0
    loudest = features[0, 10:90].mean(dim=0).argmax().item()
    edges = torch.linspace(1127 * math.log(1 + 125 / 700), 1127 * math.log(1 + 7600 / 700), 82)
    centre_hz = 700 * (math.exp(edges[1 + loudest].item() / 1127) - 1)
    assert abs(centre_hz - 1000) < 80  # the 1 kHz tone's mel bin
    mean, std = torch.tensor(fe.LIBRISPEECH_MEAN), torch.tensor(fe.LIBRISPEECH_STD)
    silence = (math.log(1e-5) - mean) / std
    assert torch.allclose(features[1, 0], silence)  # floor 1e-5, normalised per bin
    weights = fe.mel_weight_matrix()
    assert weights.shape == (257, 80) and (weights[0] == 0).all()  # the DC bin is excluded
    # tf.signal.linear_to_mel_weight_matrix(80, 257, 16000, 125.0, 7600.0) (TensorFlow 2.21)
    assert weights[:, 40].nonzero().flatten().tolist() == [61, 62, 63, 64]
    expected = torch.tensor([0.35862, 0.77681, 0.80992, 0.40147])
    assert torch.allclose(weights[61:65, 40], expected, atol=1e-4)
    assert abs(weights[5, 0].item() - 0.695547) < 1e-4 and abs(weights.sum() - 234.9484) < 1e-2


def test_specaugment_masks_as_algoperf():
    torch.manual_seed(0)
    lengths = torch.tensor([400, 1998, 20])
    keep = fe.SpecAug.keep_mask(lengths, 1998, count=10, max_ratio=0.05)
    masked = (keep == 0).sum(dim=1)
    assert (masked <= 10 * (0.05 * lengths).long()).all() and masked[1] > 0
    for row, n in enumerate(lengths.tolist()):  # masks start and end within the utterance
        assert (keep[row, n:] == 1).all()
    assert (keep[2] == 1).all()  # 5 % of 20 frames: masks of 0 frames
    full = torch.full((3,), 80)
    keep = fe.SpecAug.keep_mask(full, 80, count=2, max_ratio=1.0, max_length=27)
    assert ((keep == 0).sum(dim=1) <= 54).all()
    features = torch.ones(3, 1998, 80)
    paddings = (torch.arange(1998)[None] >= lengths[:, None]).float()
    out, same = fe.SpecAug()(features, paddings)
    assert same is paddings and out.shape == features.shape and out.sum() < features.sum()


def test_wer_is_algoperfs_on_tensorflows_strings():
    # str(tokenizer.detokenize(ids)) under TensorFlow 2.21 and tensorflow-text 2.21
    assert metrics.algoperf_text("ONE TWO") == "tf.Tensor(b'ONE TWO', shape=(), dtype=string)"
    assert metrics.algoperf_text("DON'T GO") == 'tf.Tensor(b"DON\'T GO", shape=(), dtype=string)'
    assert metrics.algoperf_text("") == "tf.Tensor(b'', shape=(), dtype=string)"
    words = {1: "ONE", 2: "TWO", 3: "DON'T", 4: "GO"}

    def detokenize(ids):
        return " ".join(words[i] for i in ids)

    # Right words: the two tensor words are counted too (3 + 2); one substitution in 4 + 2.
    assert metrics.word_errors([[1, 2, 1]], [[1, 2, 1]], detokenize) == (0, 5)
    assert metrics.word_errors([[1, 1, 2, 4]], [[1, 2, 2, 4]], detokenize) == (1, 6)
    # An empty hypothesis of 2 words: 2 edits in 4; an apostrophe changes the quoting of the
    # string, so its first and last words count as wrong too.
    assert metrics.word_errors([[]], [[1, 2]], detokenize) == (2, 4)
    assert metrics.word_errors([[3, 1]], [[4, 1]], detokenize) == (2, 4)


def test_ctc_loss_counts_tokens_as_algoperf(data_dir):
    workload = get_workload("librispeech_conformer", "full", data_dir=data_dir, test_width=WIDTH)
    logits = torch.randn(3, 50, workload.vocab_size)
    logit_paddings = torch.zeros(3, 50)
    logit_paddings[2, 30:] = 1
    targets = torch.tensor([[5.0, 6, 2, 0], [7, 2, 0, 0], [8, 9, 10, 2]])
    target_paddings = (targets == 0).float()
    loss = workload.loss_fn((targets, target_paddings), (logits, logit_paddings))
    assert loss["n_valid_examples"].item() == 9  # target tokens, without a mask
    reference = torch.nn.CTCLoss(blank=0, reduction="none")(
        torch.log_softmax(logits, -1).transpose(0, 1),
        targets.long(),
        torch.tensor([50, 50, 30]),
        torch.tensor([3, 2, 4]),
    )
    assert torch.allclose(loss["per_example"], reference)
    masked = workload.loss_fn(
        (targets, target_paddings), (logits, logit_paddings), torch.tensor([1.0, 0.0, 1.0])
    )
    assert masked["n_valid_examples"].item() == 2  # with a mask: utterances
    assert torch.isclose(masked["summed"], reference[0] + reference[2])


# --- data --------------------------------------------------------------------------------------
def test_layout_tokenizer_and_batches(data_dir):
    splits, tokenizer = librispeech.load_splits(data_dir, full=False)  # the folder above works
    assert {k: len(v) for k, v in splits.items()} == {"train": 5, "validation": 2, "test": 2}
    assert splits["validation"].keys.tolist()[1] == "dev-other/100-2000-0000"
    again, _ = librispeech.load_splits(data_dir / "librispeech", full=False)
    assert again["test"].keys.tolist() == splits["test"].keys.tolist()
    audio, tokens = splits["train"].example(0)
    assert audio.dtype == np.int64 and 8_000 < len(audio) < 64_000 and np.abs(audio).max() > 1000
    assert tokens[-1] == tokenizer.eos_id == 2 and tokenizer.detokenize(tokens) == "ONE TWO"
    workload = get_workload("librispeech_deepspeech", "full", data_dir=data_dir, test_width=WIDTH)
    batch = next(workload._build_input_queue(prng.key(0), "validation", None, 2))
    (audio, audio_paddings), (targets, target_paddings) = batch["inputs"], batch["targets"]
    assert audio.shape == audio_paddings.shape == (2, 320_000) and audio.dtype == torch.float32
    assert targets.shape == target_paddings.shape == (2, 256) and targets.dtype == torch.float32
    lengths = (1 - audio_paddings).sum(dim=1).long()
    assert (audio[0, : lengths[0]] != 0).any() and (audio[0, lengths[0] :] == 0).all()
    words = [(1 - p).sum().long().item() for p in target_paddings]
    texts = [
        tokenizer.detokenize(t[:n].long().tolist()) for t, n in zip(targets, words, strict=True)
    ]
    assert texts == ["TWO FOUR", "SIX"]
    assert workload.num_eval_train_examples == 5  # AlgoPerf's rule, capped at the train split
    assert workload.tokenizer.vocab_size == workload.vocab_size < 1024


def test_train_queue_is_an_epoch_per_permutation_and_deterministic(data_dir):
    workload = get_workload("librispeech_conformer", "full", data_dir=data_dir, test_width=WIDTH)

    def first_tokens(seed: int) -> list[float]:
        queue = workload._build_input_queue(prng.key(seed), "train", None, 1)
        return [next(queue)["targets"][0][0, 0].item() for _ in range(5)]

    epoch = first_tokens(1)
    train = [t for subset in librispeech.SUBSETS["train"] for t in UTTERANCES[subset]]
    tokens = [float(workload.tokenizer.tokenize(text)[0]) for text in train]
    assert sorted(epoch) == sorted(tokens)
    assert first_tokens(1) == epoch and first_tokens(2) != epoch


def test_synthetic_batch_has_the_real_shapes():
    workload = get_workload("librispeech_conformer", "full")
    batch = workload.synthetic_batch(3, seed=1)
    (audio, audio_paddings), (targets, target_paddings) = batch["inputs"], batch["targets"]
    assert audio.shape == (3, 320_000) and targets.shape == (3, 256)
    counts = (1 - target_paddings).sum(dim=1).long()
    assert (targets[torch.arange(3), counts - 1] == 2).all() and (targets < 1024).all()
    assert ((audio != 0) <= (audio_paddings == 0)).all() and audio.abs().max() <= 32768


def test_missing_or_malformed_data_is_a_one_line_error(data_dir, tmp_path):
    assert "--data-dir" in one_line_error(librispeech.load_splits, None)
    assert "librispeech_tokenizer.py" in one_line_error(
        librispeech.load_splits, tmp_path / "nowhere"
    )
    full = one_line_error(librispeech.load_splits, data_dir, True)
    assert "AlgoPerf's LibriSpeech has 263,840" in full and "librispeech_preprocess.py" in full
    root = _copy(data_dir, tmp_path)
    (root / "dev-other.csv").unlink()
    message = one_line_error(librispeech.load_splits, tmp_path, False)
    assert str(root / "dev-other.csv") in message and "librispeech_preprocess.py" in message
    (root / "dev-other.csv").write_text("id\nabc\n")
    assert "header should be ',id'" in one_line_error(librispeech.load_splits, tmp_path, False)
    (root / "dev-other.csv").write_text(",id\n0\n")
    assert "line 2" in one_line_error(librispeech.load_splits, tmp_path, False)
    (root / "dev-other.csv").write_text(",id\n0,100-2000-0000\n")
    splits, _ = librispeech.load_splits(tmp_path, False)
    train = splits["train"]
    audio = root / "train-clean-100" / "100-2000-0000_audio.npy"
    audio.unlink()
    message = one_line_error(train.example, 0)
    assert str(audio) in message and "not found" in message
    np.save(audio, np.zeros((2, 3), np.int64))
    assert "1-D integer array" in one_line_error(train.example, 0)
    np.save(audio, np.zeros(320_001, np.int64))
    assert "1 to 320,000" in one_line_error(train.example, 0)
    audio.write_bytes(b"not an array")
    assert "not a .npy array" in one_line_error(train.example, 0)
    targets = root / "train-clean-100" / "100-2000-0000_targets.npy"
    np.save(targets, np.zeros(3, np.float32))
    np.save(audio, np.zeros(100, np.int64))
    assert str(targets) in one_line_error(train.example, 0)
    (root / librispeech.TOKENIZER_FILE).write_bytes(b"garbage")
    message = one_line_error(librispeech.load_splits, tmp_path, False)
    assert "not a SentencePiece model" in message and "librispeech_tokenizer.py" in message


def test_a_malformed_file_fails_the_batch_that_reads_it(data_dir, tmp_path):
    root = _copy(data_dir, tmp_path)
    (root / "test-clean" / "101-2001-0001_audio.npy").write_bytes(b"")
    workload = get_workload("librispeech_conformer", "full", data_dir=tmp_path, test_width=WIDTH)
    with pytest.raises(UserError, match=r"101-2001-0001_audio\.npy"):
        next(workload._build_input_queue(prng.key(0), "test", None, 2))


# --- one step and one eval per workload ------------------------------------------------------
@pytest.mark.parametrize("name", sorted((*CONFORMER, *DEEPSPEECH)))
def test_one_training_step_and_eval_at_test_width(name, data_dir):
    workload = get_workload(name, "full", data_dir=data_dir, test_width=WIDTH)
    model, state = workload.init_model_fn(prng.key(0))
    assert workload._dropout_rate == 0.1  # AlgoPerf's default
    batch = next(workload._build_input_queue(prng.key(1), "train", None, 2))
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    (logits, paddings), state = workload.model_fn(
        model, batch, state, spec.ForwardPassMode.TRAIN, prng.key(2), True
    )
    assert logits.shape == (2, 500, workload.vocab_size) and paddings.shape == (2, 500)
    loss = workload.loss_fn(batch["targets"], (logits, paddings))
    tokens = (1 - batch["targets"][1]).sum()
    assert loss["n_valid_examples"] == tokens and torch.isfinite(loss["summed"])
    sgd_step(model, loss, lr=0.01)
    after = {k: v for k, v in model.state_dict().items() if "running" in k}
    assert bool(before) == (name != "librispeech_deepspeech_norm_and_spec_aug")  # BatchNorms
    assert all(not torch.equal(before[k], after[k]) for k in before)
    metrics_ = workload.eval_model(4, model, state, prng.key(3))
    assert (metrics_["validation/num_examples"], metrics_["test/num_examples"]) == (2, 2)
    for split in ("train", "validation", "test"):
        assert metrics_[f"{split}/wer"] >= 0 and np.isfinite(metrics_[f"{split}/ctc_loss"])


def test_update_batch_norm_off_keeps_the_running_statistics(data_dir):
    workload = get_workload("librispeech_deepspeech", "full", data_dir=data_dir, test_width=WIDTH)
    model, state = workload.init_model_fn(prng.key(0), dropout_rate=0.0)
    assert workload._dropout_rate == 0.0
    batch = workload.synthetic_batch(2)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    workload.model_fn(model, batch, state, spec.ForwardPassMode.TRAIN, prng.key(1), False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    workload.model_fn(model, batch, state, spec.ForwardPassMode.TRAIN, prng.key(1), True)
    key = "lstms.0.bn_normalization_layer.running_mean"
    assert not torch.equal(before[key], model.state_dict()[key])


def test_nadamw_trains_through_the_runner(data_dir, tmp_path):
    """The real runner (timing, evals, result files) on the Conformer at a test width."""
    workload = get_workload("librispeech_conformer", "full", data_dir=data_dir, test_width=WIDTH)
    result = nadamw_two_steps(workload, tmp_path / "trial")
    assert "test/wer" in result.eval_rows[-1]


def test_data_parallel_ranks_take_their_part_of_every_pair():
    from optbench import distributed

    batch = get_workload("librispeech_deepspeech", "full").synthetic_batch(4)
    part = distributed.shard(batch, 1, 2)
    for key in ("inputs", "targets"):
        assert isinstance(part[key], tuple) and len(part[key]) == 2
        for whole, mine in zip(batch[key], part[key], strict=True):
            assert torch.equal(mine, whole[2:4])
