"""``fastmri`` and ``criteo1tb`` at size ``full`` (AlgoPerf's models, data formats, targets):
parameter counts on the meta device, targets, the batch rule, both input pipelines on tiny files
written here in the real formats, malformed input, and one training step and one evaluation of
every model at a reduced, test-only width."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from algoperf_full import PARAM_COUNTS
from checks import meta_network, sgd_step, train_forward
from scipy import ndimage

from optbench import prng, spec
from optbench.data import criteo, fastmri
from optbench.errors import UserError
from optbench.workloads import get_workload
from optbench.workloads.fastmri import structural_similarity

h5py = pytest.importorskip("h5py", reason="pip install 'optbench[mri]'")

FASTMRI = ("fastmri", "fastmri_model_size", "fastmri_tanh", "fastmri_layernorm")
CRITEO = ("criteo1tb", "criteo1tb_layernorm", "criteo1tb_resnet", "criteo1tb_embed_init")


@pytest.mark.parametrize("name", FASTMRI + CRITEO)
def test_full_models_have_algoperf_parameter_counts(name):
    workload, model = meta_network(name, PARAM_COUNTS[name])
    last = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert workload.output_layer == last[-1]
    types = workload.model_params_types
    if name.startswith("criteo"):
        assert types["embedding_chunk_0"] == spec.ParameterType.EMBEDDING
        assert model.embedding_chunk_3.shape == (1_048_576, 128)
    else:
        assert types["up_transpose_conv.0.layers.0.weight"] == spec.ParameterType.CONV_WEIGHT


def test_targets_point_the_right_way():
    assert get_workload("fastmri", "full").has_reached_validation_target({"validation/ssim": 0.73})
    assert not get_workload("criteo1tb", "full").has_reached_validation_target(
        {"validation/loss": 0.124}
    )


# --- Criteo ------------------------------------------------------------------------------------
def _fingerprint64_reference(s: bytes) -> int:
    """FarmHash Fingerprint64 for 8-16 bytes in plain Python integers (the vectorised one's
    reference)."""
    mask, k2 = 2**64 - 1, 0x9AE16A3B2F90404F

    def rot(v: int, r: int) -> int:
        return ((v >> r) | (v << (64 - r))) & mask

    def h16(u: int, v: int, mul: int) -> int:
        a = ((u ^ v) * mul) & mask
        a ^= a >> 47
        b = ((v ^ a) * mul) & mask
        b ^= b >> 47
        return (b * mul) & mask

    mul = (k2 + 2 * len(s)) & mask
    a = (int.from_bytes(s[:8], "little") + k2) & mask
    b = int.from_bytes(s[-8:], "little")
    return h16((rot(b, 37) * mul + a) & mask, ((rot(a, 25) + b) * mul) & mask, mul)


def test_fingerprint64_matches_farmhash_and_tensorflow():
    vectors = {  # FarmHash's published Fingerprint64 values
        b"abcdefgh": 0xFEE9D22990C82909,
        b"abcdefghi": 0x332C8ED4DAE5BA42,
        b"0123456789": 0xAD052244B781C4EB,
        b"0123456789@0123": 0x5361EAE17C1FF6BC,
        b"0123456789'01234": 0x4283D4EF43627F64,
    }
    for s, expected in vectors.items():
        got = criteo.fingerprint64(np.frombuffer(s, np.uint8)[None])[0]
        assert int(got) == expected == _fingerprint64_reference(s)
    # tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3) == [0, 2, 2] (its docs)
    assert int(criteo.fingerprint64(np.frombuffer(b"TensorFlow", np.uint8)[None])[0] % 3) == 2


def _criteo_line(rng: np.random.Generator) -> str:
    label = str(int(rng.random() < 0.3))
    counts = ["" if rng.random() < 0.2 else str(int(rng.integers(-3, 5000))) for _ in range(13)]
    ids = ["" if rng.random() < 0.1 else f"{int(rng.integers(0, 2**32)):08x}" for _ in range(26)]
    return "\t".join([label, *counts, *ids]) + "\n"


def _expected_row(line: str) -> tuple[np.ndarray, float]:
    """AlgoPerf's preprocessing of one line, written out field by field."""
    fields = line.rstrip("\n").split("\t")
    dense = [np.log(np.float32(max(float(x or 0), 0.0)) + np.float32(1)) for x in fields[1:14]]
    ids = []
    for i, s in enumerate(fields[14:]):
        bucket = _fingerprint64_reference(((s or "00000000") + str(i)).encode())
        ids.append(np.float32(bucket % criteo.VOCAB_SIZES[i]))
    return np.array(dense + ids, dtype=np.float32), float(fields[0])


@pytest.fixture(scope="module")
def criteo_dir(tmp_path_factory) -> Path:
    """Criteo 1TB in AlgoPerf's layout, tiny: day_0_00, day_0_01, day_1_00 (train, 40 lines
    each) and day_23_00 ... day_23_35 (4 lines each; the last without a final newline)."""
    root = tmp_path_factory.mktemp("criteo")
    rng = np.random.default_rng(0)
    names = ["day_0_00", "day_0_01", "day_1_00"] + [f"day_23_{i:02d}" for i in range(36)]
    for name in names:
        n = 40 if name.startswith(("day_0", "day_1")) else 4
        text = "".join(_criteo_line(rng) for _ in range(n))
        (root / name).write_text(text[:-1] if name == "day_23_35" else text)
    return root


