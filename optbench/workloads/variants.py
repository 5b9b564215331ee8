"""Workload variants (AlgoPerf's held-out variants): a base workload with one property changed."""

from __future__ import annotations

from typing import Any, TypeVar

from optbench.workloads.base import TorchWorkload

W = TypeVar("W", bound=type[TorchWorkload])


def variant(
    class_name: str,
    base: W,
    name: str,
    *,
    algoperf_name: str,
    description: str,
    doc: str,
    **changes: Any,
) -> W:
    """The subclass ``class_name`` of workload ``base``, registered as ``name``: its base is
    ``base.name`` and ``changes`` (class attributes, such as an activation) are what it varies.

    Bind it to ``class_name`` in ``base``'s module, so that it pickles by name like any class.
    """
    namespace = {
        "__doc__": doc,
        "__module__": base.__module__,
        "__qualname__": class_name,
        "name": name,
        "base_name": base.name,
        "algoperf_name": algoperf_name,
        "description": description,
        **changes,
    }
    return type(class_name, (base,), namespace)
