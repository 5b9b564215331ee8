"""``optbench validate`` on a toy pair of known order: NadamW learns, ``frozen`` never moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from optbench.cli import main

FROZEN = """
from optbench.algorithms import nadamw
get_batch_size = nadamw.SUBMISSION.get_batch_size
data_selection = nadamw.SUBMISSION.data_selection

def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    return {}

def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng):
    return optimizer_state, current_param_container, model_state
"""


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validate")
    (tmp / "frozen.py").write_text(FROZEN)
    board = tmp / "board.csv"
    board.write_text("submission,score\nnadamw,0.9\nfrozen,0.1\n")
    exp = tmp / "exp"
    argv = [
        "validate", "nadamw", str(tmp / "frozen.py"), "--leaderboard", str(board),
        "--ruleset", "self", "--workloads", "fmnist_mlp", "--size", "smoke", "--bootstrap", "20",
        "--no-progress", "--experiment-dir", str(exp),
    ]  # fmt: skip
    assert main(argv) == 0
    return tmp, exp, argv


def test_the_known_order_agrees(validated):
    _, exp, _ = validated
    report = (exp / "validation.md").read_text()
    assert "Kendall tau-b: 1.000" in report and "Spearman rho: 1.000" in report
    assert "nadamw < frozen (inf)" in report  # fmnist_mlp: nadamw fastest, frozen never
    assert "<table" in (exp / "validation.html").read_text()


def test_a_reversed_board_disagrees_and_names_the_pair(validated, capsys):
    tmp, exp, argv = validated
    reversed_board = tmp / "reversed.csv"
    reversed_board.write_text("submission,score\nnadamw,0.1\nfrozen,0.9\n")
    argv = [*argv, "--score-only"]
    argv[argv.index("--leaderboard") + 1] = str(reversed_board)
    assert main(argv) == 0
    report = (exp / "validation.md").read_text()
    assert "Kendall tau-b: -1.000" in report
    pairs = report.split("Pairs the mini suite orders differently")[1]
    assert "| frozen | nadamw |" in pairs and "fmnist_mlp" in pairs


def test_resuming_runs_nothing_twice(validated, capsys):
    _, exp, argv = validated
    results = sorted(Path(exp).rglob("result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    assert main(argv) == 0
    assert "2 trials (2 done before)" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in results] == stamps


def test_a_malformed_name_mapping_is_a_one_line_error(validated, capsys):
    _, _, argv = validated
    assert main([*argv, "--name", "nadamw"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "optbench: error: --name 'nadamw': expected OURS=THEIRS"
