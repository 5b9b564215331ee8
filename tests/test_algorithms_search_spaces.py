"""The baselines' search spaces: they parse, match those of AlgoPerf's baselines (or the papers'
advice relative to AlgoPerf's AdamW space), draw reproducible in-range points, and every drawn
point builds an optimizer that takes a finite first step on the smoke workload."""

from __future__ import annotations

import math

import pytest
import torch
from checks import one_torch_thread

from optbench import prng, search_space
from optbench.algorithms import BASELINES
from optbench.algorithms.recipe import SEARCH_SPACES
from optbench.search_space import Choice, Range
from optbench.submission import load_submission
from optbench.workloads import get_workload

# AlgoPerf's baselines: learning rate, 1 - beta1, beta2 (None: not tuned), weight decay.
ALGOPERF_ROWS = {
    "adamw": ((1e-4, 1e-2), (2e-2, 0.5), 0.999, (5e-3, 1.0)),
    "nadamw": ((1e-4, 1e-2), (4e-3, 0.1), 0.999, (5e-3, 1.0)),
    "momentum": ((2e-2, 5.0), (5e-3, 0.3), None, (1e-7, 5e-5)),
    "nesterov": ((2e-2, 5.0), (5e-3, 0.3), None, (1e-7, 5e-5)),
    "lamb": ((1e-4, 1e-2), (0.05, 0.3), 0.999, (1e-3, 1.0)),
    "adafactor": ((1e-4, 1e-2), (0.01, 0.45), None, (1e-3, 1.0)),
    "sam": ((1e-4, 1e-2), (0.05, 0.43), 0.999, (0.01, 0.2)),
    "shampoo": ((1e-4, 1e-2), (0.01, 0.15), 0.999, (5e-3, 1.0)),
}
ADAMW_LR, ADAMW_WD = (1e-4, 1e-2), (5e-3, 1.0)


def space_of(name: str) -> search_space.SearchSpace:
    submission = load_submission(name)
    assert submission.search_space_path is not None, f"{name} ships no search space"
    assert submission.search_space_path.name == f"{name}.json"
    return submission.search_space()


def log_range(space, key) -> tuple[float, float]:
    dim = space.dims[key]
    assert isinstance(dim, Range) and dim.log, f"{key} should be a log-scaled range"
    return dim.low, dim.high


def choices(space, key) -> set:
    dim = space.dims[key]
    assert isinstance(dim, Choice), f"{key} should be a list of feasible points"
    return set(dim.points)


def test_one_search_space_per_baseline():
    shipped = {path.stem for path in SEARCH_SPACES.glob("*.json")}
    assert shipped == set(BASELINES)
    for name in BASELINES:
        assert search_space.load(SEARCH_SPACES / f"{name}.json").dims


@pytest.mark.parametrize("name", sorted(ALGOPERF_ROWS))
def test_algoperf_baselines_use_algoperfs_spaces(name):
    space = space_of(name)
    lr, one_minus_beta1, beta2, wd = ALGOPERF_ROWS[name]
    assert log_range(space, "learning_rate") == pytest.approx(lr)
    assert log_range(space, "one_minus_beta1") == pytest.approx(one_minus_beta1)
    assert log_range(space, "weight_decay") == pytest.approx(wd)
    if beta2 is None:
        assert "beta2" not in space.dims
    else:
        assert choices(space, "beta2") == {beta2}
    assert choices(space, "warmup_factor") == {0.05}
    assert choices(space, "label_smoothing") == {0.1, 0.2}
    assert choices(space, "dropout_rate") == {0.0, 0.1}


def test_algoperf_specific_dimensions():
    assert choices(space_of("sam"), "rho") == {0.01, 0.02, 0.05}
    for name in ("momentum", "nesterov"):
        assert choices(space_of(name), "end_factor") == {1e-3, 1e-2}


