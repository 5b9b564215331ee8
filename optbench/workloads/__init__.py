"""The workload registry: every TorchWorkload subclass with a ``name`` in this package.

A workload module only has to define its classes; importing this package registers them. The
machinery modules (:data:`MACHINERY`) and the ``common`` package of shared pieces hold no
workload, and no workload module imports another.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from optbench.errors import UserError
from optbench.workloads.base import TorchWorkload
from optbench.workloads.targets import SIZES

MACHINERY = frozenset(
    {"base", "full_size", "input_queue", "param_types", "split_object", "targets", "variants"}
)

# The mini suite, mirroring AlgoPerf's eight scored workloads (fmnist_mlp, like AlgoPerf's
# mnist, is a development workload outside it).
SUITE_ORDER: tuple[str, ...] = (
    "fmnist_resnet",
    "fmnist_vit",
    "shakespeare_lm",
    "speech_conformer",
    "speech_lstm",
    "molecules_gnn",
    "clicks_dlrm",
    "mri_unet",
)


def _discover() -> dict[str, type[TorchWorkload]]:
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg and info.name not in MACHINERY:
            importlib.import_module(f"{__name__}.{info.name}")
    found: dict[str, type[TorchWorkload]] = {}
    stack = list(TorchWorkload.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if "name" in vars(cls):
            found[cls.name] = cls
    return dict(sorted(found.items()))


WORKLOADS: dict[str, type[TorchWorkload]] = _discover()
DEFAULT_SUITE: tuple[str, ...] = tuple(n for n in SUITE_ORDER if n in WORKLOADS) or ("fmnist_mlp",)

__all__ = [
    "DEFAULT_SUITE",
    "SIZES",
    "WORKLOADS",
    "TorchWorkload",
    "get_workload",
    "workload_class",
    "workloads_at",
]


def workloads_at(size: str) -> tuple[str, ...]:
    """The registered workloads that have ``size`` (smoke and mini: optbench's scaled
    workloads; full: AlgoPerf's own)."""
    return tuple(name for name, cls in WORKLOADS.items() if size in cls.sizes)


def workload_class(name: str) -> type[TorchWorkload]:
    """The class registered under ``name``; a one-line error with a suggestion otherwise."""
    if name not in WORKLOADS:
        close = difflib.get_close_matches(name, WORKLOADS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown workload {name!r}{hint} (see `optbench list`)")
    return WORKLOADS[name]


def get_workload(name: str, size: str = "mini", **kwargs) -> TorchWorkload:
    """An instance of workload ``name`` at ``size`` (kwargs go to the constructor)."""
    return workload_class(name)(size, **kwargs)
