"""Loading submissions as AlgoPerf does, and telling two sources of one name apart."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from optbench.cli import main
from optbench.errors import UserError
from optbench.runner import run_trial
from optbench.submission import load_submission
from optbench.workloads import get_workload

SMOKE = ["--workload", "fmnist_mlp", "--size", "smoke", "--no-progress", "--max-steps", "3"]

# An AlgoPerf-style submission whose optimizer comes from a helper module of its own folder.
HELPERS = """
import torch

def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.01)
"""
SUBMISSION = """
import torch
from algoperf import spec
{import_line}

def get_batch_size(workload_name):
    if workload_name == "mnist":
        return 16
    raise ValueError(workload_name)

def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
    {lazy}
    return {{"optimizer": make_optimizer(model_params)}}

def update_params(workload, current_param_container, current_params_types, model_state,
                  hyperparameters, batch, loss_type, optimizer_state, eval_results, global_step,
                  rng):
    model = current_param_container
    model.train()
    optimizer_state["optimizer"].zero_grad()
    logits, model_state = workload.model_fn(
        model, batch, model_state, spec.ForwardPassMode.TRAIN, rng, update_batch_norm=True)
    loss = workload.loss_fn(batch["targets"], logits)
    (loss["summed"] / loss["n_valid_examples"]).backward()
    optimizer_state["optimizer"].step()
    return optimizer_state, model, model_state

def data_selection(workload, input_queue, optimizer_state, current_param_container, model_state,
                   hyperparameters, global_step, rng):
    return next(input_queue)
