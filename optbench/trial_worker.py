"""The submission's side of a trial: the only place where a submission's code runs.

A trial has two sides. This module is the *worker*: it holds the submission, the model being
trained, the optimizer state and the training data, and calls the submission's functions when the
runner (:mod:`optbench.runner`, the supervisor) tells it to. It never reads the clock that is
recorded, never evaluates and never writes a result file; in a process of its own it never holds
the validation or test splits either.

:class:`WorkerLoop` is the worker itself. :class:`ProcessWorker` runs it in a child process (the
supervised trial: what the submission can reach is that process); :class:`InlineWorker` runs it in
the runner's process, for submission objects built in Python, which cannot be sent to another
process. Both answer the same four requests: ``start``, ``train``, ``save`` and ``restore``.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import torch

from optbench import batch_rule, checkpoint, distributed, integrity, prng
from optbench.compat import environment
from optbench.errors import UserError

# What a worker answers to a request it could not carry out: the trial fails with the message.
FAILED = "failed"


class SubmissionFailed(Exception):
    """A submission function raised: the trial is recorded as failed with this reason."""


class ContractViolation(SubmissionFailed):
    """A submission function returned something the API does not allow."""


def _is_training_complete(exc: BaseException) -> bool:
    # By name, so the class of a real `algoperf.spec` (if installed) is honoured too.
    return type(exc).__name__ == "TrainingCompleteError"


def call_submission(what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``fn(**kwargs)``; any exception but ``TrainingCompleteError`` becomes
    :class:`SubmissionFailed` with a one-line headline and the traceback's tail."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if _is_training_complete(exc):
            raise
        tail = "".join(traceback.format_exception(exc)[-6:])
        need = environment.unmet_need(exc)
        first = f"{what} raised {type(exc).__name__}: {exc}".splitlines()[0]
        headline = f"{need} ({first})" if need else first
        raise SubmissionFailed(f"{headline}\n{tail}") from exc


def checked_update(what: str, value: Any) -> tuple[Any, Any, Any]:
    """``(optimizer_state, params, model_state)`` as ``update_params`` / ``prepare_for_eval`` must
    return it, or :class:`ContractViolation`."""
    if not isinstance(value, tuple | list) or len(value) != 3:
        got = f"a {len(value)}-tuple" if isinstance(value, tuple | list) else type(value).__name__
        raise ContractViolation(
            f"{what} must return (optimizer_state, params, model_state), got {got}"
        )
    if not isinstance(value[1], torch.nn.Module):
        raise ContractViolation(
            f"{what} must return the model (a torch.nn.Module) as params, got "
            f"{type(value[1]).__name__}"
        )
    return tuple(value)


@dataclass
class Setup:
    """What a worker needs to start a trial (sent to the worker process, so picklable there)."""

    workload: Any
    submission: Any  # a Submission, or a picklable callable returning one
    seed: int
    hyperparameters: Any
    batch_size: int | None
    eval_counts: dict[str, int] = field(default_factory=dict)  # the view's fixed counts
    train_only: bool = False  # drop the validation and test splits after loading the data
    # The supervisor's torch threads: a thread count changes float reductions, so a worker with
    # another count would train another trajectory than the same trial unsupervised.
    threads: int | None = None


@dataclass
class Order:
    """One ``train`` request: run steps until one of these stops is reached.

    Deadlines are ``time.perf_counter`` values, a clock all processes of the machine share; the
    supervisor times the request with its own clock, so a worker that ignores them only loses.
    """

    eval_deadline: float  # an eval is due at the first step ending after this
    budget_deadline: float  # no step starts after this
    tick_deadline: float  # hand back (no eval) at the first step ending after this
    eval_at_step: int | None  # an eval is due once global_step reaches this
    max_steps: int | None
    train_state: dict[str, Any]
    new_eval_results: list[tuple[int, dict[str, float]]]


class WorkerLoop:
    """The submission, its model, optimizer state and input queue; the timed step loop."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.global_step = 0
        self.eval_results: list[tuple[int, dict[str, float]]] = []
        self.train_state: dict[str, Any] = {}

    # --- untimed set-up --------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Load the training data, choose the batch size, build the model (seeded as the
        supervisor's copy) and call ``init_optimizer_state``; report what the supervisor checks."""
        setup = self.setup
        workload = setup.workload
        if setup.threads is not None:
            torch.set_num_threads(setup.threads)
        if hasattr(workload, "load_data"):
            workload.load_data()
        if setup.train_only:
            _drop_eval_splits(workload)
        submission = setup.submission
        self.submission = submission if hasattr(submission, "update_params") else submission()
        self.view = integrity.WorkloadView(workload, fixed=setup.eval_counts)
        choice = batch_rule.choose(
            workload, self.submission.get_batch_size, setup.batch_size, _train_size(setup)
        )
        torch.manual_seed(setup.seed)
        self.rng, data_rng, opt_init_rng, model_init_rng = prng.split(prng.key(setup.seed), 4)
        dropout = getattr(setup.hyperparameters, "dropout_rate", None)
        self.model, self.model_state = workload.init_model_fn(model_init_rng, dropout_rate=dropout)
        self.types = workload.model_params_types
        device = torch.device(getattr(workload, "device", "cpu"))
        _warm_up(device)
        distributed.init(device)  # torchrun's ranks, if launched so
        environment.ensure_process_group()  # AlgoPerf initialises torch.distributed first
        if distributed.launched():
            self.model = _data_parallel(self.model, device)
        self.optimizer_state = call_submission(
            "init_optimizer_state",
            self.submission.init_optimizer_state,
            workload=self.view,
            model_params=self.model,
            model_state=self.model_state,
            hyperparameters=setup.hyperparameters,
            rng=opt_init_rng,
        )
        queue = workload._build_input_queue(data_rng, "train", None, choice.used)
        if distributed.launched():
            queue = distributed.ShardedQueue(queue, distributed.rank(), distributed.world())
        self.queue = checkpoint.CountingQueue(queue)
        self.extra: dict[str, Any] = {}
        if self.submission.update_params_takes_train_state:
            self.extra["train_state"] = types.MappingProxyType(self.train_state)
        return {"batch_choice": choice.to_json(), "params": self.snapshot()}

    def snapshot(self) -> dict[str, Any]:
        """A copy of the model's ``state_dict`` (parameters and buffers) on the CPU."""
        model = getattr(self.model, "module", self.model)  # the model inside DDP's wrapper
        return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    # --- the timed loop --------------------------------------------------------------------
    def train(self, order: Order) -> dict[str, Any]:
        """Steps until a stop of ``order``; with an eval due, ``prepare_for_eval`` and a snapshot
        (all timed by the supervisor, which also decides whether the eval happens)."""
        self.train_state.clear()
        self.train_state.update(order.train_state)
        self.eval_results.extend(order.new_eval_results)
        while True:
            complete = self._step()
            if order.max_steps is not None and self.global_step >= order.max_steps:
                complete = True
            stop, complete = self._stop(order, complete)
            if stop is not None:
                return self._report(stop, complete, with_snapshot=stop == "eval")

    def _stop(self, order: Order, complete: bool) -> tuple[str | None, bool]:
        """Whether to hand back after this step, and why (rank 0's answer on every rank)."""
        now = _synchronised_now(self.setup.workload)
        due = now >= order.eval_deadline or (
            order.eval_at_step is not None and self.global_step >= order.eval_at_step
        )
        code = 0
        if now >= order.budget_deadline:
            code = 3
        elif due or complete:
            code = 2
        elif now >= order.tick_deadline:
            code = 1
        code = distributed.agree(code + 4 * complete)
        return (None, "tick", "eval", "budget")[code % 4], code >= 4

    def _arguments(self, rng: Any, **more: Any) -> dict[str, Any]:
        """The keyword arguments every submission call of a step shares, plus ``more``."""
        return {
            "workload": self.view,
            "current_param_container": self.model,
            "model_state": self.model_state,
            "hyperparameters": self.setup.hyperparameters,
            "optimizer_state": self.optimizer_state,
            "global_step": self.global_step,
            "rng": rng,
            **more,
        }

    def _update_arguments(self, rng: Any, **more: Any) -> dict[str, Any]:
        """What ``update_params`` and ``prepare_for_eval`` both take."""
        return self._arguments(
            rng,
            current_params_types=self.types,
            loss_type=self.setup.workload.loss_type,
            eval_results=self.eval_results,
            **more,
        )

    def _step(self) -> bool:
        """One ``data_selection`` + ``update_params``; True on ``TrainingCompleteError``."""
        select_rng, update_rng, _, _ = prng.split(prng.fold_in(self.rng, self.global_step), 4)
        batch = call_submission(
            "data_selection",
            self.submission.data_selection,
            **self._arguments(select_rng, input_queue=self.queue),
        )
        complete = False
        try:
            returned = call_submission(
                "update_params",
                self.submission.update_params,
                **self._update_arguments(update_rng, batch=batch, **self.extra),
            )
            self.optimizer_state, self.model, self.model_state = checked_update(
                "update_params", returned
            )
        except Exception as exc:
            if not _is_training_complete(exc):
                raise
            complete = True
        self.global_step += 1
        return complete

    def _report(self, stop: str, complete: bool, with_snapshot: bool = False) -> dict[str, Any]:
        report = {
            "stop": stop,
            "training_complete": complete,
            "global_step": self.global_step,
            "batches_drawn": self.queue.drawn,
        }
        if with_snapshot:
            self._prepare_for_eval()
            report["params"] = self.snapshot()
            report["model_state"] = self.model_state
        return report

    def _prepare_for_eval(self) -> None:
        prepare = self.submission.prepare_for_eval
        if prepare is None:
            return
        _, _, prep_rng, _ = prng.split(prng.fold_in(self.rng, self.global_step - 1), 4)
        returned = call_submission("prepare_for_eval", prepare, **self._update_arguments(prep_rng))
        self.optimizer_state, self.model, self.model_state = checked_update(
            "prepare_for_eval", returned
        )

    # --- checkpoints -----------------------------------------------------------------------
    def save(self, path: str) -> dict[str, Any]:
        """Write this side of a checkpoint (model, optimizer state, queue position, RNGs)."""
        checkpoint.save_file(
            Path(path),
            {
                "model": self.model.state_dict(),
                "model_state": self.model_state,
                "optimizer_state": checkpoint.optimizer_state_to_save(self.optimizer_state),
                "global_step": self.global_step,
                "eval_results": self.eval_results,
                "batches_drawn": self.queue.drawn,
                "rng_states": checkpoint.rng_states(),
            },
        )
        return {"saved": path}

    def restore(self, path: str) -> dict[str, Any]:
        """Continue from this side of a checkpoint; ``{"restored": False}`` if it no longer fits
        the submission's state (the supervisor then starts the trial afresh)."""
        saved = checkpoint.load_file(Path(path))
        try:
            self.model.load_state_dict(saved["model"])
            self.optimizer_state = checkpoint.restore_optimizer_state(
                self.optimizer_state, saved["optimizer_state"]
            )
        except Exception:
            return {"restored": False}
        self.model_state = saved["model_state"]
        self.global_step = saved["global_step"]
        self.eval_results[:] = saved["eval_results"]
        self.queue = checkpoint.resumed_queue(self.queue, saved["batches_drawn"])
        checkpoint.set_rng_states(saved["rng_states"])
        return {"restored": True}