def test_criteo_reader_matches_algoperf_preprocessing(criteo_dir):
    text = (criteo_dir / "day_0_00").read_text()
    inputs, targets = criteo.parse_lines(text.encode(), criteo_dir / "day_0_00")
    for i, line in enumerate(text.splitlines(keepends=True)):
        row, label = _expected_row(line)
        np.testing.assert_array_equal(inputs[i], row)
        assert targets[i] == label
    files = criteo.split_files(criteo_dir, "validation")
    assert [f.name for f in files] == [f"day_23_{i}" for i in range(19, 36)]
    assert criteo.count_lines(files, criteo_dir / "cache") == 17 * 4
    sizes = [len(y) for _, y in criteo.batches(files, 16, drop_last=False)]
    assert sizes == [16, 16, 16, 16, 4]


def test_criteo_malformed_input_is_one_line_naming_the_file(criteo_dir, tmp_path):
    bad = tmp_path / "day_0_00"
    good = (criteo_dir / "day_0_00").read_text().splitlines(keepends=True)
    bad.write_text("".join(good[:2]) + good[2].replace("\t", " ", 1) + "".join(good[3:]))
    with pytest.raises(UserError, match=r"day_0_00: line 3 has not 40 tab-separated fields"):
        list(criteo.read_file(bad))
    bad.write_text(good[0].replace("\t", "\t7\t", 1))  # a count where the label was
    with pytest.raises(UserError, match="line 1"):
        list(criteo.read_file(bad))
    with pytest.raises(UserError, match=r"day_23_00 not found: make it with AlgoPerf's"):
        get_workload("criteo1tb", "full", data_dir=tmp_path).load_data()
    with pytest.raises(UserError, match="needs --data-dir"):
        get_workload("criteo1tb", "full").load_data()


# --- fastMRI -----------------------------------------------------------------------------------
def _write_volume(path: Path, widths: int, slices: int, rng: np.random.Generator) -> None:
    """One single-coil knee volume in fastMRI's format: k-space of a smooth complex image,
    its 320 x 320 magnitude crop as ``reconstruction_esc``, the attribute ``max``."""
    yy, xx = np.mgrid[:640, :widths] / np.array([640, widths])[:, None, None]
    kspace, targets = [], []
    for _ in range(slices):
        phase = rng.uniform(0, 2 * np.pi)
        image = (np.sin(6 * yy + phase) + np.cos(9 * xx)) * np.exp(1j * (yy + phase)) + 2
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image), norm="ortho"))
        kspace.append(k.astype(np.complex64))
        left = (widths - 320) // 2
        targets.append(np.abs(image[160:480, left : left + 320]).astype(np.float32))
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=np.stack(kspace))
        f.create_dataset("reconstruction_esc", data=np.stack(targets))
        f.create_dataset("ismrmrd_header", data=b"<ismrmrdHeader/>")
        f.attrs.update({"max": float(np.max(targets)), "norm": 1.0, "acquisition": "CORPD_FBK"})


@pytest.fixture(scope="module")
def fastmri_dir(tmp_path_factory) -> Path:
    """fastMRI in AlgoPerf's layout, tiny: 2 training volumes (1 slice of width 368, 1 of 372)
    and 2 validation volumes of 1 slice (the first is validation, the other test, with the
    validation cut moved from 100 volumes to 1)."""
    root = tmp_path_factory.mktemp("fastmri")
    rng = np.random.default_rng(0)
    (root / fastmri.TRAIN_DIR).mkdir()
    (root / fastmri.VAL_DIR).mkdir()
    _write_volume(root / fastmri.TRAIN_DIR / "file1000001.h5", 368, 1, rng)
    _write_volume(root / fastmri.TRAIN_DIR / "file1000002.h5", 372, 1, rng)
    _write_volume(root / fastmri.VAL_DIR / "file1000003.h5", 368, 1, rng)
    _write_volume(root / fastmri.VAL_DIR / "file1000004.h5", 368, 1, rng)
    return root


@pytest.fixture
def one_validation_volume(monkeypatch):
    monkeypatch.setattr(fastmri, "NUM_VALIDATION_VOLUMES", 1)


def test_fastmri_mask_is_algoperfs():
    width = 368  # 29 central columns (int(368 * 0.08)) from column (368 - 29 + 1) // 2 = 170
    only_centre = fastmri.column_mask(width, np.ones(width))
    assert np.flatnonzero(only_centre).tolist() == list(range(170, 199))
    assert fastmri.column_mask(width, np.zeros(width)).all()
    masks = np.stack([fastmri.example_mask(width, 5, i) for i in range(400)])
    assert abs(width / masks.sum(axis=1).mean() - 4.0) < 0.1  # 4x acceleration on average
    assert np.array_equal(fastmri.example_mask(width, 5, 3), masks[3])  # fixed per example
    eval_mask = fastmri.example_mask(width, None, 0)
    assert np.array_equal(eval_mask, fastmri.example_mask(width, None, 9))  # shared by all


