"""Hardware profiles: the time budgets of one *slot*, a device and a number of CPU threads.

A workload's targets and ``step_hint`` count steps and metric values: they hold on any machine.
Its budget is seconds, so it holds only for the slot it was timed on. The committed budgets
(``max_allowed_runtime_sec`` of ``optbench/workloads/targets/*.json``) are seconds of one 2-core
VM running one trial with 2 threads; on a GPU, or on a faster CPU, they are far too generous and
the mini suite measures nothing. A *profile* holds a slot's budgets:

* :func:`default_profile` (``cpu-2threads``) is the committed one, built from the targets files
  whenever it is asked for (not a copy: ``optbench targets --budgets-only --write`` updates it,
  and its digest changes with its budgets);
* :func:`calibrate` (``optbench calibrate``) times each workload's target-setting configuration
  (``target_setting.picked``) on this slot and derives its budget exactly as step 4 of the
  target-setting procedure does (:func:`optbench.target_setting.budget_seconds`): the most steps
  a re-run needed to reach the target, times the slot's seconds per step, divided by 0.75,
  rounded up to 5 s. Seconds per step: the median of ``repeats`` short runs, each timing its
  steps after the first 10 (a warm-up), taken round-robin across the workloads so that a slow
  spell of a shared machine hits every workload alike; every run and the relative spread
  ((max - min) / median) are recorded.

A profile never holds targets or step hints (:data:`MACHINE_INDEPENDENT` keys are refused). Its
eval period is the committed one scaled by the same factor as the budget, so a trial gets the
same number of evals per budget on every slot. A trial records its profile (name, digest, slot)
in ``meta_data.json``; ``optbench score`` refuses to rank trials of different profiles together
(:func:`recorded_digest`; a trial recording none ran under the default profile).

:func:`pin_slot` gives a process its slot: ``threads`` torch threads and, for slot ``k``, the
``k``-th disjoint set of ``threads`` CPUs. Parallel trials on one machine (``--jobs N
--threads-per-trial T``) each run in such a slot, with a T-thread profile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from optbench.errors import UserError

FORMAT = "optbench-profile/1"
DEFAULT_NAME = "cpu-2threads"
DEFAULT_SLOT = {"device": "cpu", "threads": 2}
# Sizes whose committed budgets are hand-set caps for tests, never calibrated: a profile without
# an entry for them keeps the committed cap (and a run at them needs no profile on any device).
CAP_SIZES = ("smoke",)
# The keys of one (workload, size) entry of a profile.
ENTRY_KEYS = (
    "max_allowed_runtime_sec",  # the budget
    "eval_period_time_sec",
    "calibration_gflops",  # the speed probe of this entry's timing (else the profile's)
    "seconds_per_step",  # median of the timed runs
    "seconds_per_step_runs",
    "spread",  # (max - min) / median of the runs
    "steps_needed",
    "algorithm",  # the target-setting configuration timed
    "committed_max_allowed_runtime_sec",  # for comparison only
)
# Machine-independent facts: they live in the targets files and never in a profile.
MACHINE_INDEPENDENT = (
    "validation_target_value",
    "test_target_value",
    "step_hint",
    "min_steps_to_target",
    "train_gap",
)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
DEFAULT_REPEATS = 5
DEFAULT_STEPS = 30
WARMUP_STEPS = 10  # target_setting.seconds_per_step times the steps after its first 10
# A spread ((max - min) / median of the runs) above this says the machine was busy meanwhile.
NOISY_SPREAD = 0.15


@dataclasses.dataclass(frozen=True)
class Profile:
    """A profile's content (``data``, as in its file) and where it came from."""

    data: dict[str, Any]
    origin: str  # "built-in" or the file's path

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def device(self) -> str:
        return str(self.data["slot"]["device"])

    @property
    def threads(self) -> int:
        return int(self.data["slot"]["threads"])

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the content (sorted keys, no whitespace)."""
        return content_digest(self.data)

    def identity(self) -> dict[str, Any]:
        """What a trial records in ``meta_data.json`` under ``profile``."""
        return {"name": self.name, "digest": self.digest, "slot": dict(self.data["slot"])}

    def entry(self, workload: str, size: str) -> dict[str, Any] | None:
        """The entry of ``workload`` (a variant: its base's) at ``size``, or None."""
        from optbench.workloads import workload_class

        base = workload_class(workload).base_name or workload
        return self.data["workloads"].get(base, {}).get(size)

    def settings(self, workload: str, size: str) -> Any:
        """The workload's committed :class:`~optbench.workloads.targets.Settings` with this
        profile's budget, eval period and speed probe; a one-line error if the profile has no
        budget for it (a size of :data:`CAP_SIZES` keeps its committed cap)."""
        from optbench.workloads.targets import settings_for

        committed = settings_for(workload, size)
        entry = self.entry(workload, size)
        if entry is None:
            if size in CAP_SIZES:
                return committed
            raise UserError(
                f"profile {self.name} has no budget for {workload} at size {size}: calibrate "
                f"it (optbench calibrate --device {self.device} --threads {self.threads} "
                f"--size {size} --workloads ...)"
            )
        gflops = entry.get("calibration_gflops", self.data.get("speed_probe_gflops"))
        return dataclasses.replace(
            committed,
            max_allowed_runtime_sec=float(entry["max_allowed_runtime_sec"]),
            eval_period_time_sec=float(
                entry.get("eval_period_time_sec", committed.eval_period_time_sec)
            ),
            calibration_gflops=gflops,
        )


def content_digest(data: dict[str, Any]) -> str:
    """sha256 of ``data``'s canonical JSON: a profile's identity (names are not)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def steps_needed(entry: dict[str, Any]) -> int | None:
    """The steps a workload's target-setting runs needed to reach its target, as the budget step
    uses them: ``target_setting.steps_needed``, else the most steps any re-run needed."""
    record = entry.get("target_setting") or {}
    if record.get("steps_needed") is not None:
        return int(record["steps_needed"])
    reached = [s for s in record.get("rerun_steps_to_target") or [] if s is not None]
    return max(reached) if reached else None


# --------------------------------------------------------------------------------------------
# The default profile and profile files
# --------------------------------------------------------------------------------------------
def _default_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A default-profile entry: the budget fields of a committed targets entry."""
    out = {
        "max_allowed_runtime_sec": entry["max_allowed_runtime_sec"],
        "eval_period_time_sec": entry["eval_period_time_sec"],
    }
    optional = {
        "calibration_gflops": entry.get("calibration_gflops"),
        "seconds_per_step": entry.get("calibration_seconds_per_step"),
        "steps_needed": steps_needed(entry),
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


@cache
def _default_data() -> str:
    from optbench.workloads import WORKLOADS
    from optbench.workloads.targets import SCALED_SIZES, targets_table

    workloads: dict[str, dict[str, Any]] = {}
    for name, cls in WORKLOADS.items():
        if cls.base_name is not None:  # a variant has its base's budget
            continue
        table = targets_table(name)
        # AlgoPerf's own workloads (size full) carry AlgoPerf's 8x V100 budgets: no slot's.
        sizes = {
            s: _default_entry(e)
            for s, e in table.items()
            if "max_allowed_runtime_sec" in e and s in SCALED_SIZES
        }
        if sizes:
            workloads[name] = sizes
    data = {
        "format": FORMAT,
        "name": DEFAULT_NAME,
        "slot": dict(DEFAULT_SLOT),
        "source": "the committed budgets of optbench/workloads/targets/*.json (this project's "
        "2-core VM, one trial with 2 threads; each entry's target_setting.environment)",
        "environment": None,
        "workloads": workloads,
    }
    return json.dumps(data, sort_keys=True)


def default_profile() -> Profile:
    """The committed 2-core CPU profile, built from the targets files (see the module doc)."""
    return Profile(json.loads(_default_data()), "built-in")


def _check_entry(where: str, entry: Any) -> None:
    """A one-line error for an entry that is not a positive finite budget with known keys."""
    if not isinstance(entry, dict):
        raise UserError(f"malformed profile {where}: not an object")
    for key in entry:
        if key in MACHINE_INDEPENDENT:
            raise UserError(
                f"profile {where} holds {key!r}: targets and step hints are machine-independent "
                "and live in the targets files, never in a profile"
            )
        if key not in ENTRY_KEYS:
            raise UserError(f"malformed profile {where}: unknown key {key!r}")
    budget = entry.get("max_allowed_runtime_sec")
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget < math.inf:
        raise UserError(
            f"malformed profile {where}: max_allowed_runtime_sec must be a positive number, "
            f"got {budget!r}"
        )


def check_profile(data: Any, where: str) -> dict[str, Any]:
    """``data`` if it is a well-formed profile; else a one-line error naming ``where``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f'{where} is not an optbench profile (no "format": "{FORMAT}")')
    slot = data.get("slot")
    threads = slot.get("threads") if isinstance(slot, dict) else None
    if (
        not isinstance(data.get("name"), str)
        or not isinstance(slot, dict)
        or slot.get("device") not in ("cpu", "cuda")
        or isinstance(threads, bool)
        or not isinstance(threads, int)
        or threads < 1
    ):
        raise UserError(
            f"malformed profile {where}: needs a name and a slot "
            '{"device": "cpu" or "cuda", "threads": a positive integer}'
        )
    workloads = data.get("workloads")
    if not isinstance(workloads, dict) or not all(isinstance(v, dict) for v in workloads.values()):
        raise UserError(f"malformed profile {where}: no 'workloads' object of sizes")
    for name, sizes in workloads.items():
        for size, entry in sizes.items():
            _check_entry(f"{where} ({name}, {size})", entry)
    return data


def load(spec: str | os.PathLike[str]) -> Profile:
    """The profile ``spec`` names: ``cpu-2threads`` (built in) or a profile file's path."""
    text = os.fspath(spec)
    if text == DEFAULT_NAME:
        return default_profile()
    path = Path(text)
    if not path.is_file():
        raise UserError(
            f"no profile {text!r}: neither a profile file nor a built-in profile "
            f"({DEFAULT_NAME}); write one with optbench calibrate"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"malformed profile {path}: {str(exc).splitlines()[0]}") from None
    return Profile(check_profile(data, str(path)), str(path))


def save(profile_data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a profile file atomically (checked first: it must load back)."""
    from optbench.atomic import atomic_write_json

    atomic_write_json(Path(path), check_profile(profile_data, os.fspath(path)))


def recorded_digest(meta: dict[str, Any]) -> tuple[str, str]:
    """(name, digest) of the profile a trial's ``meta_data.json`` records; a trial recording
    none (written before profiles existed) ran under the default profile."""
    recorded = meta.get("profile")
    if isinstance(recorded, dict) and isinstance(recorded.get("digest"), str):
        return str(recorded.get("name")), recorded["digest"]
    return DEFAULT_NAME, _default_digest()


@cache
def _default_digest() -> str:
    return default_profile().digest


# --------------------------------------------------------------------------------------------
# Choosing a trial's profile
# --------------------------------------------------------------------------------------------
def device_type(device: str) -> str:
    """``cuda`` for ``cuda``/``cuda:N``, ``cpu`` for ``cpu``: the device part of a slot."""
    return str(device).split(":", 1)[0]


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def check_slots(jobs: int, threads: int) -> None:
    """A one-line error if ``jobs`` disjoint slots of ``threads`` CPUs do not fit this machine."""
    have = len(allowed_cpus())
    if jobs * threads > have:
        raise UserError(
            f"{jobs} slot(s) of {threads} thread(s) need {jobs * threads} CPUs; this process may "
            f"use {have}: lower --jobs or --threads-per-trial (each needs a profile of its "
            "thread count: optbench calibrate --threads T)"
        )


def for_trials(
    spec: str | None, device: str, size: str, threads: int | None = None, jobs: int = 1
) -> Profile:
    """The profile trials on ``device`` at ``size`` run under (``--profile``, else the default
    on a CPU); one-line errors for a profile of another device or thread count, for a GPU
    without a profile, and for slots that do not fit this machine."""
    kind = device_type(device)
    if spec is None:
        if kind != "cpu" and size not in CAP_SIZES:
            raise UserError(
                f"no hardware profile for {kind}: the committed budgets are seconds of a 2-core "
                f"CPU; run optbench calibrate --device {kind} --steps 100 -o FILE first and pass "
                "--profile FILE"
            )
        profile = default_profile()
        if kind != "cpu":  # a cap size on a GPU: the committed caps, no CPU slot to check
            return profile
    else:
        profile = load(spec)
    if profile.device != kind:
        raise UserError(
            f"profile {profile.name} was calibrated on {profile.device}, this run uses {kind}: "
            f"pass a profile of {kind} (optbench calibrate --device {kind})"
        )
    if threads is not None and threads != profile.threads:
        raise UserError(
            f"profile {profile.name} is for {profile.threads}-thread slots, not {threads}: "
            f"calibrate one (optbench calibrate --threads {threads}) and pass it with --profile"
        )
    check_slots(jobs, profile.threads)
    return profile


def with_profile(specs: list[Any], profile: Profile) -> list[Any]:
    """Trial specs (:class:`optbench.tuning.TrialSpec`) whose workloads get ``profile``'s
    settings and whose ``meta_data.json`` records it."""
    return [
        dataclasses.replace(
            spec,
            workload_options={
                **spec.workload_options,
                "settings": profile.settings(spec.workload, spec.size),
            },
            meta={**spec.meta, "profile": profile.identity()},
        )
        for spec in specs
    ]


# --------------------------------------------------------------------------------------------
# Slots: threads and CPU affinity
# --------------------------------------------------------------------------------------------
def set_threads(threads: int) -> None:
    """``threads`` torch intra-op threads in this process, and OMP/MKL_NUM_THREADS, which the
    processes it starts (trial and submission workers) inherit."""
    import torch

    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    torch.set_num_threads(threads)


def pin_slot(slot_index: int, threads: int) -> list[int]:
    """Give this process slot ``slot_index`` of ``threads`` threads: :func:`set_threads`, and the
    CPU affinity set to the ``slot_index``-th disjoint group of ``threads`` of the CPUs this
    process may use now (call it before any pinning). Returns those CPUs; a one-line error if
    they do not exist. Logical CPUs are counted: two hyperthreads of one core may fall in
    different slots. An executor running N trials at once calls it first thing in each trial's
    process, with that trial's slot (0..N-1, each in use by one trial at a time)."""
    if slot_index < 0 or threads < 1:
        raise UserError(f"a slot needs index >= 0 and threads >= 1, got {slot_index}, {threads}")
    allowed = allowed_cpus()
    first = slot_index * threads
    if first + threads > len(allowed):
        raise UserError(
            f"slot {slot_index} of {threads} thread(s) needs {first + threads} CPUs; this "
            f"process may use {len(allowed)}"
        )
    cpus = allowed[first : first + threads]
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    set_threads(threads)
    return cpus


@contextlib.contextmanager
def pinned(slot_index: int | None, threads: int) -> Iterator[list[int]]:
    """:func:`pin_slot` for the duration of a ``with`` block (``slot_index`` None: only
    :func:`set_threads`); affinity, environment and torch's thread count are restored afterwards
    (commands called in-process leave no trace)."""
    import torch

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    environment = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    torch_threads = torch.get_num_threads()
    try:
        if slot_index is None:
            set_threads(threads)
            yield allowed_cpus()
        else:
            yield pin_slot(slot_index, threads)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
        for variable, value in environment.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        torch.set_num_threads(torch_threads)


def slot_of(profile: Profile, device: str, jobs: int = 1) -> contextlib.AbstractContextManager[Any]:
    """What the process starting trials of ``profile`` holds while they run, as a ``with``
    context: one trial at a time, slot 0 (:func:`pinned`), which the trials' processes inherit;
    ``jobs`` at a time, only the thread count (each trial's process is pinned to its own slot
    by the executor, :func:`pin_slot`); nothing for a profile of another device (a cap size on
    a GPU without a profile)."""
    if profile.device != device_type(device):
        return contextlib.nullcontext()
    return pinned(0 if jobs == 1 else None, profile.threads)


def label(profile: Profile) -> str:
    """``name (sha256 digest)``: how an experiment directory records its profile."""
    return f"{profile.name} (sha256 {profile.digest})"


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Pick:
    """What is timed for one workload: its target-setting configuration and steps needed."""

    workload: str
    algorithm: str
    hyperparameters: dict[str, Any] | None
    steps_needed: int
    committed: dict[str, Any]  # the committed targets entry


def calibration_pick(name: str, size: str) -> Pick:
    """The configuration ``optbench calibrate`` times for ``name`` at ``size``: its committed
    ``target_setting.picked`` and steps needed; a one-line error for a variant or an entry
    without a recorded target-setting procedure."""
    from optbench.workloads import workload_class
    from optbench.workloads.targets import targets_table

    base = workload_class(name).base_name
    if base is not None:
        raise UserError(f"{name} is a variant: it has {base}'s budget; calibrate {base}")
    entry = targets_table(name).get(size) or {}
    picked = (entry.get("target_setting") or {}).get("picked")
    needed = steps_needed(entry)
    if not picked or needed is None or "max_allowed_runtime_sec" not in entry:
        raise UserError(
            f"{name} ({size}) has no recorded target-setting runs (picked configuration and "
            "steps to target) to time: its budget there is a hand-set cap"
        )
    return Pick(name, picked["algorithm"], picked.get("hyperparameters"), needed, entry)


def time_run(pick: Pick, size: str, steps: int, workload_options: dict[str, Any]) -> float:
    """Seconds per step of one short run of ``pick`` on this slot: the steps after the first
    :data:`WARMUP_STEPS` of ``steps`` (:func:`optbench.target_setting.seconds_per_step`)."""
    from optbench.target_setting import seconds_per_step

    return seconds_per_step(
        pick.workload,
        size,
        pick.algorithm,
        pick.hyperparameters,
        workload_options=workload_options,
        steps=steps,
        repeats=1,
    )


def check_steps(steps: int) -> None:
    """The timed run's step count: evals fall on multiples of 10, the first 10 are warm-up."""
    if steps < 2 * WARMUP_STEPS or steps % WARMUP_STEPS:
        raise UserError(
            f"--steps must be a multiple of {WARMUP_STEPS} and at least {2 * WARMUP_STEPS} (the "
            f"first {WARMUP_STEPS} are warm-up), got {steps}"
        )


def _entry(pick: Pick, runs: list[float], gflops: float) -> dict[str, Any]:
    """A calibrated profile entry from the timed runs of ``pick``."""
    from optbench.target_setting import budget_seconds

    per_step = statistics.median(runs)
    budget = budget_seconds(pick.steps_needed, per_step)
    committed = pick.committed
    period = committed["eval_period_time_sec"] * budget / committed["max_allowed_runtime_sec"]
    return {
        "max_allowed_runtime_sec": budget,
        "eval_period_time_sec": round(period, 3),
        "calibration_gflops": round(gflops, 1),
        "seconds_per_step": round(per_step, 6),
        "seconds_per_step_runs": [round(r, 6) for r in runs],
        "spread": round((max(runs) - min(runs)) / per_step, 4),
        "steps_needed": pick.steps_needed,
        "algorithm": pick.algorithm,
        "committed_max_allowed_runtime_sec": committed["max_allowed_runtime_sec"],
    }


def calibrate(
    names: list[str],
    size: str,
    *,
    device: str,
    threads: int,
    name: str | None = None,
    slot_index: int = 0,
    repeats: int = DEFAULT_REPEATS,
    steps: int = DEFAULT_STEPS,
    workload_options: dict[str, Any] | None = None,
    timer: Callable[[Pick, str, int, dict[str, Any]], float] = time_run,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time each workload's target-setting configuration on slot (``device``, ``threads``),
    pinned to the ``slot_index``-th group of CPUs, and return the profile's content (see the
    module doc for the method). ``timer`` times one run."""
    check_steps(steps)
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {repeats}")
    picks = [calibration_pick(n, size) for n in names]  # every error before any timing
    options = {**(workload_options or {}), "device": device}
    kind = device_type(device)
    from optbench import integrity, results

    runs: dict[str, list[float]] = {p.workload: [] for p in picks}
    probes: list[float] = []
    with pinned(slot_index, threads):
        for k in range(repeats):
            probes.append(integrity.speed_probe(device=device))
            for pick in picks:  # round-robin: a slow spell hits every workload alike
                runs[pick.workload].append(timer(pick, size, steps, options))
                if log is not None:
                    seconds = runs[pick.workload][-1]
                    log(f"  run {k + 1}/{repeats} {pick.workload}: {seconds:.5f} s/step")
        environment = results.environment()
    gflops = statistics.median(probes)
    return {
        "format": FORMAT,
        "name": name or slot_name(kind, threads),
        "slot": {"device": kind, "threads": threads},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "method": {
            "repeats": repeats,
            "steps": steps,
            "warmup_steps": WARMUP_STEPS,
            "slot_index": slot_index,
            "statistic": "median over runs taken round-robin across workloads",
            "budget": "steps_needed x seconds_per_step / 0.75, rounded up to 5 s",
        },
        "speed_probe_gflops": round(gflops, 1),
        "speed_probe_runs": [round(g, 1) for g in probes],
        "environment": environment,
        "workloads": {p.workload: {size: _entry(p, runs[p.workload], gflops)} for p in picks},
    }


def slot_name(device: str, threads: int) -> str:
    """The default name of a profile of slot (``device``, ``threads``): ``cpu-1thread``."""
    return f"{device}-{threads}thread{'s' if threads != 1 else ''}"
