"""``wmt`` and its variants at size ``full`` (AlgoPerf's Transformer, data format, metric and
targets): parameter counts on the meta device, targets, the batch rule, the model's position
table and cached decoding, beam search against exhaustive search, BLEU, the input pipeline on a
WMT layout written here (100 sentence pairs, a tiny SentencePiece model trained here), malformed
input, and one training step and one evaluation at a reduced, test-only width."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from algoperf_full import PARAM_COUNTS
from checks import (
    meta_network,
    sgd_step,
    train_forward,
)

from optbench import prng, spec
from optbench.errors import UserError
from optbench.models import beam_search as bs
from optbench.models.transformer_wmt import WmtTransformer, sinusoidal_positions
from optbench.workloads import get_workload
from optbench.workloads.wmt import Wmt, corpus_bleu, decode_tokens

spm = pytest.importorskip("sentencepiece", reason="pip install 'optbench[wmt]'")
pytest.importorskip("sacrebleu", reason="pip install 'optbench[wmt]'")
from optbench.data import wmt  # noqa: E402  (after the skip: it needs sentencepiece)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is fastest


NAMES = ("wmt", "wmt_post_ln", "wmt_attention_temp", "wmt_glu_tanh")


@pytest.mark.parametrize("name", NAMES)
def test_full_models_have_algoperf_parameter_counts_and_names(name):
    workload, _ = meta_network(name, PARAM_COUNTS[name])
    shapes, types = workload.param_shapes, workload.model_params_types
    # AlgoPerf's parameter names, shapes and types (param_utils.pytorch_param_types)
    assert shapes["shared_embedding.weight"].shape_tuple == (32000, 1024)
    layer = "decoder.decoder.layers.5."
    assert shapes[layer + "multihead_attn.kv_proj.weight"].shape_tuple == (2048, 1024)
    expected = {
        "shared_embedding.weight": spec.ParameterType.EMBEDDING,
        "encoder.encoder.layers.0.self_attn.in_proj.weight": spec.ParameterType.ATTENTION_QKV,
        layer + "multihead_attn.q_proj.weight": spec.ParameterType.ATTENTION_Q,
        layer + "multihead_attn.kv_proj.weight": spec.ParameterType.ATTENTION_KV,
        layer + "self_attn.out_proj.weight": spec.ParameterType.ATTENTION_OUT,
        layer + "linear1.bias": spec.ParameterType.BIAS,
        layer + "norm3.weight": spec.ParameterType.LAYER_NORM_SCALE,
    }
    assert {k: types[k] for k in expected} == expected
    assert ("decoder.decoder.norm.weight" in shapes) == (name != "wmt_post_ln")
    assert (layer + "linear_glu.weight" in shapes) == (name == "wmt_glu_tanh")
    assert [k for k in shapes if workload.is_output_params(k)] == ["shared_embedding.weight"]


def test_targets_point_the_right_way_and_eval_batches_are_algoperfs():
    for name in ("wmt", "wmt_post_ln", "wmt_attention_temp", "wmt_glu_tanh"):
        assert get_workload(name, "full").eval_batch_size == 128
    assert get_workload("wmt", "full").has_reached_validation_target({"validation/bleu": 31.0})


# --- the model -----------------------------------------------------------------------------------
def test_position_table_is_algoperfs():
    table = sinusoidal_positions(8, 5)[0]  # half = 4: frequencies 10000 ** (-k / 3)
    for pos in range(5):
        for k in range(4):
            angle = pos * 10000.0 ** (-k / 3)
            assert math.isclose(table[pos, k].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(table[pos, 4 + k].item(), math.cos(angle), abs_tol=1e-6)


@pytest.mark.parametrize("options", [{}, {"pre_ln": False}, {"glu": True, "attention_temp": 4.0}])
def test_cached_decoding_matches_teacher_forcing(options):
    torch.manual_seed(0)
    model = WmtTransformer(vocab_size=40, width=16, heads=4, hidden=24, num_layers=2, **options)
    model.eval()
    src = torch.tensor([[5, 6, 7, 2, 0, 0], [9, 2, 0, 0, 0, 0]])
    tgt = torch.tensor([[11, 12, 13, 2, 0], [14, 15, 2, 0, 0]])
    with torch.no_grad():
        full = model(src, tgt)
        cache = model.start_decoding(src, beams=1, max_len=8)
        fed = torch.nn.functional.pad(tgt, (1, 0))[:, :-1]  # the decoder's shifted input
        steps = [model.decode_step(fed[:, t], cache) for t in range(tgt.shape[1])]
    valid = tgt > 0
    torch.testing.assert_close(torch.stack(steps, 1)[valid], full[valid], atol=1e-5, rtol=1e-5)


def test_packed_rows_do_not_see_each_other():
    torch.manual_seed(0)
    model = WmtTransformer(vocab_size=30, width=16, heads=4, hidden=16, num_layers=1).eval()
    a_src, a_tgt, b_src, b_tgt = [5, 6, 2], [7, 2], [8, 9, 10, 2], [11, 12, 2]
    packed = wmt.pack([(np.array(a_src), np.array(a_tgt)), (np.array(b_src), np.array(b_tgt))], 10)
    batch = {k: torch.from_numpy(v) for k, v in packed.items()}
    with torch.no_grad():
        both = model(batch["inputs"], batch["targets"], batch["inputs_position"],
                     batch["targets_position"], batch["inputs_segmentation"],
                     batch["targets_segmentation"])  # fmt: skip
        alone = model(torch.tensor([a_src + [0] * 7]), torch.tensor([a_tgt + [0] * 8]))
    torch.testing.assert_close(both[0, :2], alone[0, :2], atol=1e-5, rtol=1e-5)


# --- beam search ---------------------------------------------------------------------------------
def _markov_logits(vocab: int, seed: int) -> torch.Tensor:
    """Next-token logits that depend on the previous token only (row = previous token)."""
    return torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)) * 2


def _exhaustive_best(table: torch.Tensor, max_len: int, alpha: float) -> tuple[list[int], float]:
    """The best finished sequence (ending in EOS) by log p / brevity penalty, over all."""
    log_probs = torch.log_softmax(table, -1)
    best, best_score = None, -math.inf
    vocab = table.shape[0]
    for n in range(1, max_len):
        for seq in itertools.product(range(vocab), repeat=n):
            if seq[-1] != bs.EOS_ID or bs.EOS_ID in seq[:-1]:
                continue
            prev = (0, *seq[:-1])
            lp = sum(log_probs[p, s].item() for p, s in zip(prev, seq, strict=True))
            score = lp / bs.brevity_penalty(alpha, n)
            if score > best_score:
                best, best_score = list(seq), score
    return best, best_score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_with_every_hypothesis_kept_is_exhaustive(seed):
    vocab, max_len, alpha = 4, 5, 0.6
    table = _markov_logits(vocab, seed)
    seqs, scores = bs.beam_search(
        lambda t: table[t], lambda rows: None, 1, 64, max_len, alpha=alpha
    )
    best, best_score = _exhaustive_best(table, max_len, alpha)
    got = bs.best_sequences(seqs)[0].tolist()
    assert got[: len(best)] == best and all(t == bs.EOS_ID for t in got[len(best) :])
    assert math.isclose(scores[0, -1].item(), best_score, rel_tol=1e-5)


def test_beam_search_reorders_decoder_state_by_parent_beam():
    """With logits that depend on the whole prefix (through a per-row state the search must
    reorder), each returned score is the replayed log-probability of its own sequence."""
    vocab, max_len, alpha = 6, 7, 0.6
    table, second = _markov_logits(vocab, 3), _markov_logits(vocab, 4)

    def logits(tokens: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        return table[tokens] + second[history % vocab]

    state = {"history": torch.zeros(2 * 3, dtype=torch.long)}

    def step(tokens: torch.Tensor) -> torch.Tensor:
        state["history"] = state["history"] + tokens
        return logits(tokens, state["history"])

    def reorder(rows: torch.Tensor) -> None:
        state["history"] = state["history"][rows]

    seqs, scores = bs.beam_search(step, reorder, 2, 3, max_len, alpha=alpha)
    for b, k in itertools.product(range(2), range(3)):
        seq = seqs[b, k].tolist()
        if scores[b, k] < -1e6 or bs.EOS_ID not in seq[1:]:
            continue
        n = seq[1:].index(bs.EOS_ID) + 1  # tokens up to and including EOS
        history, lp = torch.zeros(1, dtype=torch.long), 0.0
        for t in range(n):
            history = history + seq[t]
            lp += torch.log_softmax(logits(torch.tensor([seq[t]]), history), -1)[0, seq[t + 1]]
        assert math.isclose(scores[b, k].item(), lp / bs.brevity_penalty(alpha, n), rel_tol=1e-5)


# --- BLEU ----------------------------------------------------------------------------------------
def test_bleu_is_sacrebleu_corpus_bleu_as_algoperf():
    # unigram 5/6, bigram 3/5, trigram 2/4, 4-gram 1/3, equal lengths: (1/12) ** (1/4)
    got = corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert math.isclose(got, 100 * (1 / 12) ** 0.25, rel_tol=1e-9)
    assert math.isclose(corpus_bleu(["Hallo, Welt."], ["Hallo, Welt."]), 100.0)


# --- data ----------------------------------------------------------------------------------------
DE = "der die das Haus Katze Hund ist groß klein und nicht schön Straße Bäume über".split()  # noqa: SIM905
EN = "the a house cat dog is big small and not nice street trees over here".split()  # noqa: SIM905


def _sentence(words: list[str], rng: np.random.Generator, n: int | None = None) -> str:
    n = n or int(rng.integers(3, 12))
    return " ".join(rng.choice(words, n)).capitalize() + "."


def _write_sgm(path: Path, lines: list[str], lang: str) -> None:
    segs = "".join(f'<seg id="{i + 1}">{s}</seg>\n' for i, s in enumerate(lines))
    path.write_text(
        f'<srcset setid="newstest2014" srclang="any">\n<doc docid="d1" origlang="{lang}">\n'
        f"{segs}</doc>\n</srcset>\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def wmt_dir(tmp_path_factory) -> Path:
    """WMT17 de-en in the release's layout, tiny: 25 lines in each of the 4 training corpora
    (one pair with an empty English side, one pair of 300 words), newstest2013 (3 lines) and
    newstest2014 (3 segments); the SentencePiece model trained on it with AlgoPerf's recipe at a
    vocabulary of 48."""
    root = tmp_path_factory.mktemp("wmt")
    rng = np.random.default_rng(0)
    for k, (_, german, english, _) in enumerate(wmt.TRAIN_FILES):
        de = [_sentence(DE, rng) for _ in range(25)]
        en = [_sentence(EN, rng) for _ in range(25)]
        if k == 0:
            en[3] = ""  # dropped, as TFDS drops pairs with an empty side
            de[7], en[7] = _sentence(DE, rng, 300), _sentence(EN, rng, 300)  # too long
        for name, lines in ((german, de), (english, en)):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("\n".join(lines), encoding="utf-8")
    (root / "dev").mkdir()
    val = {
        "de": [_sentence(DE, rng) for _ in range(3)],
        "en": [_sentence(EN, rng) for _ in range(3)],
    }
    for lang, lines in val.items():
        (root / f"dev/newstest2013.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _write_sgm(root / wmt.EVAL_FILES["test"][0], [_sentence(DE, rng) for _ in range(3)], "de")
    _write_sgm(root / wmt.EVAL_FILES["test"][1], [_sentence(EN, rng) for _ in range(3)], "en")
    wmt.train_tokenizer(root, vocab_size=48)
    return root


def test_reader_keeps_tfds_semantics(wmt_dir):
    german, english, archive = wmt.split_files("train")[0]
    de, en = wmt.read_pairs(wmt_dir, german, english, archive)
    assert len(de) == len(en) == 24  # 25 lines, one without English
    test = wmt.read_pairs(wmt_dir, *wmt.EVAL_FILES["test"])
    assert len(test[0]) == 3 and test[0][0].endswith(".") and "<seg" not in test[0][0]
    validation = wmt.read_pairs(wmt_dir, *wmt.EVAL_FILES["validation"])
    assert len(validation[1]) == 3  # the file's final newline gives an empty, dropped pair
    sp = wmt.load_tokenizer(wmt_dir)
    assert sp.get_piece_size() == 48 and (sp.unk_id(), sp.eos_id()) == (0, 2)
    ids = wmt.encode(sp, ["Die Katze ist schön.", "Haus."])
    assert len(ids) == 2 and ids[0][-1] == 2 and ids[1][-1] == 2
    assert sp.decode(ids[0].tolist()) == "Die Katze ist schön."


def test_pack_is_algoperfs():
    # The example of AlgoPerf's pack_dataset docstring
    examples = [
        (np.array([8, 7, 1]), np.array([4, 1])),
        (np.array([2, 3, 4, 1]), np.array([5, 6, 1])),
    ]
    got = wmt.pack(examples, 10)
    assert got["inputs"].tolist() == [[8, 7, 1, 2, 3, 4, 1, 0, 0, 0]]
    assert got["inputs_segmentation"].tolist() == [[1, 1, 1, 2, 2, 2, 2, 0, 0, 0]]
    assert got["inputs_position"].tolist() == [[0, 1, 2, 0, 1, 2, 3, 0, 0, 0]]
    assert got["targets"].tolist() == [[4, 1, 5, 6, 1, 0, 0, 0, 0, 0]]
    assert got["targets_segmentation"].tolist() == [[1, 1, 2, 2, 2, 0, 0, 0, 0, 0]]
    assert got["targets_position"].tolist() == [[0, 1, 0, 1, 2, 0, 0, 0, 0, 0]]
    # a new row when either side would overflow; a sequence keeps as many tokens as it has
    # non-zero ones (AlgoPerf's quirk with id 0 inside a sentence)
    examples.append((np.array([9, 0, 5, 1]), np.array([7, 7, 7, 7, 7, 1])))
    got = wmt.pack(examples, 10)
    assert got["inputs"][1].tolist() == [9, 0, 5, 0, 0, 0, 0, 0, 0, 0]
    assert got["inputs_segmentation"][1].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_malformed_input_is_one_line_naming_the_file(wmt_dir, tmp_path):
    with pytest.raises(UserError, match="wmt needs --data-dir"):
        get_workload("wmt", "full").load_data()
    with pytest.raises(UserError, match=r"wmt_sentencepiece_model not found: copy AlgoPerf's"):
        get_workload("wmt", "full", data_dir=tmp_path).load_data()
    (tmp_path / wmt.MODEL_FILE).write_bytes(b"not a model")
    with pytest.raises(UserError, match=r"wmt_sentencepiece_model: not a SentencePiece model"):
        wmt.load_tokenizer(tmp_path)
    (tmp_path / wmt.MODEL_FILE).write_bytes((wmt_dir / wmt.MODEL_FILE).read_bytes())
    with pytest.raises(UserError, match=r"europarl-v7.de-en.de not found: extract "
                       r"training-parallel-europarl-v7.tgz"):  # fmt: skip
        get_workload("wmt", "full", data_dir=tmp_path, cache_dir=tmp_path).load_data()
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    (tmp_path / "a.en").write_text("one\n")
    with pytest.raises(UserError, match=r"a.de has 3 sentences but .*a.en has 2: not a parallel"):
        wmt.read_pairs(tmp_path, "a.de", "a.en", "x.tgz")
    (tmp_path / "a.en").write_bytes(b"one\n\xff\xfe\n")
    with pytest.raises(UserError, match=r"a.en: not UTF-8 text \(byte 4\); extract x.tgz"):
        wmt.read_pairs(tmp_path, "a.de", "a.en", "x.tgz")
    (tmp_path / "b.sgm").write_text("<doc>\nno segments\n</doc>\n")
    with pytest.raises(UserError, match=r'b.sgm: no <seg id="N">'):
        wmt.sentences(tmp_path / "b.sgm", "dev.tgz", tmp_path)


def test_input_pipeline_packs_training_rows_and_pads_eval_rows(wmt_dir, tmp_path):
    workload = get_workload("wmt", "full", data_dir=wmt_dir, cache_dir=tmp_path, test_width=16)
    workload.load_data()
    assert workload.num_train_examples == 99  # 100 lines, one pair without English
    assert len(workload._split("train").kept) == 98  # the 300-word pair is over 256 tokens
    assert (workload.num_validation_examples, workload.num_test_examples) == (3, 3)
    assert workload.num_eval_train_examples == 98  # ceil(3 / 128) * 128, at most kept train
    batch = next(workload._build_input_queue(prng.key(1), "train", None, 4))
    keys = {"inputs", "targets", "weights"} | {
        f"{s}_{k}" for s in ("inputs", "targets") for k in ("position", "segmentation")
    }
    assert set(batch) == keys
    assert all(v.shape == (4, 256) and v.dtype == torch.int64 for v in batch.values())
    assert batch["inputs_segmentation"].max() > 1  # several sentences per row
    assert torch.equal(batch["weights"], (batch["targets"] > 0).long())
    again = next(workload._build_input_queue(prng.key(1), "train", None, 4))
    assert all(torch.equal(batch[k], again[k]) for k in batch)  # deterministic per data seed
    val = next(workload._build_input_queue(prng.key(0), "validation", None, 8))
    assert set(val) == {"inputs", "targets", "weights"} and val["inputs"].shape == (3, 256)
    sp = workload._split("tokenizer")
    raw = wmt.read_pairs(wmt_dir, *wmt.EVAL_FILES["validation"])
    assert decode_tokens(sp, val["targets"][0].numpy()) == raw[1][0]


def test_decode_tokens_cuts_after_the_first_eos_as_algoperf(wmt_dir):
    sp = wmt.load_tokenizer(wmt_dir)
    ids = wmt.encode(sp, ["Haus.", "Katze."])
    row = np.concatenate([ids[0], ids[1], [0, 0]])
    assert decode_tokens(sp, row) == "Haus."
    no_eos = ids[0][:-1]
    assert decode_tokens(sp, no_eos) == sp.decode([int(no_eos[0])])  # the first token only


# --- one step and one evaluation at a reduced (test-only) width ----------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_trains_one_step_and_evaluates(name, wmt_dir, tmp_path, monkeypatch):
    """Every variant trains a step; ``wmt`` then evaluates (beam search cut to 12 positions,
    eval-train to 2 pairs): the variants' decoding is checked above at small size."""
    monkeypatch.setattr(Wmt, "eval_train_size", 2)
    monkeypatch.setattr(Wmt, "max_decode_len", 12)
    workload = get_workload(name, "full", data_dir=wmt_dir, cache_dir=tmp_path, test_width=16)
    workload.load_data()
    model, state, batch, logits = train_forward(workload, 1)
    assert workload._dropout_rate == 0.1  # AlgoPerf's WMT default
    assert logits.shape == (1, 256, 48)  # at a test width: the tokenizer's vocabulary
    loss = workload.loss_fn(batch["targets"], logits, batch["weights"], label_smoothing=0.1)
    assert loss["n_valid_examples"] == batch["weights"].sum()
    sgd_step(model, loss, lr=1e-2)
    assert workload.properties()["test_width"] == 16
    if name != "wmt":
        return
    results = workload.eval_model(64, model, state, prng.key(3))
    assert results["validation/num_examples"] == results["test/num_examples"] == 3
    for split in ("train", "validation", "test"):
        assert 0 <= results[f"{split}/bleu"] <= 100
        assert 0 < results[f"{split}/loss"] < 20 and 0 <= results[f"{split}/accuracy"] <= 1


def test_synthetic_batch_has_training_shapes():
    workload = get_workload("wmt", "full", test_width=16)
    batch = workload.synthetic_batch(3, seed=1)
    assert set(batch) >= {"inputs", "targets", "weights", "inputs_segmentation"}
    assert all(v.shape == (3, 256) and v.dtype == torch.int64 for v in batch.values())
    assert batch["inputs"].min() >= 3 and batch["targets"].max() < 32000
    model, state = workload.init_model_fn(prng.key(0))
    logits, _ = workload.model_fn(model, batch, state, spec.ForwardPassMode.EVAL, None, False)
    assert logits.shape == (3, 256, 32000) and torch.isfinite(logits).all()