def test_fastmri_slices_preprocessed_as_algoperf(fastmri_dir, one_validation_volume):
    files = fastmri.split_files(fastmri_dir, "train")
    reader = fastmri.SliceReader([fastmri.read_volume(p) for p in files])
    assert len(reader) == 2 and fastmri.split_files(fastmri_dir, "test")[0].name == "file1000004.h5"
    batch = fastmri.load_batch(reader, [1, 0], seed=7, device=torch.device("cpu"))
    # AlgoPerf's _process_example for slice 1 (width 372), in numpy:
    kspace, target, volume_max, width = reader.read(1)
    masked = kspace * fastmri.example_mask(width, 7, 1)[None, :]
    image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(masked), norm="ortho"))
    image = np.abs(image[160:480, 26:346])
    mean, std = image.mean(), image.std()
    np.testing.assert_allclose(batch["mean"][0], mean, rtol=1e-4)
    np.testing.assert_allclose(batch["std"][0], std, rtol=1e-4)
    norm = lambda x: np.clip((x - mean) / std, -6, 6)  # noqa: E731
    np.testing.assert_allclose(batch["inputs"][0], norm(image), atol=1e-4)
    np.testing.assert_allclose(batch["targets"][0], norm(target), atol=1e-4)
    assert batch["volume_max"][0] == volume_max and batch["inputs"].shape == (2, 320, 320)


def test_ssim_is_skimage_style_mean_over_interior_windows():
    rng = np.random.default_rng(1)
    x, y = rng.random((2, 40, 40)), rng.random((2, 40, 40))
    got = structural_similarity(torch.tensor(x), torch.tensor(y), torch.tensor([1.0, 2.0]))
    for i, data_range in enumerate((1.0, 2.0)):  # AlgoPerf: symmetric-padded filter, 3 px cut
        f = lambda t: ndimage.uniform_filter(t, 7, mode="reflect")  # noqa: E731
        ux, uy = f(x[i]), f(y[i])
        vx, vy = (f(x[i] ** 2) - ux**2) * 49 / 48, (f(y[i] ** 2) - uy**2) * 49 / 48
        vxy = (f(x[i] * y[i]) - ux * uy) * 49 / 48
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        assert math.isclose(got[i].item(), s[3:-3, 3:-3].mean(), rel_tol=1e-6)


def test_fastmri_malformed_input_is_one_line_naming_the_file(tmp_path):
    (tmp_path / fastmri.TRAIN_DIR).mkdir()
    with pytest.raises(UserError, match=r"knee_singlecoil_val not found: make it with AlgoPerf's"):
        get_workload("fastmri", "full", data_dir=tmp_path).load_data()
    bad = tmp_path / "file1.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 64, 40), np.complex64))
        f.create_dataset("reconstruction_esc", data=np.zeros((1, 320, 320), np.float32))
    with pytest.raises(UserError, match=r"file1.h5: kspace is \(1, 64, 40\)"):
        fastmri.read_volume(bad)
    bad.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match=r"file1\.h5: unreadable as HDF5"):
        fastmri.read_volume(bad)


# --- one step and one evaluation of every model, at a reduced (test-only) width ----------------
def _one_step_and_eval(workload, batch_size: int) -> dict[str, float]:
    workload.load_data()
    model, state, batch, logits = train_forward(workload, batch_size)
    sgd_step(model, workload.loss_fn(batch["targets"], logits), lr=1e-3)
    return workload.eval_model(64, model, state, prng.key(3))


@pytest.mark.parametrize("name", FASTMRI)
def test_fastmri_trains_one_step_and_evaluates(name, fastmri_dir, one_validation_volume):
    workload = get_workload(name, "full", data_dir=fastmri_dir, test_width=1)
    results = _one_step_and_eval(workload, batch_size=2)
    assert workload.num_train_examples == 2 and results["validation/num_examples"] == 1
    assert workload.num_eval_train_examples == 2  # ceil(1 / 256) * 256, at most train
    for key in ("train/ssim", "validation/ssim", "test/ssim", "validation/loss"):
        assert math.isfinite(results[key]) and -1 <= results[key] <= 10, (key, results)
    assert workload.properties()["test_width"] == 1


@pytest.mark.parametrize("name", CRITEO)
def test_criteo_trains_one_step_and_evaluates(name, criteo_dir, tmp_path):
    workload = get_workload(name, "full", data_dir=criteo_dir, cache_dir=tmp_path, test_width=4)
    results = _one_step_and_eval(workload, batch_size=32)
    assert workload.num_train_examples == 120 and workload.num_test_examples == 19 * 4
    assert results["validation/num_examples"] == 17 * 4
    assert workload.num_eval_train_examples == 120  # 68 rounded up to 8,192, at most train
    for key in ("train/loss", "validation/loss", "test/loss"):
        assert 0 < results[key] < 10, (key, results)
    assert workload.data_provenance["train_days"] == [0, 1]
