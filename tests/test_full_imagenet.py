"""The full-size ImageNet workloads (``imagenet_resnet``, ``imagenet_vit`` and their AlgoPerf
variants, size ``full``): AlgoPerf's parameter counts (networks built on the meta device, no
memory), targets and budgets, the batch rule, the data pipeline on a few JPEGs and ImageNet-v2
records that the test writes in the real ``dataset_setup.py`` layout, its one-line errors, and one
training step and one eval batch of every network at reduced width (``reduced=True``)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from algoperf_full import PARAM_COUNTS
from checks import nadamw_two_steps, one_line_error, sgd_step, train_forward
from PIL import Image

from optbench import prng, spec
from optbench.data import imagenet, tfrecord
from optbench.models.imagenet import count_parameters
from optbench.workloads import imagenet_resnet as resnet
from optbench.workloads import imagenet_vit as vit
from optbench.workloads.imagenet.workload import ImageNetWorkload

CLASSES: list[type[ImageNetWorkload]] = [
    resnet.ImageNetResNet,
    resnet.ImageNetResNetSilu,
    resnet.ImageNetResNetGelu,
    resnet.ImageNetResNetLargeBnInit,
    vit.ImageNetViT,
    vit.ImageNetViTGlu,
    vit.ImageNetViTPostLn,
    vit.ImageNetViTMap,
]
BY_NAME = {cls.name: cls for cls in CLASSES}
WNIDS = ["n01440764", "n01443537"]
PER_CLASS = {"train": 3, "val": 1}


pytestmark = pytest.mark.usefixtures("one_thread")


def _jpeg(rng: np.random.Generator, colour: int) -> Image.Image:
    w, h = (int(v) for v in rng.integers(40, 90, size=2))
    pixels = rng.integers(0, 60, size=(h, w, 3)) + np.array([colour, 100, 200 - colour])
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``DATA/imagenet/pytorch`` as dataset_setup.py leaves it, with 2 classes of 3 train and 1
    val JPEG, a leftover class tar, and 2 ImageNet-v2 records; returns ``DATA``."""
    data = tmp_path_factory.mktemp("data")
    root, rng = data / "imagenet" / "pytorch", np.random.default_rng(0)
    for split, count in PER_CLASS.items():
        for label, wnid in enumerate(WNIDS):
            (root / split / wnid).mkdir(parents=True)
            for i in range(count):
                _jpeg(rng, 120 * label).save(root / split / wnid / f"{wnid}_{i}.JPEG")
    (root / "train" / f"{WNIDS[0]}.tar").write_bytes(b"")
    records = []
    for label in range(2):
        encoded = io.BytesIO()
        _jpeg(rng, 120 * label).save(encoded, format="JPEG")
        example = {"image": encoded.getvalue(), "label": label, "file_name": b"a.jpeg"}
        records.append(tfrecord.encode_example(example))
    (root / imagenet.V2_DIR).mkdir(parents=True)
    tfrecord.write_records(
        root / imagenet.V2_DIR / "imagenet_v2-test.tfrecord-00000-of-00001", records
    )
    return data


