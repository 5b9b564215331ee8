"""optbench.agreement: rank agreement with a published board, pinned to hand-computed answers."""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optbench.agreement import (
    compare,
    read_leaderboard_csv,
    read_reference_times_csv,
    to_html,
    to_markdown,
)
from optbench.errors import UserError

INF, NAN = math.inf, math.nan
PUBLISHED = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
SAME = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}
REVERSED = {"a": 0.6, "b": 0.7, "c": 0.8, "d": 0.9}
SWAP = {"a": 0.9, "c": 0.8, "b": 0.7, "d": 0.6}  # b and c swapped: 5 concordant, 1 discordant


def _times() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Mini times (w1..w4), reference times (AlgoPerf names) and the map between them.

    For the pair (b better, c worse): w1 c faster (and on imagenet too); w2 b faster; w3 c finite
    against b's inf (but on wmt c never reached); w4 both inf, a tie.
    """
    mini = pd.DataFrame(
        {
            "w1": [1.0, 10.0, 5.0, INF],
            "w2": [1.0, 2.0, 3.0, 4.0],
            "w3": [2.0, INF, 20.0, 30.0],
            "w4": [1.0, INF, INF, NAN],
        },
        index=list("abcd"),
    )
    reference = pd.DataFrame(
        {"imagenet": [20.0, 100.0, 50.0, INF], "wmt": [1.0, 10.0, INF, 5.0]}, index=list("abcd")
    )
    return mini, reference, {"w1": "imagenet", "w3": "wmt"}


def test_identical_order_agrees_fully() -> None:
    result = compare(SAME, PUBLISHED)
    assert result.submissions == ["a", "b", "c", "d"]
    assert result.kendall_tau == pytest.approx(1.0)
    assert result.spearman_rho == pytest.approx(1.0)
    assert result.disagreeing_pairs.empty
    assert list(result.disagreeing_pairs.columns)[:2] == ["published_better", "published_worse"]
    assert result.notes == []
    assert all(math.isnan(v) for v in result.tau_interval + result.rho_interval)


def test_reversed_order_lists_all_six_pairs() -> None:
    result = compare(REVERSED, PUBLISHED)
    assert result.kendall_tau == pytest.approx(-1.0)
    assert result.spearman_rho == pytest.approx(-1.0)
    pairs = list(
        zip(
            result.disagreeing_pairs.published_better,
            result.disagreeing_pairs.published_worse,
            strict=True,
        )
    )
    assert pairs == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    assert set(result.disagreeing_pairs.workloads_against) == {""}


def test_single_swap_pins_tau_rho_and_the_pair() -> None:
    mini, reference, workload_map = _times()
    result = compare(
        SWAP, PUBLISHED, mini_times=mini, reference_times=reference, workload_map=workload_map
    )
    assert result.submissions == ["a", "b", "c", "d"]  # published order, not mini order
    assert result.kendall_tau == pytest.approx(4 / 6)
    assert result.spearman_rho == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert result.disagreeing_pairs.to_dict("records") == [
        {
            "published_better": "b",
            "published_worse": "c",
            "mini_score_better": 0.7,
            "mini_score_worse": 0.8,
            "workloads_against": "w1, w3",
            "workloads_against_on_algoperf_too": "w1",
        }
    ]


def test_tied_mini_scores_count_as_disagreement() -> None:
    result = compare({"a": 0.5, "b": 0.5, "c": 0.1}, {"a": 3.0, "b": 2.0, "c": 1.0})
    assert list(result.disagreeing_pairs.published_better) == ["a"]
    assert list(result.disagreeing_pairs.published_worse) == ["b"]
    assert result.kendall_tau == pytest.approx(2 / math.sqrt(6))  # tau-b: (2 - 0) / sqrt(2 * 3)


def test_per_workload_tau_and_orders() -> None:
    mini, reference, workload_map = _times()
    table = compare(
        SWAP, PUBLISHED, mini_times=mini, reference_times=reference, workload_map=workload_map
    ).per_workload.set_index("workload")
    assert list(table.index) == ["w1", "w2", "w3", "w4"]
    # w1: d is inf on both sides, so left out; a < c < b on both: tau 1 over 3.
    assert table.loc["w1", "kendall_tau"] == pytest.approx(1.0)
    assert table.loc["w1", "n"] == 3
    assert table.loc["w1", "algoperf_workload"] == "imagenet"
    assert table.loc["w1", "order_mini"] == "a < c < b < d (inf)"
    assert table.loc["w1", "order_algoperf"] == "a < c < b < d (inf)"
    # w3: mini a < c < d < b(inf), wmt a < d < b < c(inf): 4 concordant, 2 discordant.
    assert table.loc["w3", "kendall_tau"] == pytest.approx(1 / 3)
    assert table.loc["w3", "n"] == 4
    assert table.loc["w3", "order_algoperf"] == "a < d < b < c (inf)"
    # w2, w4: no reference. w4: d not run (NaN) is left out, b and c tie at inf.
    assert math.isnan(table.loc["w2", "kendall_tau"])
    assert table.loc["w2", "order_algoperf"] == ""
    assert table.loc["w2", "algoperf_workload"] == ""
    assert table.loc["w4", "order_mini"] == "a < b = c (inf)"
    assert table.loc["w4", "n"] == 1


def test_bootstrap_replicates_equal_to_point_give_a_point_interval() -> None:
    order = ["d", "c", "b", "a"]  # columns in another order than the scores
    replicates = np.tile([SWAP[s] for s in order], (5, 1))
    result = compare(SWAP, PUBLISHED, replicate_scores=replicates, replicate_submissions=order)
    assert result.tau_interval == pytest.approx((4 / 6, 4 / 6))
    assert result.rho_interval == pytest.approx((0.8, 0.8))
    assert result.level == 0.95


def test_bootstrap_half_identical_half_reversed_spans_both_ends() -> None:
    rows = [[SAME[s] for s in "abcd"]] * 5 + [[REVERSED[s] for s in "abcd"]] * 5
    result = compare(SAME, PUBLISHED, replicate_scores=np.array(rows))
    assert result.tau_interval == pytest.approx((-1.0, 1.0))
    assert result.rho_interval == pytest.approx((-1.0, 1.0))


def test_bootstrap_percentiles_interpolate_and_skip_nan_replicates() -> None:
    # Replicate taus -1, 2/3, 1 (the constant row gives NaN and is dropped); at level 0.5 the
    # 25th and 75th percentiles interpolate halfway: (-1 + 2/3) / 2 and (2/3 + 1) / 2.
    rows = [[REVERSED[s] for s in "abcd"], [SWAP[s] for s in "abcd"], [SAME[s] for s in "abcd"]]
    rows.append([0.5] * 4)
    result = compare(SAME, PUBLISHED, replicate_scores=np.array(rows), level=0.5)
    assert result.tau_interval == pytest.approx((-1 / 6, 5 / 6))
    assert result.kendall_tau == pytest.approx(1.0)


def test_bad_replicates_and_level_raise_user_error() -> None:
    with pytest.raises(UserError, match="shape"):
        compare(SAME, PUBLISHED, replicate_scores=np.zeros((3, 2)))
    with pytest.raises(UserError, match="lacks d"):
        compare(SAME, PUBLISHED, replicate_scores=np.zeros((3, 3)), replicate_submissions="abc")
    with pytest.raises(UserError, match="level"):
        compare(SAME, PUBLISHED, level=95)


def test_names_map_optbench_to_published_and_notes_one_sided() -> None:
    mini_scores = {"nadamw_baseline": 0.9, "x": 0.5, "cyclic_lr": 0.3}
    published = {"y": 1.0, "baseline": 10.0, "x": 5.0}
    mini_times = pd.DataFrame({"w": [1.0, 3.0]}, index=["nadamw_baseline", "x"])
    reference = pd.DataFrame({"w": [2.0, 1.0]}, index=["baseline", "x"])
    result = compare(
        mini_scores,
        published,
        names={"nadamw_baseline": "baseline"},
        mini_times=mini_times,
        reference_times=reference,
    )
    assert result.submissions == ["nadamw_baseline", "x"]
    assert result.published == {"nadamw_baseline": 10.0, "x": 5.0}
    assert result.mini_scores == {"nadamw_baseline": 0.9, "x": 0.5}
    assert result.kendall_tau == pytest.approx(1.0)
    assert "cyclic_lr: not on the published board" in result.notes
    assert "y: on the published board, not scored by optbench" in result.notes
    assert "fewer than 3 submissions in common: tau and rho say little" in result.notes
    row = result.per_workload.iloc[0]
    assert row.order_algoperf == "x < nadamw_baseline"
    assert row.kendall_tau == pytest.approx(-1.0)


def test_degenerate_inputs_give_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = compare({s: 0.5 for s in "abcd"}, PUBLISHED)
        single = compare({"a": 0.5}, PUBLISHED)
        nothing = compare({}, PUBLISHED)
    assert math.isnan(constant.kendall_tau) and math.isnan(constant.spearman_rho)
    assert math.isnan(single.kendall_tau) and math.isnan(single.spearman_rho)
    assert nothing.submissions == [] and nothing.per_workload.empty


def test_compare_is_deterministic() -> None:
    mini, reference, workload_map = _times()
    args = {"mini_times": mini, "reference_times": reference, "workload_map": workload_map}
    assert to_markdown(compare(SWAP, PUBLISHED, **args)) == to_markdown(
        compare(SWAP, PUBLISHED, **args)
    )


def _write(tmp_path: Path, text: str, name: str = "board.csv") -> Path:
    """A CSV file with ``text`` under ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_leaderboard_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "rank,submission,score,notes\n1,shampoo,0.78,x\n2, baseline ,0.52,\n")
    assert read_leaderboard_csv(path) == {"shampoo": 0.78, "baseline": 0.52}
    alias = _write(tmp_path, "submission,published_score\na,1.5\n", "alias.csv")
    assert read_leaderboard_csv(str(alias)) == {"a": 1.5}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("submission,points\na,1\n", "'score'"),
        ("name,score\na,1\n", "'submission'"),
        ("submission,score\na,high\n", "finite"),
        ("submission,score\na,inf\n", "finite"),
        ("submission,score\na,\n", "finite"),
        ("submission,score\na,1\nb,2\na,3\n", "twice"),
    ],
)
def test_read_leaderboard_csv_errors_name_the_file(tmp_path: Path, text: str, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UserError, match=words) as caught:
        read_leaderboard_csv(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_read_leaderboard_csv_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(UserError, match="no such file") as caught:
        read_leaderboard_csv(path)
    assert str(path) in str(caught.value)


def test_read_reference_times_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, "submission,imagenet_resnet,wmt\nbaseline,3600.5,inf\nshampoo,,120\n")
    table = read_reference_times_csv(path)
    assert table.index.name == "submission"
    assert list(table.index) == ["baseline", "shampoo"]
    assert list(table.columns) == ["imagenet_resnet", "wmt"]
    assert table.loc["baseline", "imagenet_resnet"] == 3600.5
    assert table.loc["baseline", "wmt"] == INF
    assert math.isnan(table.loc["shampoo", "imagenet_resnet"])
    assert table.dtypes.tolist() == [np.float64, np.float64]


