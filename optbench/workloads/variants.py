"""Workload variants (AlgoPerf's held-out variants): a base workload with one property changed."""

from __future__ import annotations

from typing import Any, TypeVar

from optbench.workloads.base import TorchWorkload

W = TypeVar("W", bound=type[TorchWorkload])


def variant_class_name(base: type[TorchWorkload], suffix: str) -> str:
    """The class name of ``base``'s variant ``suffix``: ``base``'s, then ``suffix`` in CamelCase."""
    return base.__name__ + "".join(part.capitalize() for part in suffix.split("_"))


def variant(base: W, suffix: str, what: str, **changes: Any) -> W:
    """Workload ``<base.name>_<suffix>``: ``base`` with ``changes`` (class attributes, such as an
    activation), which ``what`` says in words. It mirrors AlgoPerf's
    ``<base.algoperf_name>_<suffix>``: optbench's variants carry AlgoPerf's suffixes.

    Bind it to :func:`variant_class_name` in ``base``'s module, so that it pickles by name like
    any class (a test checks every variant).
    """
    name, algoperf_name = f"{base.name}_{suffix}", f"{base.algoperf_name}_{suffix}"
    class_name = variant_class_name(base, suffix)
    namespace = {
        "__doc__": f"``{name}``: ``{base.name}`` with {what} (AlgoPerf's ``{algoperf_name}``).",
        "__module__": base.__module__,
        "__qualname__": class_name,
        "name": name,
        "base_name": base.name,
        "algoperf_name": algoperf_name,
        "description": f"{base.name} with {what}",
        **changes,
    }
    return type(class_name, (base,), namespace)
