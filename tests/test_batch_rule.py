"""The batch-size rule (optbench.batch_rule): AlgoPerf answers rescaled into the mini regime."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optbench import batch_rule
from optbench.algorithms.batch_sizes import DEFAULT_BATCH_SIZES
from optbench.errors import UserError
from optbench.workloads import workload_class, workloads_at

# optbench's scaled workloads (AlgoPerf's own, size full, answer to their names unscaled).
ALL = sorted(
    n
    for n in workloads_at("mini")
    if n != "fmnist_mlp" and workload_class(n).base_name != "fmnist_mlp"
)


class _Named:
    """What the rule reads of a workload: its names."""

    def __init__(self, name: str) -> None:
        cls = workload_class(name)
        self.name, self.base_name, self.algoperf_name = name, cls.base_name, cls.algoperf_name


def algoperf_nadamw(name: str) -> int:
    """AlgoPerf's NadamW baseline get_batch_size, by its own table (unknown name: ValueError)."""
    if name not in batch_rule.ALGOPERF_NADAMW_BATCH_SIZES:
        raise ValueError(f"Unsupported workload name: {name}.")
    return batch_rule.ALGOPERF_NADAMW_BATCH_SIZES[name]


@pytest.mark.parametrize("name", ALL)
def test_algoperf_nadamw_gets_exactly_the_reference_batch(name):
    choice = batch_rule.choose(_Named(name), algoperf_nadamw)
    base = workload_class(name).base_name or name
    assert choice.used == DEFAULT_BATCH_SIZES[base]
    assert choice.rule == "algoperf-scaled"


def test_a_variant_asks_its_algoperf_variant_name_first():
    asked = []

    def answer(name):
        asked.append(name)
        return algoperf_nadamw(name)

    choice = batch_rule.choose(_Named("fmnist_resnet_silu"), answer)
    assert asked == ["fmnist_resnet_silu", "fmnist_resnet", "imagenet_resnet_silu"]
    # 512 is NadamW's imagenet_resnet_silu batch: the reference 128, not 512 x 128/1024 = 64.
    assert (choice.asked, choice.answer, choice.used) == ("imagenet_resnet_silu", 512, 128)


def test_a_variant_falls_back_to_the_algoperf_base_name():
    choice = batch_rule.choose(_Named("clicks_dlrm_layernorm"), algoperf_nadamw)
    assert (choice.asked, choice.answer, choice.used) == ("criteo1tb", 262_144, 2048)


@given(st.integers(1, 64))
def test_k_times_the_baseline_gets_k_times_the_reference(k):
    choice = batch_rule.choose(_Named("shakespeare_lm"), lambda n: k * algoperf_nadamw(n))
    assert choice.used == k * DEFAULT_BATCH_SIZES["shakespeare_lm"]


def test_native_answers_are_used_as_given():
    choice = batch_rule.choose(_Named("fmnist_vit"), lambda n: 77)
    assert (choice.rule, choice.asked, choice.used) == ("native", "fmnist_vit", 77)


def test_a_batch_larger_than_the_split_is_capped():
    choice = batch_rule.choose(_Named("clicks_dlrm"), lambda n: 10**9, train_size=5000)
    assert (choice.used, choice.capped_at, choice.answer) == (5000, 5000, 10**9)
    assert batch_rule.choose(_Named("clicks_dlrm"), None, given=10**9, train_size=99).used == 99


def test_a_small_answer_never_rounds_to_zero():
    def one_for_criteo(name):
        if name != "criteo1tb":
            raise ValueError(name)
        return 1

    assert batch_rule.choose(_Named("clicks_dlrm"), one_for_criteo).used == 1


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda n: "big", "not a positive int"),
        (lambda n: 0, "not a positive int"),
        (lambda n: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_bad_answers_are_one_line_errors(answer, message):
    with pytest.raises(UserError, match=message):
        batch_rule.choose(_Named("fmnist_vit"), answer)


def test_no_answer_at_all_names_what_was_asked():
    with pytest.raises(UserError, match="fmnist_vit / imagenet_vit; pass --batch-size"):
        batch_rule.choose(_Named("fmnist_vit"), lambda n: {}[n])
