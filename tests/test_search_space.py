"""Search spaces: both AlgoPerf formats, quasi-random points, fixed lists, errors."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optbench import search_space
from optbench.errors import UserError

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1e-2, "scaling": "log"},
    "one_minus_beta1": {"min": 0.02, "max": 0.5, "scaling": "log"},
    "warmup_factor": {"min": 0.0, "max": 0.1, "scaling": "linear"},
    "label_smoothing": {"feasible_points": [0.1, 0.2]},
}


def test_points_are_deterministic_for_a_seed_and_differ_across_seeds():
    space = search_space.parse(SPACE)
    assert space.draw(5, seed=3) == space.draw(5, seed=3)
    assert space.draw(5, seed=3) != space.draw(5, seed=4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), skip=st.integers(0, 50))
def test_points_lie_in_the_declared_ranges(seed, skip):
    space = search_space.parse(SPACE)
    for point in space.draw(5, seed=seed, skip=skip):
        assert space.contains(point)


def test_windows_of_one_sequence_are_distinct_and_consistent():
    space = search_space.parse(SPACE)
    both = space.draw(10, seed=1)
    assert space.draw(5, seed=1, skip=5) == both[5:]  # study 2 continues study 1's sequence
    rates = [p["learning_rate"] for p in both]
    assert len(set(rates)) == 10
    assert space.point(7, seed=1) == both[7]


def test_log_scaling_is_uniform_in_log_space():
    space = search_space.parse(SPACE)
    rates = np.array([p["learning_rate"] for p in space.draw(512, seed=0)])
    # Half the points fall below the geometric middle (1e-3) on a log scale; a linear scale
    # would put about 9% of them there.
    assert abs(np.mean(rates < 1e-3) - 0.5) < 0.03
    logs = np.log10(rates)
    assert logs.min() >= -4 and logs.max() <= -2
    # Each decade holds about half: the quasi-random fill is even.
    assert abs(np.mean(logs < -3.5) - 0.25) < 0.03


def test_feasible_points_are_all_used():
    space = search_space.parse(SPACE)
    assert {p["label_smoothing"] for p in space.draw(16, seed=0)} == {0.1, 0.2}


def test_fixed_point_lists_are_taken_in_order():
    points = [{"learning_rate": 0.1}, {"learning_rate": 0.2}, {"learning_rate": 0.3}]
    space = search_space.parse(points)
    assert space.is_fixed
    assert space.draw(2, seed=9, skip=4) == points[:2]
    assert space.point(2) == points[2]
    with pytest.raises(UserError, match="lists 3 points but 4 trials"):
        space.draw(4)
    with pytest.raises(UserError, match="outside the 3 points"):
        space.point(3)


def test_hyperparameters_namedtuple():
    hp = search_space.as_hyperparameters({"learning_rate": np.float64(0.5), "beta2": 0.9})
    assert hp.learning_rate == 0.5 and type(hp.learning_rate) is float
    assert hp._asdict() == {"beta2": 0.9, "learning_rate": 0.5}


def test_hyperparameters_pickle_and_copy_as_the_same_point():
    hp = search_space.as_hyperparameters({"learning_rate": 0.5, "beta2": 0.9})
    for again in (pickle.loads(pickle.dumps(hp)), copy.deepcopy(hp)):
        assert again == hp and again._asdict() == {"beta2": 0.9, "learning_rate": 0.5}
        assert type(again).__name__ == "Hyperparameters" and again.learning_rate == 0.5


def test_range_endpoints():
    r = search_space.Range(1e-4, 1e-2, log=True)
    assert math.isclose(r.at(0.0), 1e-4) and math.isclose(r.at(0.5), 1e-3)
    assert search_space.Range(0.0, 1.0, log=False).at(0.25) == 0.25


def test_load_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        search_space.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"lr": {"min": 1}}')
    with pytest.raises(UserError, match="needs both 'min' and 'max'"):
        search_space.load(bad)
    bad.write_text('{"lr": {"min": 1, "max": 2, "scaling": "exp"}}')
    with pytest.raises(UserError, match="scaling must be"):
        search_space.load(bad)