def test_literature_baselines_follow_their_papers_relative_to_adamw():
    lion = space_of("lion")  # lr 3-10x below AdamW's, weight decay 3-10x above
    low, high = log_range(lion, "learning_rate")
    assert low == pytest.approx(ADAMW_LR[0] / 10) and high == pytest.approx(ADAMW_LR[1] / 3)
    assert log_range(lion, "weight_decay") == pytest.approx((3 * ADAMW_WD[0], 10 * ADAMW_WD[1]))
    assert choices(lion, "one_minus_beta1") == {0.1} and choices(lion, "beta2") == {0.99}
    adan = space_of("adan")  # lr 5-10x AdamW's, weight decay 0.02
    assert log_range(adan, "learning_rate") == pytest.approx((5 * ADAMW_LR[0], 10 * ADAMW_LR[1]))
    assert choices(adan, "weight_decay") == {0.02}
    assert 0.01 in search_space.Range(*log_range(adan, "one_minus_beta3"), log=True)
    sophia = space_of("sophia")  # half AdamW's lr, twice its weight decay, gamma in [0.01, 0.1]
    assert log_range(sophia, "learning_rate") == pytest.approx(tuple(lr / 2 for lr in ADAMW_LR))
    assert log_range(sophia, "weight_decay") == pytest.approx(tuple(2 * w for w in ADAMW_WD))
    assert log_range(sophia, "gamma") == pytest.approx((0.01, 0.1))
    schedule_free = space_of("schedule_free_adamw")  # lr 1-10x scheduled AdamW's
    assert log_range(schedule_free, "learning_rate") == pytest.approx(
        (ADAMW_LR[0], 10 * ADAMW_LR[1])
    )
    assert choices(schedule_free, "one_minus_beta1") == {0.1, 0.05, 0.02}
    muon = space_of("muon")  # matched-RMS Muon reuses AdamW's lr and weight decay
    assert log_range(muon, "learning_rate") == pytest.approx(ADAMW_LR)
    assert log_range(muon, "weight_decay") == pytest.approx(ADAMW_WD)
    assert choices(muon, "momentum") == {0.95}


@pytest.mark.parametrize("name", BASELINES)
def test_draws_are_reproducible_in_range_and_known_to_the_recipe(name):
    space = space_of(name)
    points = space.draw(5, seed=7, skip=3)
    assert len(points) == 5
    assert all(space.contains(p) for p in points)
    assert points == space.draw(5, seed=7, skip=3)
    later = space.draw(5, seed=7, skip=8)
    assert all(space.contains(p) for p in later)
    assert not any(p in later for p in points)
    if any(isinstance(d, Range) for d in space.dims.values()):
        assert len({tuple(sorted(p.items())) for p in points}) == 5
    defaults = load_submission(name).extras["defaults"]
    assert set(space.dims) <= set(defaults), "a tuned key the recipe would ignore"


@pytest.fixture(scope="module")
def smoke():
    with one_torch_thread():  # a tiny model: a second thread only spins on a shared machine
        workload = get_workload("fmnist_mlp", "smoke")
        workload.load_data()
        queue = workload._build_input_queue(prng.key(0), "train", None, 128)
        yield workload, next(queue)


@pytest.mark.parametrize("name", BASELINES)
def test_every_drawn_point_builds_and_takes_a_finite_step(name, smoke):
    workload, batch = smoke
    submission = load_submission(name)
    for point in submission.search_space().draw(5, seed=0):
        hp = search_space.as_hyperparameters(point)
        model, model_state = workload.init_model_fn(prng.key(1), dropout_rate=hp.dropout_rate)
        state = submission.init_optimizer_state(workload, model, model_state, hp, prng.key(2))
        state, model, _ = submission.update_params(
            workload,
            model,
            workload.model_params_types,
            model_state,
            hp,
            batch,
            workload.loss_type,
            state,
            [],
            0,
            prng.key(3),
        )
        assert all(torch.isfinite(p).all() for p in model.parameters()), point
        assert math.isfinite(state["hp"].learning_rate)
