"""Fashion-MNIST: IDX parsing, checksums, sources in order, the download path, the cache."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from optbench.data import fashion_mnist
from optbench.errors import UserError

pytestmark = pytest.mark.skipif(
    not fashion_mnist.DEBIAN_DIR.exists(), reason="needs Debian's dataset-fashion-mnist"
)


def test_parse_idx_roundtrip():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], ">u4").tobytes() + array.tobytes()
    np.testing.assert_array_equal(fashion_mnist.parse_idx(raw), array)
    with pytest.raises(ValueError):
        fashion_mnist.parse_idx(raw[:-1])


def test_load_split_sizes_and_provenance(tmp_path):
    arrays, meta = fashion_mnist.load(cache_dir=tmp_path)
    assert {k: v.shape for k, v in arrays.items()} == {
        "train_x": (55_000, 28, 28),
        "train_y": (55_000,),
        "validation_x": (5_000, 28, 28),
        "validation_y": (5_000,),
        "test_x": (10_000, 28, 28),
        "test_y": (10_000,),
    }
    assert meta["synthetic"] is False and meta["source"] == str(fashion_mnist.DEBIAN_DIR)
    # Class balance of the official test set: 1,000 images per class.
    assert np.bincount(arrays["test_y"]).tolist() == [1000] * 10
    again, meta2 = fashion_mnist.load(cache_dir=tmp_path)  # from the cache, same checksum
    assert meta2["sha256"] == meta["sha256"]
    np.testing.assert_array_equal(again["validation_y"], arrays["validation_y"])


def test_corrupt_cache_is_prepared_again(tmp_path):
    _, meta = fashion_mnist.load(cache_dir=tmp_path)
    (tmp_path / "fashion_mnist_v1.npz").write_bytes(b"garbage")
    _, meta2 = fashion_mnist.load(cache_dir=tmp_path)
    assert meta2["sha256"] == meta["sha256"]


def test_download_from_a_local_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(fashion_mnist.DEBIAN_DIR, mirror)
    dest = fashion_mnist.download(tmp_path / "dl", base_url=mirror.as_uri() + "/")
    assert sorted(p.name for p in dest.iterdir()) == sorted(fashion_mnist.FILES)


def test_download_rejects_a_corrupt_file(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(fashion_mnist.DEBIAN_DIR, mirror)
    (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01tampered"))
    with pytest.raises(UserError, match="checksum mismatch"):
        fashion_mnist.download(tmp_path / "dl", base_url=mirror.as_uri() + "/")
    assert not (tmp_path / "dl" / "t10k-labels-idx1-ubyte.gz").exists()


def test_no_source_gives_a_one_line_how_to(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "absent")
    with pytest.raises(UserError) as info:
        fashion_mnist.load(cache_dir=tmp_path / "cache")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "\n" not in str(info.value)


def test_user_directory_must_hold_the_files(tmp_path):
    with pytest.raises(UserError, match="does not hold the Fashion-MNIST files"):
        fashion_mnist.load(data_dir=tmp_path, cache_dir=tmp_path / "cache")
