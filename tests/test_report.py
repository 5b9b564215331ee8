"""The HTML report: one self-contained file with the leaderboard, figures and failures."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optbench import scoring
from optbench.cli import main
from optbench.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _trial(root: Path, sub: str, study: int, wl: str, trial: int, values, status="completed"):
    folder = root / sub / f"study_{study}" / f"{wl}_pytorch" / f"trial_{trial}"
    folder.mkdir(parents=True)
    times = 30.0 * np.arange(1, len(values) + 1)
    pd.DataFrame(
        {
            "accumulated_submission_time": times,
            "global_step": np.arange(1, len(values) + 1) * 50,
            "score": times,
            "validation/accuracy": values,
            "validation/loss": 1.0 - np.asarray(values),
        }
    ).to_csv(folder / "eval_measurements.csv", index=False)
    workload = {
        "name": wl,
        "base_workload": None,
        "held_out": False,
        "target_metric_name": "accuracy",
        "validation_target_value": 0.8,
        "test_target_value": 0.79,
        "metric_higher_is_better": True,
        "max_allowed_runtime_sec": 600.0,
        "step_hint": 500,
    }
    (folder / "meta_data.json").write_text(
        json.dumps({"workload": workload, "submission": sub, "seed": study})
    )
    result = {"status": status, "reason": "loss became NaN" if status == "failed" else ""}
    (folder / "result.json").write_text(json.dumps(result))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "exp"
    for study in range(3):
        for wl in ("fmnist_mlp", "cifar_cnn"):
            _trial(root, "nadamw", study, wl, 1, [0.3, 0.6, 0.82, 0.9])
            _trial(root, "sgd<b>", study, wl, 1, [0.2, 0.5, 0.7, 0.75, 0.81 + 0.01 * study])
    _trial(root, "sgd<b>", 0, "cifar_cnn", 2, [0.1, 0.1], status="failed")
    return root


@pytest.fixture(scope="module")
def board(experiment: Path) -> scoring.Leaderboard:
    return scoring.score_experiment(experiment, baseline="nadamw", n_bootstrap=50)


@pytest.fixture(scope="module")
def report_file(board, tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("out")
    return write_report(board, out_dir / "report.html")


def _images(text: str) -> list[bytes]:
    return [
        base64.b64decode(m)
        for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    ]


def test_report_is_one_self_contained_file(board, report_file: Path) -> None:
    assert [p.name for p in report_file.parent.iterdir()] == ["report.html"]
    text = report_file.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # leaderboard names (escaped), scores and the failed trial
    assert "nadamw" in text and "sgd&lt;b&gt;" in text and "sgd<b>" not in text
    assert "1.0000" in text and f"{board.scores.at['sgd<b>', 'score']:.4f}" in text
    assert "loss became NaN" in text
    # profile, time bars, one curve figure per workload: all inline PNGs
    images = _images(text)
    assert len(images) == 4
    assert all(image.startswith(PNG_MAGIC) for image in images)
    # nothing fetched from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)
    assert not re.search(r"<(script|link|iframe)\b", text, re.IGNORECASE)
    assert "url(" not in text


def test_report_times_and_speedups(board, report_file: Path) -> None:
    # nadamw reaches 0.8 at its third eval (90 s), sgd<b> at its fifth (150 s) in every study
    assert board.times.loc["nadamw"].tolist() == [90.0, 90.0]
    assert board.times.loc["sgd<b>"].tolist() == [150.0, 150.0]
    assert board.scores.at["sgd<b>", "speedup"] == pytest.approx(0.6)
    text = report_file.read_text(encoding="utf-8")
    assert "0.600x" in text and "90.0" in text and "150.0" in text


def test_report_command(experiment: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(experiment), "-o", str(out), "--bootstrap", "10"]) == 0
    assert out.is_file() and f"wrote {out}" in capsys.readouterr().out
    assert len(_images(out.read_text(encoding="utf-8"))) == 4


def test_tables_scroll_in_their_own_box_and_names_wrap(report_file: Path) -> None:
    """A wide table must not widen the page (checked at 1,300 px in a browser): every table
    sits in a scrolling box, and long names may break after their underscores."""
    text = report_file.read_text(encoding="utf-8")
    tables = text.count("<table>")
    assert tables >= 4 and text.count('<div class="table"><table>') == tables
    assert ".table { overflow-x: auto" in text
    assert "fmnist_<wbr>mlp" in text and "cifar_<wbr>cnn" in text


def test_report_lists_flagged_trials(experiment: Path, tmp_path: Path) -> None:
    folder = experiment / "nadamw" / "study_1" / "fmnist_mlp_pytorch" / "trial_1"
    result = json.loads((folder / "result.json").read_text())
    flagged = tmp_path / "exp"
    shutil.copytree(experiment, flagged)
    copy = flagged / folder.relative_to(experiment) / "result.json"
    copy.write_text(json.dumps({**result, "flags": ["slow machine: probe <80> GFLOP/s"]}))
    board = scoring.score_experiment(flagged, n_bootstrap=0)
    assert board.flags["flag"].tolist() == ["slow machine: probe <80> GFLOP/s"]
    text = write_report(board, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h2>Flagged trials</h2>" in text
    assert "slow machine: probe &lt;80&gt; GFLOP/s" in text and "--strict" in text
