"""Bootstrap confidence intervals over benchmark items, alone or paired across two runs.

A benchmark reduces its per-item outcomes to a 2-D array ``values`` (one row per item) plus a
stratum label per item, and a function ``figures(values, strata) -> {name: float}`` that computes
its headline numbers. Resampling items with replacement *within each stratum* (a domain, a
subset) keeps each stratum's size fixed, as the official arithmetic weights them by count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Figures = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float

    def to_list(self) -> list[float]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Difference:
    """Figure of run A, of run B, and A - B with its paired bootstrap interval."""

    a: float
    b: float
    difference: Interval


def _resample_indices(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    parts = []
    for label in np.unique(strata):
        members = np.flatnonzero(strata == label)
        parts.append(rng.choice(members, size=members.size, replace=True))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _check(values: np.ndarray, strata: np.ndarray) -> None:
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (items x outcomes), got shape {values.shape}")
    if strata.shape != (values.shape[0],):
        raise ValueError(f"strata has {strata.size} labels for {values.shape[0]} items")


def _percentiles(samples: list[Mapping[str, float]], point: Mapping[str, float], level: float
                 ) -> dict[str, tuple[float, float]]:
    tail = 100 * (1 - level) / 2
    out = {}
    for name in point:
        draws = np.array([sample.get(name, np.nan) for sample in samples], dtype=np.float64)
        draws = draws[~np.isnan(draws)]
        if draws.size == 0:
            out[name] = (float("nan"), float("nan"))
        else:
            low, high = np.percentile(draws, [tail, 100 - tail])
            out[name] = (float(low), float(high))
    return out


def bootstrap(values: np.ndarray, strata: Sequence[str] | np.ndarray, figures: Figures, *,
              resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Interval]:
    """Percentile bootstrap interval for every figure, resampling items within strata.

    Args:
        values: per-item outcomes, shape (items, k).
        strata: a label per item; resampling never moves items across labels.
        figures: computes the headline numbers from (values, strata).
        resamples: number of bootstrap draws.
        seed: seeds a private ``numpy.random.Generator``; the same seed gives the same interval.
        level: coverage of the interval.
    """
    values, labels = np.asarray(values, dtype=np.float64), np.asarray(strata)
    _check(values, labels)
    point = dict(figures(values, labels))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(resamples):
        index = _resample_indices(labels, rng)
        samples.append(figures(values[index], labels[index]))
    bounds = _percentiles(samples, point, level)
    return {name: Interval(point[name], *bounds[name]) for name in point}


def paired_bootstrap(values_a: np.ndarray, values_b: np.ndarray,
                     strata: Sequence[str] | np.ndarray, figures: Figures, *,
                     resamples: int = 1000, seed: int = 0, level: float = 0.95
                     ) -> dict[str, Difference]:
    """A - B for every figure of two runs on the same items, with a paired bootstrap interval.

    Row i of ``values_a`` and ``values_b`` must be the same item; each draw resamples the items
    once and applies the same resample to both runs, so item difficulty cancels out.
    """
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    labels = np.asarray(strata)
    _check(a, labels)
    _check(b, labels)
    point_a, point_b = dict(figures(a, labels)), dict(figures(b, labels))
    shared = [name for name in point_a if name in point_b]
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(resamples):
        index = _resample_indices(labels, rng)
        fa, fb = figures(a[index], labels[index]), figures(b[index], labels[index])
        samples.append({name: fa[name] - fb[name] for name in shared})
    point = {name: point_a[name] - point_b[name] for name in shared}
    bounds = _percentiles(samples, point, level)
    return {name: Difference(point_a[name], point_b[name], Interval(point[name], *bounds[name]))
            for name in shared}
