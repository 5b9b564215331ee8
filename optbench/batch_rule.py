"""The batch-size rule: which global batch size a submission trains with on a workload.

optbench asks ``get_batch_size`` with its own names first (the workload's, then its base's), then
with the AlgoPerf names it mirrors (the AlgoPerf variant's, then the AlgoPerf base's), as AlgoPerf
asks a variant's name before its base's. The answer is then used as follows:

* an answer to an optbench name is optbench-native and used as given;
* an answer to an AlgoPerf name was chosen for AlgoPerf's full-size data on 8 GPUs, so it is
  rescaled into the regime the mini targets and budgets were set in: ``answer x optbench's
  reference batch for this workload / AlgoPerf's NadamW baseline batch for that name``, rounded.
  AlgoPerf's NadamW baseline thus gets exactly optbench's reference batches, and a submission
  that asks for 2x the baseline on AlgoPerf gets 2x here;
* ``--batch-size N`` replaces the answer (the ``given`` rule);
* whatever the rule, a batch larger than the training split is capped at the split's size (one
  batch per epoch): the input queue never fails on a batch size.

The choice is recorded with every trial (``meta_data.json``: ``batch_size_choice``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from optbench.algorithms.batch_sizes import DEFAULT_BATCH_SIZES
from optbench.errors import UserError

# The global batch sizes of AlgoPerf's NadamW baseline (8x V100), by AlgoPerf workload name.
ALGOPERF_NADAMW_BATCH_SIZES: dict[str, int] = {
    "criteo1tb": 262_144,
    "fastmri": 32,
    "imagenet_resnet": 1024,
    "imagenet_resnet_silu": 512,
    "imagenet_resnet_gelu": 512,
    "imagenet_vit": 1024,
    "librispeech_conformer": 256,
    "librispeech_deepspeech": 256,
    "ogbg": 512,
    "wmt": 128,
    "mnist": 16,
}


@dataclass(frozen=True)
class BatchChoice:
    """A trial's batch size and how it was reached."""

    used: int
    rule: str  # "native" | "algoperf-scaled" | "given"
    asked: str | None = None  # the name whose answer was taken
    answer: int | None = None
    scale: float = 1.0
    capped_at: int | None = None  # the training split's size, where the batch was capped

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def names_to_ask(workload: Any) -> list[tuple[str, bool]]:
    """``(name, is_algoperf_name)`` in the order ``get_batch_size`` is asked."""
    from optbench.workloads import workload_class

    base = getattr(workload, "base_name", None)
    algoperf_base = workload_class(base).algoperf_name if base else None
    names = [
        (workload.name, False),
        (base, False),
        (getattr(workload, "algoperf_name", None), True),
        (algoperf_base, True),
    ]
    seen: dict[str, bool] = {}
    for name, algoperf in names:
        if name and name not in seen:
            seen[name] = algoperf
    return list(seen.items())


def reference_batch_size(workload: Any) -> int:
    """optbench's reference batch for ``workload`` (its own entry, else its base's)."""
    for name in (workload.name, getattr(workload, "base_name", None)):
        if name in DEFAULT_BATCH_SIZES:
            return DEFAULT_BATCH_SIZES[name]
    raise UserError(f"no reference batch size for workload {workload.name!r}")


def algoperf_scale(workload: Any, asked: str) -> float:
    """The factor that maps an answer to AlgoPerf name ``asked`` into the mini regime."""
    algoperf_base = names_to_ask(workload)[-1][0]
    baseline = ALGOPERF_NADAMW_BATCH_SIZES.get(asked) or ALGOPERF_NADAMW_BATCH_SIZES.get(
        algoperf_base
    )
    if baseline is None:
        raise UserError(f"no AlgoPerf baseline batch size known for {asked!r}")
    return reference_batch_size(workload) / baseline


def _ask(get_batch_size: Any, workload: Any) -> tuple[str, bool, int]:
    tried = []
    for name, algoperf in names_to_ask(workload):
        tried.append(name)
        try:
            size = get_batch_size(name)
        except (ValueError, KeyError):  # AlgoPerf's "unsupported workload" convention
            continue
        except Exception as exc:
            raise UserError(
                f"get_batch_size({name!r}) raised {type(exc).__name__}: {exc}".splitlines()[0]
            ) from None
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise UserError(f"get_batch_size({name!r}) returned {size!r}, not a positive int")
        return name, algoperf, size
    raise UserError(
        f"the submission has no batch size for {' / '.join(tried)}; pass --batch-size N"
    )


def choose(
    workload: Any, get_batch_size: Any, given: int | None = None, train_size: int | None = None
) -> BatchChoice:
    """The batch size a submission (its ``get_batch_size``) trains with on ``workload``."""
    if given is not None:
        choice = BatchChoice(used=given, rule="given")
    else:
        asked, algoperf, answer = _ask(get_batch_size, workload)
        if algoperf:
            scale = algoperf_scale(workload, asked)
            used = max(1, round(answer * scale))
            choice = BatchChoice(used, "algoperf-scaled", asked, answer, scale)
        else:
            choice = BatchChoice(answer, "native", asked, answer)
    if train_size is not None and choice.used > train_size:
        return BatchChoice(**{**choice.to_json(), "used": train_size, "capped_at": train_size})
    return choice
