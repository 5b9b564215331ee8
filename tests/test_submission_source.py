"""describe(): a submission's identity read from files, its code imported only when called."""

from __future__ import annotations

import sys

import pytest

from optbench.errors import UserError
from optbench.submission import load_submission
from optbench.submission_source import describe

NOISY = (
    "import os\nos.environ['OPTBENCH_IMPORTED'] = '1'\n"
    "from optbench.algorithms.nadamw import SUBMISSION as S\n"
    "get_batch_size = S.get_batch_size\ninit_optimizer_state = S.init_optimizer_state\n"
    "update_params = S.update_params\ndata_selection = S.data_selection\n"
)


def test_a_file_is_described_without_running_it(tmp_path, monkeypatch):
    monkeypatch.delenv("OPTBENCH_IMPORTED", raising=False)
    file = tmp_path / "mine.py"
    file.write_text(NOISY)
    source = describe(str(file))
    assert (source.name, source.source) == ("mine", str(file.resolve()))
    assert "OPTBENCH_IMPORTED" not in __import__("os").environ
    loaded = source()
    assert __import__("os").environ["OPTBENCH_IMPORTED"] == "1"
    assert (loaded.name, loaded.digest) == ("mine", source.digest)
    assert source.digest == load_submission(str(file)).digest


def test_a_folder_is_named_after_itself_and_finds_its_search_space(tmp_path):
    folder = tmp_path / "my_algo"
    folder.mkdir()
    (folder / "submission.py").write_text(NOISY)
    (folder / "tuning_search_space.json").write_text('{"learning_rate": {"feasible_points": [1]}}')
    source = describe(str(folder))
    assert source.name == "my_algo"
    assert source.search_space_path == folder / "tuning_search_space.json"
    assert source.search_space() is not None


def test_a_baseline_carries_its_self_tuning_point():
    source = describe("nadamw")
    assert source.name == "nadamw"
    assert source.extras["defaults"]["learning_rate"] > 0
    assert source().name == "nadamw"


def test_a_dotted_module_is_found_on_the_import_root(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "algo.py").write_text(NOISY)
    try:
        source = describe("pkg.algo", import_root=tmp_path)
        assert (source.name, source.source) == ("algo", str((package / "algo.py").resolve()))
    finally:
        sys.path[:] = [p for p in sys.path if p != str(tmp_path)]


@pytest.mark.parametrize(
    "given, message",
    [
        ("no_such_baseline", "unknown submission 'no_such_baseline'"),
        ("missing/file.py", "submission file or folder not found"),
    ],
)
def test_unknown_submissions_are_one_line_errors(given, message):
    with pytest.raises(UserError, match=message):
        describe(given)


def test_a_missing_import_root_is_an_error(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        describe("nadamw", import_root=tmp_path / "nowhere")