def _copy(data_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "imagenet" / "pytorch"
    shutil.copytree(data_dir / "imagenet" / "pytorch", root)
    return root


# --- networks, targets, batch sizes (no data) ------------------------------------------------
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_parameter_counts_are_algoperfs(name):
    workload = BY_NAME[name]()
    with torch.device("meta"):
        model = workload._build_model()
    assert count_parameters(model) == PARAM_COUNTS[name]
    workload._model = model
    output = [k for k in workload.param_shapes if workload.is_output_params(k)]
    assert output == (
        ["fc.weight", "fc.bias"] if "resnet" in name else ["head.weight", "head.bias"]
    )
    types = workload.model_params_types
    T = spec.ParameterType
    if "resnet" in name:
        assert types["conv1.weight"] == T.CONV_WEIGHT and types["bn1.weight"] == T.BATCH_NORM_SCALE
        assert types["layer2.0.downsample.bn.bias"] == T.BATCH_NORM_BIAS
    else:
        assert types["encoder.net.0.self_attention1.query.weight"] == T.ATTENTION_Q
        assert types["encoder.net.11.layer_norm2.weight"] == T.LAYER_NORM_SCALE
    if name == "imagenet_vit_map":
        assert types["map.mha.kv_proj.weight"] == T.ATTENTION_KV


# --- data --------------------------------------------------------------------------------------
def test_layout_labels_and_eval_preprocessing(data_dir):
    splits = imagenet.load_splits(data_dir, full=False)  # --data-dir may name a folder above
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    assert train.classes == WNIDS and (len(train), len(validation), len(test)) == (6, 2, 2)
    assert (
        train.labels.tolist() == [0, 0, 0, 1, 1, 1]
        and train.files[3] == b"n01443537/n01443537_0.JPEG"
    )
    assert [test.example(i)[1] for i in range(2)] == [0, 1]
    assert (
        imagenet.load_splits(data_dir / "imagenet" / "pytorch", full=False)["train"].classes
        == WNIDS
    )
    # Resize(256) then CenterCrop(224): a 100x50 image, red left half, blue right half.
    halves = np.zeros((50, 100, 3), np.uint8)
    halves[:, :50, 0], halves[:, 50:, 2] = 255, 255
    crop = imagenet.eval_crop(Image.fromarray(halves))  # resized to 512x256, cropped at x=144
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert (crop[:, :100, 0] > 250).all() and (crop[:, 124:, 2] > 250).all()
    test_crop = imagenet.tf_eval_crop(Image.fromarray(halves))
    assert test_crop.shape == (224, 224, 3) and test_crop.dtype == np.float32


def test_tensorflow_bicubic_weights():
    assert np.allclose(imagenet.tf_bicubic_matrix(7, 7), np.eye(7))
    halving = imagenet.tf_bicubic_matrix(448, 224)
    assert np.allclose(halving.sum(axis=1), 1.0)
    assert np.allclose(halving[1, 1:5], [-0.0625, 0.5625, 0.5625, -0.0625])  # Keys, a = -0.5
    ramp = np.arange(448, dtype=np.float32)
    assert np.allclose((halving @ ramp)[1:-1], 2 * np.arange(224)[1:-1] + 0.5, atol=1e-3)


def test_train_queue_is_an_epoch_per_permutation_and_deterministic(data_dir):
    workload = resnet.ImageNetResNet(data_dir=data_dir, reduced=True)

    def batches(seed: int) -> list[dict[str, torch.Tensor]]:
        queue = workload._build_input_queue(prng.key(seed), "train", None, 2)
        return [next(queue) for _ in range(3)]

    first = batches(1)
    assert first[0]["inputs"].shape == (2, 3, 224, 224) and first[0]["targets"].dtype == torch.int64
    assert sorted(torch.cat([b["targets"] for b in first]).tolist()) == [0, 0, 0, 1, 1, 1]
    again, other = batches(1), batches(2)
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(first, other, strict=True))
    resumed = workload._build_input_queue(prng.key(1), "train", None, 2)
    resumed.skip(2)  # a resumed trial passes over the batches it drew without reading them
    assert torch.equal(next(resumed)["inputs"], first[2]["inputs"])
    mixed = next(
        vit.ImageNetViT(data_dir=data_dir, reduced=True)._build_input_queue(
            prng.key(1), "train", None, 3
        )
    )
    targets = mixed["targets"]
    assert targets.shape == (3, 1000) and torch.allclose(targets.sum(dim=1), torch.ones(3))
    assert (targets[:, 2:] == 0).all()  # mixup of the two classes' one-hot targets


