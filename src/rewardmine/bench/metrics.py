"""Ranking metrics for reward models: pairwise outcomes with explicit ties and the benchmarks' tie
rules, and NDCG (Kendall's tau-b is :func:`rewardmine.statistics.kendall_tau_b`).

This module is the one home of tie arithmetic. A benchmark names its official tie rule
(:data:`TIE_RULES`); :func:`tie_credit` turns the rule and the kind of scorer into what a tied pair
earns, and :func:`pair_outcomes` scores pairs with it. A pair whose two responses are identical
is scored like any other, as the official scripts do (a scalar scorer gives it equal scores, so it
is a tie and earns the tie credit); the benchmarks count such pairs
(:func:`rewardmine.bench.base.identical_pairs`) and report them beside the tie rate.

Each function takes plain sequences of numbers and is exact (no sampling); the bootstrap lives in
:mod:`rewardmine.bench.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScorerKind = Literal["scalar", "generative"]
"""A scalar scorer gives each response a number of its own (the endogenous reward, the verifier,
a classifier); a generative judge reads the candidates and returns a verdict (a list judge)."""

TieRule = Literal["strict", "half", "by-kind"]
TIE_RULES: dict[str, str] = {
    "strict": "a tie is wrong (0)",
    "half": "a tie is half right (0.5)",
    "by-kind": "a tie is wrong (0) for a scalar scorer and half right (0.5) for a generative judge",
}
TIE_PREFIX = "tie_rate/"
"""A figure's tie rate is reported as the figure ``tie_rate/KEY`` (:func:`tie_rate_key`)."""


def tie_rate_key(key: str) -> str:
    """The name under which figure ``key``'s tie rate is reported."""
    return TIE_PREFIX + key


DEGENERATE_TIE_RATE = 0.9
"""A scorer that ties on this share of pairs or more is flagged degenerate: its accuracy then
measures the tie rule, not its preferences."""


def tie_credit(rule: TieRule, kind: ScorerKind) -> float:
    """What a tied pair earns under a benchmark's tie ``rule`` for a scorer of ``kind``."""
    if kind not in ("scalar", "generative"):
        raise ValueError(f"scorer kind must be 'scalar' or 'generative', got {kind!r}")
    if rule == "strict":
        return 0.0
    if rule == "half":
        return 0.5
    if rule == "by-kind":
        return 0.5 if kind == "generative" else 0.0
    raise ValueError(f"unknown tie rule {rule!r}; known: {sorted(TIE_RULES)}")


def scorer_kind(reward: Any) -> ScorerKind:
    """The kind of a reward as the runner holds it: a list judge is generative, except a scorer
    wrapped as one (:class:`~rewardmine.conversions.ScorerJudge`); a scorer is scalar."""
    from rewardmine.conversions import ScorerJudge
    from rewardmine.protocols import is_list_judge, is_scorer

    if isinstance(reward, ScorerJudge) or is_scorer(reward):
        return "scalar"
    if is_list_judge(reward):
        return "generative"
    raise TypeError(f"a {type(reward).__name__} is neither a scorer nor a list judge")


@dataclass(frozen=True)
class PairCounts:
    """Outcomes of comparing a preferred response with a dispreferred one, pair by pair.

    A tie (equal scores) is neither a win nor a loss; ``score(credit)`` gives it ``credit``
    (:func:`tie_credit`).
    """

    wins: int
    ties: int
    losses: int

    @property
    def total(self) -> int:
        return self.wins + self.ties + self.losses

    def score(self, credit: float) -> float:
        """(wins + credit * ties) / total."""
        return (self.wins + credit * self.ties) / self.total if self.total else float("nan")

    @property
    def accuracy(self) -> float:
        """A tie counted as wrong (the strict rule)."""
        return self.score(0.0)

    @property
    def accuracy_ties_half(self) -> float:
        return self.score(0.5)

    @property
    def tie_rate(self) -> float:
        return self.ties / self.total if self.total else float("nan")

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(self.wins + other.wins, self.ties + other.ties,
                          self.losses + other.losses)


def pair_outcomes(preferred: np.ndarray, other: np.ndarray, *, credit: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, (what it earns, whether it is tied): 1 for a strict win, ``credit`` for a tie,
    0 for a loss. Identical responses get no special case: they earn what their scores earn."""
    a, b = np.asarray(preferred, dtype=np.float64), np.asarray(other, dtype=np.float64)
    tied = (a == b).astype(np.float64)
    earned = (a > b) + credit * tied
    return earned, tied


def with_tie_rates(figures: Callable[[np.ndarray, np.ndarray], Mapping[str, float]],
                   earned: np.ndarray, tied: np.ndarray, strata: np.ndarray) -> dict[str, float]:
    """A benchmark's figures from what its pairs earned, plus ``tie_rate/KEY`` beside each: the
    same arithmetic applied to the tie indicators, so a figure's tie rate weighs its pairs as
    the figure does."""
    out = dict(figures(earned, strata))
    out.update({tie_rate_key(key): value for key, value in figures(tied, strata).items()})
    return out


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
