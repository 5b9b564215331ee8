"""The workload registry: names (and variants) to Workload classes."""

from __future__ import annotations

import difflib

from optbench.errors import UserError
from optbench.workloads.base import SIZES, TorchWorkload
from optbench.workloads.fmnist_mlp import FashionMnistMlp

WORKLOADS: dict[str, type[TorchWorkload]] = {cls.name: cls for cls in (FashionMnistMlp,)}
DEFAULT_SUITE: tuple[str, ...] = ("fmnist_mlp",)

__all__ = ["DEFAULT_SUITE", "SIZES", "WORKLOADS", "TorchWorkload", "get_workload", "workload_class"]


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