"""


def _write(folder: Path, import_line: str, lazy: str = "pass", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helpers.py").write_text(HELPERS + extra)
    (folder / "submission.py").write_text(SUBMISSION.format(import_line=import_line, lazy=lazy))
    return folder


def _meta(exp: Path) -> dict:
    return json.loads(next(exp.rglob("meta_data.json")).read_text())


def test_a_folder_with_relative_imports_runs(tmp_path, capsys):
    folder = _write(tmp_path / "my_algo", "from .helpers import make_optimizer")
    exp = tmp_path / "exp"
    assert main(["run", "--submission", str(folder), *SMOKE, "--experiment-dir", str(exp)]) == 0
    assert (exp / "my_algo").is_dir()  # named after its folder, not "submission"
    meta = _meta(exp)
    assert meta["batch_size_choice"] == {
        "used": 128, "rule": "algoperf-scaled", "asked": "mnist", "answer": 16,
        "scale": 8.0, "capped_at": None,
    }  # fmt: skip


def test_an_absolute_import_by_checkout_path_runs_with_import_root(tmp_path):
    root = tmp_path / "checkout"
    folder = _write(
        root / "subs" / "team_1" / "algo", "from subs.team_1.algo.helpers import make_optimizer"
    )
    workload = get_workload("fmnist_mlp", "smoke")
    for given in (str(folder / "submission.py"), "subs.team_1.algo.submission"):
        submission = load_submission(given, import_root=root)
        assert submission.name == "algo"
        result = run_trial(workload, submission, max_steps=2, probe_speed=False)
        assert result.status == "completed", result.failure


def test_without_the_import_root_the_error_says_to_pass_it(tmp_path):
    folder = _write(
        tmp_path / "subs" / "algo", "from submissions.x.algo.helpers import make_optimizer"
    )
    with pytest.raises(UserError, match="--import-root"):
        load_submission(str(folder))


def test_imports_made_later_inside_functions_still_find_the_folder(tmp_path):
    folder = _write(tmp_path / "lazy_algo", "", lazy="from helpers import make_optimizer")
    submission = load_submission(str(folder))
    result = run_trial(
        get_workload("fmnist_mlp", "smoke"), submission, max_steps=2, probe_speed=False
    )
    assert result.status == "completed", result.failure


def test_a_folder_needs_submission_py_or_a_single_module(tmp_path):
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "a.py").write_text("")
    (tmp_path / "two" / "b.py").write_text("")
    with pytest.raises(UserError, match=r"holds no submission\.py and 2 other modules"):
        load_submission(str(tmp_path / "two"))
    single = tmp_path / "single"
    single.mkdir()
    (single / "only.py").write_text(
        SUBMISSION.format(
            import_line="from torch.optim import SGD",
            lazy="make_optimizer = lambda m: SGD(m.parameters(), lr=0.1)",
        )
    )
    assert load_submission(str(single)).name == "single"


def test_a_missing_algoperf_extra_names_the_install(tmp_path):
    if importlib.util.find_spec("optax") is not None:
        pytest.skip("optax is installed")
    path = tmp_path / "uses_optax.py"
    path.write_text("import optax\n")
    with pytest.raises(UserError, match=r"pip install 'optbench\[algoperf\]'"):
        load_submission(str(path))


def test_sys_exit_at_import_is_an_error(tmp_path):
    path = tmp_path / "quits.py"
    path.write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(UserError, match=r"called sys.exit\(0\) while importing"):
        load_submission(str(path))


def test_a_raising_init_optimizer_state_is_a_recorded_failed_trial(tmp_path):
    folder = _write(tmp_path / "raises", "", lazy="raise RuntimeError('no optimizer today')")
    result = run_trial(
        get_workload("fmnist_mlp", "smoke"),
        load_submission(str(folder)),
        trial_dir=tmp_path / "t",
        probe_speed=False,
    )
    assert (result.status, result.stop_reason) == ("failed", "error")
    recorded = json.loads((tmp_path / "t" / "result.json").read_text())
    assert recorded["failure"].startswith("init_optimizer_state raised RuntimeError: no optimizer")


def test_a_submission_needing_cuda_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    folder = _write(tmp_path / "cuda_algo", "", lazy="torch.zeros(1, device='cuda')")
    result = run_trial(
        get_workload("fmnist_mlp", "smoke"), load_submission(str(folder)), probe_speed=False
    )
    assert result.failure.splitlines()[0].startswith(
        "the submission needs CUDA, which this machine lacks"
    )


def _tune(folder: Path, exp: Path) -> int:
    return main(
        ["tune", "--submission", str(folder), "--ruleset", "self", "--studies", "1",
         "--workloads", "fmnist_mlp", "--size", "smoke", "--max-steps", "2",
         "--executor", "inline", "--no-progress", "--experiment-dir", str(exp)]
    )  # fmt: skip


def test_two_submissions_named_submission_py_keep_separate_results(tmp_path, capsys):
    exp = tmp_path / "exp"
    first = _write(tmp_path / "a" / "cyclic", "from .helpers import make_optimizer")
    second = _write(tmp_path / "b" / "lawa", "from .helpers import make_optimizer", extra="# v2\n")
    assert _tune(first, exp) == 0 and _tune(second, exp) == 0
    assert "0 done before" in capsys.readouterr().out.split("lawa:")[1]
    digests = {
        p.parts[-5]: json.loads(p.read_text())["submission_digest"]
        for p in exp.rglob("meta_data.json")
    }
    assert set(digests) == {"cyclic", "lawa"} and digests["cyclic"] != digests["lawa"]


def test_another_source_under_the_same_name_is_never_done_before(tmp_path, capsys):
    exp = tmp_path / "exp"
    assert _tune(_write(tmp_path / "a" / "algo", "from .helpers import make_optimizer"), exp) == 0
    result = next(exp.rglob("result.json"))
    before = result.read_bytes()
    changed = _write(tmp_path / "b" / "algo", "from .helpers import make_optimizer", extra="# v2\n")
    assert _tune(changed, exp) == 2
    err = capsys.readouterr().err.strip()
    assert "holds a trial of another source of a submission named 'algo'" in err and "\n" not in err
    assert result.read_bytes() == before