def test_read_reference_times_csv_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none.csv"
    with pytest.raises(UserError, match="no such file") as caught:
        read_reference_times_csv(missing)
    assert str(missing) in str(caught.value)
    path = _write(tmp_path, "name,wmt\na,1\n", "ref.csv")
    with pytest.raises(UserError, match="'submission'") as caught:
        read_reference_times_csv(path)
    assert str(path) in str(caught.value)
    bad = _write(tmp_path, "submission,wmt\na,slow\n", "bad.csv")
    with pytest.raises(UserError, match="is not seconds"):
        read_reference_times_csv(bad)


def test_markdown_and_html_reports() -> None:
    mini, reference, workload_map = _times()
    mini_scores = {"<x>" if s == "d" else s: v for s, v in SWAP.items()}
    published = {"<x>" if s == "d" else s: v for s, v in PUBLISHED.items()}
    result = compare(
        mini_scores,
        published,
        mini_times=mini.rename(index={"d": "<x>"}),
        reference_times=reference.rename(index={"d": "<x>"}),
        workload_map=workload_map,
    )
    markdown = to_markdown(result, title="Mini vs AlgoPerf")
    assert markdown.startswith("## Mini vs AlgoPerf\n")
    assert "Kendall tau-b: 0.667" in markdown and "Spearman rho: 0.800" in markdown
    assert "| 2 | b | 3.000 | c | 0.800 |" in markdown
    assert "| b | c | 0.700 | 0.800 | w1, w3 | w1 |" in markdown
    assert "<x>" in markdown
    page = to_html(result)
    assert page.startswith("<!DOCTYPE html>") and "table-layout:fixed" in page
    assert "0.667" in page and "&lt;x&gt;" in page and "<x>" not in page
    assert all(f"<td>{s}</td>" in page for s in "abc")
    assert "http" not in page  # no external assets


def test_reports_show_intervals() -> None:
    replicates = np.tile(list(SWAP.values()), (3, 1))  # columns default to the scores' order
    result = compare(SWAP, PUBLISHED, replicate_scores=replicates, level=0.9)
    assert "90% bootstrap interval [0.667, 0.667]" in to_markdown(result)
    assert "no bootstrap replicates" in to_markdown(compare(SWAP, PUBLISHED))
