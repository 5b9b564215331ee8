"""Search spaces in AlgoPerf's ``tuning_search_space.json`` formats, and the points drawn from them.

Two formats are read:

* a dict of ranges: ``{"lr": {"min": 1e-4, "max": 1e-2, "scaling": "log"},
  "label_smoothing": {"feasible_points": [0.1, 0.2]}}`` (scaling ``log`` or ``linear``), sampled
  quasi-randomly with a scrambled Halton sequence (``scipy.stats.qmc``, seeded);
* a list of fixed points ``[{"lr": 1e-3, ...}, ...]``, taken in order.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import qmc

from optbench.errors import UserError


@dataclass(frozen=True)
class Range:
    """A continuous range, sampled uniformly on a linear or log scale."""

    low: float
    high: float
    log: bool

    def at(self, u: float) -> float:
        """The value at quantile ``u`` in [0, 1)."""
        if self.log:
            return float(
                math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            )
        return float(self.low + u * (self.high - self.low))

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Choice:
    """A finite set of feasible points."""

    points: tuple[Any, ...]

    def at(self, u: float) -> Any:
        return self.points[min(int(u * len(self.points)), len(self.points) - 1)]

    def __contains__(self, value: Any) -> bool:
        return value in self.points


@dataclass(frozen=True)
class SearchSpace:
    """Either named dimensions (quasi-random search) or a fixed list of points."""

    dims: Mapping[str, Range | Choice] | None = None
    fixed_points: tuple[Mapping[str, Any], ...] | None = None

    @property
    def is_fixed(self) -> bool:
        return self.fixed_points is not None

    def draw(self, n: int, seed: int = 0, skip: int = 0) -> list[dict[str, Any]]:
        """Points ``skip .. skip+n-1`` of this space's sequence for ``seed``.

        Quasi-random spaces: one scrambled Halton sequence per seed, so disjoint ``skip`` windows
        give distinct points (studies draw distinct points this way). Fixed lists: the entries in
        order, ``skip`` ignored (every study gets the submission's list).
        """
        if self.fixed_points is not None:
            if n > len(self.fixed_points):
                raise UserError(
                    f"the search space lists {len(self.fixed_points)} points but {n} trials "
                    "were asked"
                )
            return [dict(p) for p in self.fixed_points[:n]]
        assert self.dims is not None
        names = sorted(self.dims)
        sampler = qmc.Halton(d=max(len(names), 1), scramble=True, seed=seed)
        if skip:
            sampler.fast_forward(skip)
        unit = sampler.random(n)
        return [{name: self.dims[name].at(u[i]) for i, name in enumerate(names)} for u in unit]

    def point(self, index: int, seed: int = 0) -> dict[str, Any]:
        """The ``index``-th point (as ``--hparams-index`` selects it)."""
        if self.fixed_points is not None and not 0 <= index < len(self.fixed_points):
            raise UserError(
                f"--hparams-index {index} is outside the {len(self.fixed_points)} points"
            )
        if index < 0:
            raise UserError(f"--hparams-index must be >= 0, got {index}")
        if self.fixed_points is not None:
            return dict(self.fixed_points[index])
        return self.draw(1, seed=seed, skip=index)[0]

    def contains(self, point: Mapping[str, Any]) -> bool:
        """Whether ``point`` lies inside the declared ranges (fixed lists: is one of the points)."""
        if self.fixed_points is not None:
            return any(dict(point) == dict(p) for p in self.fixed_points)
        assert self.dims is not None
        return set(point) == set(self.dims) and all(point[k] in d for k, d in self.dims.items())


def _dimension(name: str, spec: Any, where: str) -> Range | Choice:
    if not isinstance(spec, Mapping):
        raise UserError(f"{where}: {name!r} must be an object with min/max or feasible_points")
    if "feasible_points" in spec:
        points = spec["feasible_points"]
        if not isinstance(points, Sequence) or isinstance(points, str) or not points:
            raise UserError(f"{where}: {name!r} feasible_points must be a non-empty list")
        return Choice(tuple(points))
    if "min" not in spec or "max" not in spec:
        raise UserError(f"{where}: {name!r} needs both 'min' and 'max' (or 'feasible_points')")
    low, high = spec["min"], spec["max"]
    for bound in (low, high):
        if (
            isinstance(bound, bool)
            or not isinstance(bound, int | float)
            or not math.isfinite(bound)
        ):
            raise UserError(f"{where}: {name!r} min and max must be finite numbers, got {bound!r}")
    if low > high:
        raise UserError(f"{where}: {name!r} has an empty range (min {low} > max {high})")
    scaling = spec.get("scaling", "linear")
    if scaling not in ("linear", "log"):
        raise UserError(f"{where}: {name!r} scaling must be 'linear' or 'log', got {scaling!r}")
    if scaling == "log" and low <= 0:
        raise UserError(f"{where}: {name!r} uses log scaling but min {low} is not positive")
    return Range(float(low), float(high), scaling == "log")


def parse(obj: Any, where: str = "search space") -> SearchSpace:
    """A :class:`SearchSpace` from a decoded JSON value; a one-line UserError if malformed."""
    if isinstance(obj, Mapping):
        if not obj:
            raise UserError(f"{where}: the search space is empty")
        return SearchSpace(dims={str(k): _dimension(str(k), v, where) for k, v in obj.items()})
    if isinstance(obj, list):
        if not obj or not all(isinstance(p, Mapping) for p in obj):
            raise UserError(f"{where}: a list search space must be a non-empty list of objects")
        return SearchSpace(fixed_points=tuple(dict(p) for p in obj))
    raise UserError(f"{where}: expected an object of ranges or a list of points")


def load(path: str | Path) -> SearchSpace:
    """Read and parse a ``tuning_search_space.json`` file."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"search space file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read search space {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON in {path}: {exc.msg} (line {exc.lineno})") from None
    return parse(obj, where=str(path))


def as_hyperparameters(point: Mapping[str, Any]) -> Any:
    """A namedtuple with the point's keys (what AlgoPerf passes as ``hyperparameters``).

    Its class is made per point, so it pickles (for a trial in another process) by rebuilding
    from the point rather than by looking the class up.
    """
    cls = collections.namedtuple("Hyperparameters", sorted(point))
    cls.__reduce__ = lambda self: (as_hyperparameters, (self._asdict(),))
    return cls(**{k: _plain(v) for k, v in point.items()})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