def test_missing_or_malformed_data_is_a_one_line_error(data_dir, tmp_path):
    assert "--data-dir" in one_line_error(imagenet.load_splits, None)
    root = _copy(data_dir, tmp_path)
    assert "dataset_setup.py" in one_line_error(imagenet.load_splits, tmp_path / "nowhere")
    shutil.rmtree(root / imagenet.V2_DIR)
    message = one_line_error(imagenet.load_splits, tmp_path)
    assert str(root / imagenet.V2_DIR) in message and "download_imagenet_v2" in message
    shutil.rmtree(root / "val" / WNIDS[1])
    assert "differ from train's" in one_line_error(imagenet.load_splits, tmp_path)
    for folder in [f for f in (root / "val").iterdir() if f.is_dir()]:  # val not yet sorted
        for jpeg in folder.glob("*"):
            jpeg.rename(root / "val" / jpeg.name)
        folder.rmdir()
    assert "valprep.sh" in one_line_error(imagenet.load_splits, tmp_path)
    bad = data_dir / "imagenet" / "pytorch" / "train" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG"
    broken = root / "train" / WNIDS[0] / bad.name
    broken.write_bytes(bad.read_bytes()[:40])
    split = imagenet.index_folder(root / "train", imagenet.STEP_TRAIN)
    message = one_line_error(split.example, 0)
    assert str(broken) in message and "Extracting imagenet train data" in message
    message = one_line_error(imagenet.load_splits, data_dir, True)  # full: ImageNet's 1,000 synsets
    assert "1000 synsets" in message


def test_truncated_records_are_refused(tmp_path):
    path = tmp_path / "imagenet_v2-test.tfrecord-00000-of-00001"
    tfrecord.write_records(path, [tfrecord.encode_example({"label": 3})] * 2)
    assert len(tfrecord.record_spans(path)) == 2
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(tfrecord.TFRecordError, match="runs past the end"):
        tfrecord.record_spans(path)


# --- one step and one eval batch per network -------------------------------------------------
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_one_training_step_and_eval_at_reduced_width(name, data_dir):
    workload = BY_NAME[name](data_dir=data_dir, reduced=True)
    model, state, batch, logits = train_forward(workload, 2)
    loss = workload.loss_fn(batch["targets"], logits, label_smoothing=0.1)
    assert logits.shape == (2, 1000) and int(loss["n_valid_examples"]) == 2
    sgd_step(model, loss, lr=0.1)
    metrics = workload.eval_model(8, model, state, prng.key(3))
    assert (metrics["validation/num_examples"], metrics["test/num_examples"]) == (2, 2)
    for split in ("train", "validation", "test"):
        assert 0.0 <= metrics[f"{split}/accuracy"] <= 1.0 and np.isfinite(metrics[f"{split}/loss"])


def test_nadamw_trains_through_the_runner(data_dir, tmp_path):
    """The real runner (timing, evals, result files) on the reduced ViT-MAP variant, as the
    mixed soft targets reach the submission's loss."""
    workload = vit.ImageNetViTMap(data_dir=data_dir, reduced=True)
    result = nadamw_two_steps(workload, tmp_path / "trial")
    assert "test/accuracy" in result.eval_rows[-1]


def test_every_randaugment_operation():
    """Each of AlgoPerf's 16 operations at its magnitude keeps a 224x224 RGB image; a few by
    their definition."""
    from optbench.data import randaugment

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8))
    for name, (magnitude, _) in randaugment.OPS.items():
        out = randaugment.apply_op(img, name, magnitude, rng)
        assert (out.size, out.mode) == ((224, 224), "RGB"), name
    pixels = np.asarray(img)

    def op(name: str, magnitude: float) -> np.ndarray:
        return np.asarray(randaugment.apply_op(img, name, magnitude, rng))

    assert np.array_equal(op("Solarize", 256.0), pixels)  # AlgoPerf's threshold: a no-op
    assert np.array_equal(op("Invert", 0.0), 255 - pixels)
    shifted = op("TranslateX", 100.0)  # content moves right, grey fills the left
    assert np.array_equal(shifted[:, 100:], pixels[:, :124]) and (shifted[:, :100] == 128).all()
    sheared = op("ShearX", 0.3)  # about the top-left corner: row 0 stays
    assert np.array_equal(sheared[0], pixels[0])
