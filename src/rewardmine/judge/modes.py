"""Listwise, pairwise and pointwise judging: which subsets the model sees, and how verdicts combine.

Every mode asks the model the same question (score and rank these responses under the principle)
over different subsets of the responses, so one prompt and one parser serve all three:

- listwise: all N responses in one call. Scores are the model's, averaged over permutations.
- pairwise: each of the C(N,2) pairs in its own call. A response's score is its number of wins
  (a tie on score is half a win to each), averaged over permutations, so it lies in [0, N-1].
- pointwise: each response alone, N calls. Scores are the model's, averaged over permutations.

Rankings sort by score; ties are broken by the mean rank position the model gave (listwise) or
the mean score in the pairs (pairwise), and keep the input order otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any, Literal

Mode = Literal["listwise", "pairwise", "pointwise"]
MODES: tuple[Mode, ...] = ("listwise", "pairwise", "pointwise")

GENRM_POINTWISE: dict[str, Any] = {"mode": "pointwise", "scale": (1, 10)}
"""The judge settings of the GenRM-pointwise baseline: each response rated alone on 1-10."""
GENRM_PAIRWISE: dict[str, Any] = {"mode": "pairwise"}
"""The judge settings of the GenRM-pairwise baseline: every pair compared, scores are wins."""

# One verdict over a subset, in the caller's ids: (scores, ranking).
Verdict = tuple[dict[str, float], list[str]]


def subsets(ids: Sequence[str], mode: Mode) -> list[tuple[str, ...]]:
    """The groups of response ids that each model call sees in ``mode``."""
    if mode == "listwise":
        return [tuple(ids)]
    if mode == "pairwise":
        if len(ids) < 2:
            raise ValueError("pairwise judging needs at least two responses")
        return list(combinations(ids, 2))
    if mode == "pointwise":
        return [(i,) for i in ids]
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


def calls(responses: int, mode: Mode, permutations: int = 1) -> int:
    """How many model calls judging one request of ``responses`` responses takes in ``mode``
    (before retries): 1, C(N,2) or N, times ``permutations``."""
    per_order = {"listwise": 1, "pairwise": responses * (responses - 1) // 2,
                 "pointwise": responses}
    if mode not in per_order:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    return per_order[mode] * permutations


def aggregate(ids: Sequence[str], mode: Mode, verdicts: Sequence[Verdict],
              permutations: int) -> tuple[dict[str, float], list[str]]:
    """Combine the verdicts of every call for one request into ``(scores, ranking)``."""
    order = {i: k for k, i in enumerate(ids)}
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    tiebreak: dict[str, float] = defaultdict(float)
    for scores, ranking in verdicts:
        if mode == "pairwise":
            a, b = ranking
            if scores[a] == scores[b]:
                totals[a] += 0.5
                totals[b] += 0.5
            else:  # the ranking agrees with the scores, so its first is the winner
                totals[a] += 1.0
            for i in (a, b):
                tiebreak[i] -= scores[i]  # a higher mean pair score ranks first
                counts[i] += 1
        else:
            for position, i in enumerate(ranking):
                totals[i] += scores[i]
                tiebreak[i] += position
                counts[i] += 1
    if mode == "pairwise":
        final = {i: totals[i] / permutations for i in ids}
    else:
        final = {i: totals[i] / counts[i] for i in ids}
    ranking = sorted(ids, key=lambda i: (-final[i], tiebreak[i] / max(counts[i], 1), order[i]))
    return final, ranking
