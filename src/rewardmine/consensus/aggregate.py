"""The consensus of several judges over one list: a Kemeny order plus a score per response.

Scores come in two kinds, chosen with ``score=``:

- ``"win_rate"`` (always available): the weighted share of pairwise comparisons a response wins
  against the others, a judge's tie counting half a win, so it lies in [0, 1] (0.5 for a list of
  one). It is the normalised Borda count and needs no shared score scale between judges.
- ``"mean"``: the weighted mean of the judges' own scores; use it when every judge scored on the
  same scale (for example 1-10). Every judge must then score every response.

Adjacent responses in the consensus order whose pairwise margin is exactly zero (as many weighted
judges prefer one as the other) form a tie group in ``Consensus.groups``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rewardmine.consensus.kemeny import EXACT_MAX, Method, order_cost, solve, tie_order
from rewardmine.consensus.rankings import (
    Id,
    Ranking,
    check_weights,
    items_of,
    preference_matrix,
)
from rewardmine.types import Judgement

ScoreKind = Literal["win_rate", "mean"]


@dataclass(frozen=True)
class Consensus:
    """A consensus ranking (strict, best first), its scores, tie groups and Kemeny cost."""

    ranking: list[Id]
    scores: dict[Id, float]
    groups: list[list[Id]]
    cost: float
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {"ranking": self.ranking, "scores": self.scores, "groups": self.groups,
                "cost": self.cost, "exact": self.exact}


def consensus(rankings: Sequence[Ranking], weights: Sequence[float] | None = None, *,
              judge_scores: Sequence[Mapping[Id, float]] | None = None,
              score: ScoreKind = "win_rate", method: Method = "auto",
              exact_max: int = EXACT_MAX) -> Consensus:
    """Kemeny consensus of ``rankings`` with a score per response (see the module docstring).

    Args:
        rankings: lists of the same ids, best first; a list or tuple inside is a tie group.
        weights: one non-negative weight per judge; ``None`` weighs every judge 1.
        judge_scores: each judge's scores, parallel to ``rankings``; needed for ``score="mean"``.
        score: "win_rate" or "mean".
        method, exact_max: as in ``kemeny``.
    """
    items = items_of(rankings)
    weight = check_weights(weights, len(rankings))
    matrix = preference_matrix(rankings, items, weight)
    order = solve(matrix, tie_order(matrix), method=method, exact_max=exact_max)
    n = len(items)
    if score == "win_rate":
        wins = matrix.sum(axis=1) / (weight.sum() * (n - 1)) if n > 1 else np.full(1, 0.5)
        scores = {item: float(wins[i]) for i, item in enumerate(items)}
    elif score == "mean":
        scores = _mean_scores(items, judge_scores, weight)
    else:
        raise ValueError(f"score={score!r}; use 'win_rate' or 'mean'")
    groups: list[list[Id]] = [[items[order[0]]]]
    for above, below in itertools.pairwise(order):
        if matrix[above, below] == matrix[below, above]:
            groups[-1].append(items[below])
        else:
            groups.append([items[below]])
    exact = method == "exact" or (method == "auto" and n <= exact_max)
    return Consensus(ranking=[items[i] for i in order], scores=scores, groups=groups,
                     cost=order_cost(matrix, order), exact=exact)


def _mean_scores(items: list[Id], judge_scores: Sequence[Mapping[Id, float]] | None,
                 weight: np.ndarray) -> dict[Id, float]:
    if judge_scores is None:
        raise ValueError("score='mean' needs judge_scores, one dict of scores per ranking")
    if len(judge_scores) != len(weight):
        raise ValueError(f"got {len(judge_scores)} judge_scores for {len(weight)} rankings; "
                         "give one dict per ranking")
    table = np.empty((len(weight), len(items)))
    for j, scores in enumerate(judge_scores):
        for i, item in enumerate(items):
            if item not in scores:
                raise ValueError(f"judge {j} gave no score to {item!r}; score='mean' needs "
                                 "every judge to score every response (or use 'win_rate')")
            table[j, i] = float(scores[item])
    if not np.isfinite(table).all():
        raise ValueError("judge_scores hold a non-finite score; scores must be finite numbers")
    mean = weight @ table / weight.sum()
    return {item: float(mean[i]) for i, item in enumerate(items)}


def rankings_from_judgements(judgements: Sequence[Judgement], *, tie_tolerance: float = 0.0
                             ) -> tuple[list[list[Any]], list[dict[str, float]]]:
    """Each judgement's ranking with its score ties as tie groups, and its scores.

    Neighbours in ``judgement.ranking`` whose scores differ by at most ``tie_tolerance`` are
    tied. A judgement that is invalid, or whose scores rise somewhere along its ranking, is an
    error naming it: drop or re-run such judgements before taking a consensus.
    """
    rankings: list[list[Any]] = []
    all_scores: list[dict[str, float]] = []
    for index, judgement in enumerate(judgements):
        if not judgement.ok:
            raise ValueError(f"judgement {index} is invalid ({judgement.error}); re-run or drop it")
        if not judgement.ranking:
            raise ValueError(f"judgement {index} has an empty ranking")
        scores = dict(judgement.scores)
        if not scores:
            rankings.append(list(judgement.ranking))
            all_scores.append({})
            continue
        missing = [item for item in judgement.ranking if item not in scores]
        if missing:
            raise ValueError(f"judgement {index} ranks {missing[0]!r} but gives it no score")
        groups: list[list[str]] = [[judgement.ranking[0]]]
        for above, below in itertools.pairwise(judgement.ranking):
            if scores[below] > scores[above] + tie_tolerance:
                raise ValueError(
                    f"judgement {index} ranks {above!r} above {below!r} but scores it lower "
                    f"({scores[above]} < {scores[below]}); its ranking and scores disagree"
                )
            if scores[above] - scores[below] <= tie_tolerance:
                groups[-1].append(below)
            else:
                groups.append([below])
        rankings.append([g[0] if len(g) == 1 else tuple(g) for g in groups])
        all_scores.append(scores)
    return rankings, all_scores
