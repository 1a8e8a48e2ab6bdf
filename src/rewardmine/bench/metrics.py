"""Ranking metrics for reward models: pairwise accuracy with explicit ties, and NDCG (Kendall's tau-b
is :func:`rewardmine.statistics.kendall_tau_b`).

Each function takes plain sequences of numbers and is exact (no sampling); the bootstrap lives in
:mod:`rewardmine.bench.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class PairCounts:
    """Outcomes of comparing a preferred response with a dispreferred one, pair by pair.

    A tie (equal scores) is neither a win nor a loss; ``accuracy`` counts it as wrong (the strict
    convention of RewardBench and RM-Bench) and ``accuracy_ties_half`` as half right.
    """

    wins: int
    ties: int
    losses: int

    @property
    def total(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def accuracy(self) -> float:
        return self.wins / self.total if self.total else float("nan")

    @property
    def accuracy_ties_half(self) -> float:
        return (self.wins + 0.5 * self.ties) / self.total if self.total else float("nan")

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(self.wins + other.wins, self.ties + other.ties,
                          self.losses + other.losses)


def _vector(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers, got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"{name} holds NaN at positions {np.flatnonzero(np.isnan(array)).tolist()}"
                         "; score those items again or remove them explicitly")
    return array


def pairwise_counts(preferred: Sequence[float], other: Sequence[float]) -> PairCounts:
    """Wins, ties and losses of ``preferred[i]`` against ``other[i]`` (parallel sequences)."""
    a, b = _vector(preferred, "preferred"), _vector(other, "other")
    if a.shape != b.shape:
        raise ValueError(f"preferred has {a.size} scores but other has {b.size}; pair them 1:1")
    return PairCounts(int((a > b).sum()), int((a == b).sum()), int((a < b).sum()))


def ndcg(scores: Sequence[float], relevance: Sequence[float], *, k: int | None = None,
         gain: Literal["linear", "exponential"] = "linear") -> float:
    """Normalised discounted cumulative gain of ranking items by ``scores``.

    Items with equal scores share the mean discount of the positions they occupy (the expected
    DCG over the orders of the tie), so the value does not depend on input order.

    Args:
        scores: predicted scores, higher ranks first.
        relevance: graded truth (non-negative), higher is better.
        k: cut-off; ``None`` uses the whole list.
        gain: "linear" uses rel, "exponential" uses 2**rel - 1.
    """
    s, rel = _vector(scores, "scores"), _vector(relevance, "relevance")
    if s.shape != rel.shape:
        raise ValueError(f"scores has {s.size} values but relevance has {rel.size}")
    if (rel < 0).any():
        raise ValueError("relevance must be non-negative")
    n = s.size
    depth = n if k is None else min(k, n)
    if depth < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    gains = rel if gain == "linear" else np.power(2.0, rel) - 1.0
    discount = np.zeros(n)
    discount[:depth] = 1.0 / np.log2(np.arange(2, depth + 2))
    order = np.argsort(-s, kind="stable")
    shared = np.empty(n)
    start = 0
    while start < n:  # give every member of a tied block the mean discount of its positions
        stop = start + 1
        while stop < n and s[order[stop]] == s[order[start]]:
            stop += 1
        shared[order[start:stop]] = discount[start:stop].mean()
        start = stop
    ideal = float(np.sum(np.sort(gains)[::-1] * discount))
    return float(np.sum(gains * shared) / ideal) if ideal > 0 else float("nan")