def _warm_up(device: torch.device) -> None:
    """Create the GPU's math-library handles before the clock runs, as the supervisor's own
    set-up does in an unsupervised trial: else the worker's first timed step pays for them."""
    if device.type == "cuda":
        x = torch.ones(64, 64, device=device)
        torch.nn.functional.conv2d(x.view(1, 1, 64, 64), x[:3, :3].reshape(1, 1, 3, 3))
        torch.mm(x, x)
        torch.cuda.synchronize(device)


def _data_parallel(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` (gradients averaged over the ranks)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _synchronised_now(workload: Any) -> float:
    device = getattr(workload, "device", None)
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return perf_counter()


def _train_size(setup: Setup) -> int | None:
    return getattr(setup.workload, "num_train_examples", None)


def _drop_eval_splits(workload: Any) -> None:
    """Keep only the training split in this process (the worker never holds the others)."""
    splits = getattr(workload, "_splits", None)
    if isinstance(splits, dict):
        workload._splits = {"train": splits["train"]}


def workload_without_data(workload: Any) -> tuple[type, dict[str, Any]]:
    """What crosses to the worker process: the workload's class and attributes, no data."""
    state = {k: v for k, v in vars(workload).items() if k not in ("_splits", "_model")}
    return type(workload), state


def _rebuild_workload(cls: type, state: dict[str, Any]) -> Any:
    workload = cls.__new__(cls)
    vars(workload).update(state)
    if hasattr(cls, "load_data"):
        workload._splits = None
        workload._model = None
    return workload


# --- the two ways to run a worker -------------------------------------------------------------
class InlineWorker:
    """The worker in the runner's own process (no isolation: for submissions built in Python)."""

    isolated = False

    def __init__(self, setup: Setup) -> None:
        self.loop = WorkerLoop(setup)

    def request(self, what: str, argument: Any = None, timeout: float | None = None) -> Any:
        """Run one request; a failing submission raises :class:`SubmissionFailed`."""
        method = getattr(self.loop, what)
        return method() if argument is None else method(argument)

    def pause(self) -> None:
        """Nothing runs between requests in-process."""

    def close(self) -> None:
        """Nothing to release."""


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when the supervisor's process ends, however it ends
    (Linux; elsewhere the supervisor's own clean-up is all there is)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the supervisor ended before the line above took effect
        os._exit(1)


def _serve(conn: Any, cls: type, state: dict[str, Any], setup: Setup, parent: int) -> None:
    """The worker process's main loop: one answer per request, until told to stop."""
    os.setsid()  # its own process group: Ctrl-C reaches the supervisor only; killpg ends all
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    setup.workload = _rebuild_workload(cls, state)
    loop = WorkerLoop(setup)
    while True:
        try:
            what, argument = conn.recv()
        except EOFError:
            return
        if what == "stop":
            return
        try:
            method = getattr(loop, what)
            conn.send(("ok", method() if argument is None else method(argument)))
        except SubmissionFailed as exc:
            conn.send((FAILED, (type(exc).__name__, str(exc))))
        except UserError as exc:
            conn.send((FAILED, ("UserError", str(exc))))
        except BaseException as exc:  # anything the submission did
            tail = "".join(traceback.format_exception(exc)[-6:])
            conn.send((FAILED, ("SubmissionFailed", f"{type(exc).__name__}: {exc}\n{tail}")))


class WorkerDied(SubmissionFailed):
    """The worker process ended without answering (a crash, ``os._exit``, a kill)."""


class ProcessWorker:
    """The worker in a child process of its own (spawned: a fresh interpreter), paused with
    SIGSTOP whenever the supervisor is not timing it, so none of its threads runs untimed."""

    isolated = True

    def __init__(self, setup: Setup) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        cls, state = workload_without_data(setup.workload)
        setup = Setup(**{**vars(setup), "workload": None, "train_only": True})
        self._process = context.Process(
            target=_serve,
            args=(child, cls, state, setup, os.getpid()),
            name="optbench-worker",
            daemon=False,
        )
        self._process.start()
        child.close()
        self._stopped = False

    def request(self, what: str, argument: Any = None, timeout: float | None = None) -> Any:
        """Send one request and wait (at most ``timeout`` seconds) for its answer."""
        self._resume()
        self._conn.send((what, argument))
        if not self._conn.poll(timeout if timeout is not None and math.isfinite(timeout) else None):
            raise TimeoutError(f"the worker did not answer {what!r} within {timeout:.0f} s")
        try:
            status, value = self._conn.recv()
        except EOFError:
            self._process.join(5)
            raise WorkerDied(
                f"the submission's process ended during {what} (exit code {self._process.exitcode})"
            ) from None
        if status == FAILED:
            kind, message = value
            if kind == "UserError":
                raise UserError(message)
            raise (ContractViolation if kind == "ContractViolation" else SubmissionFailed)(message)
        return value

    def pause(self) -> None:
        """Stop every thread of the worker (and of its children) until the next request."""
        if sys.platform != "win32" and not self._stopped and self._process.is_alive():
            os.killpg(self._process.pid, signal.SIGSTOP)
            # A signal is delivered asynchronously: wait until every thread has stopped.
            os.waitpid(self._process.pid, os.WUNTRACED)
            self._stopped = True

    def _resume(self) -> None:
        if self._stopped:
            os.killpg(self._process.pid, signal.SIGCONT)
            self._stopped = False

    def close(self) -> None:
        """End the worker and everything it started (its whole process group)."""
        if self._process.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.join(10)
        self._conn.close()
