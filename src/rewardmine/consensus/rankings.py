"""Rankings as rewardmine's consensus code reads them, and the pairwise preference matrix.

A ranking is a list, best first, of response ids (strings or ints). An element that is a list or
tuple is a group of ids the judge tied. Every ranking of one list must hold the same ids, each once.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

Id = Hashable
Ranking = Sequence[Any]


def groups(ranking: Ranking) -> list[list[Id]]:
    """The ranking as tie groups, best first: ``["a", ("b", "c")]`` -> ``[["a"], ["b", "c"]]``."""
    out: list[list[Id]] = []
    for element in ranking:
        if isinstance(element, list | tuple):
            if not element:
                raise ValueError(f"ranking {list(ranking)!r} holds an empty tie group; remove it")
            out.append(list(element))
        else:
            out.append([element])
    return out


def items_of(rankings: Sequence[Ranking]) -> list[Id]:
    """The ids the rankings share, in the order of the first ranking; a mismatch is an error."""
    if not rankings:
        raise ValueError("no rankings given; pass at least one ranking")
    reference: list[Id] | None = None
    for index, ranking in enumerate(rankings):
        flat = [item for group in groups(ranking) for item in group]
        for item in flat:
            if isinstance(item, set | frozenset | dict):
                raise ValueError(f"ranking {index}: id {item!r} is not a string or int")
        if len(set(flat)) != len(flat):
            seen: set[Id] = set()
            twice = [item for item in flat if item in seen or seen.add(item)]
            raise ValueError(f"ranking {index} lists {twice[0]!r} twice; each id appears once")
        if reference is None:
            reference = flat
            if not flat:
                raise ValueError("ranking 0 is empty; rankings need at least one id")
        elif set(flat) != set(reference):
            missing = sorted(map(repr, set(reference) - set(flat)))
            extra = sorted(map(repr, set(flat) - set(reference)))
            raise ValueError(
                f"ranking {index} does not hold the ids of ranking 0 (missing {missing}, "
                f"extra {extra}); every ranking must rank the same responses"
            )
    assert reference is not None
    return reference


def check_weights(weights: Sequence[float] | None, count: int) -> np.ndarray:
    """Judge weights as an array; ``None`` is weight 1 each. Negative or NaN weights are errors."""
    if weights is None:
        return np.ones(count)
    array = np.asarray(weights, dtype=float)
    if array.shape != (count,):
        raise ValueError(f"got {array.size} weights for {count} rankings; give one per ranking")
    bad = np.flatnonzero(~np.isfinite(array) | (array < 0))
    if bad.size:
        raise ValueError(f"weight {bad[0]} is {array[bad[0]]}; weights must be finite and >= 0")
    if array.sum() == 0:
        raise ValueError("all weights are 0; at least one ranking needs a positive weight")
    return array


def preference_matrix(rankings: Sequence[Ranking], items: Sequence[Id],
                      weights: np.ndarray) -> np.ndarray:
    """``P[i, j]``: total weight of the rankings that put ``items[i]`` above ``items[j]``.

    A judge that ties i and j gives half its weight to each direction, so ``P + P.T`` is the
    total weight off the diagonal.
    """
    index = {item: position for position, item in enumerate(items)}
    n = len(items)
    matrix = np.zeros((n, n))
    for ranking, weight in zip(rankings, weights, strict=True):
        level = np.empty(n)
        for depth, group in enumerate(groups(ranking)):
            for item in group:
                level[index[item]] = depth
        above = level[:, None] < level[None, :]
        tied = level[:, None] == level[None, :]
        np.fill_diagonal(tied, False)
        matrix += weight * (above + 0.5 * tied)
    return matrix


def ranking_from_scores(scores: Mapping[Id, float], *, tolerance: float = 0.0) -> list[Any]:
    """A ranking with tie groups from one judge's scores (higher is better).

    Scores within ``tolerance`` of the previous score in descending order join its group, so a
    judge's equal scores become a tie rather than an arbitrary order.
    """
    if not scores:
        raise ValueError("scores are empty; a judge must score at least one response")
    for key, value in scores.items():
        if not np.isfinite(value):
            raise ValueError(f"score of {key!r} is {value}; scores must be finite numbers")
    ordered = sorted(scores, key=lambda key: -scores[key])
    out: list[list[Id]] = [[ordered[0]]]
    for previous, key in itertools.pairwise(ordered):
        if scores[previous] - scores[key] <= tolerance:
            out[-1].append(key)
        else:
            out.append([key])
    return [group[0] if len(group) == 1 else tuple(group) for group in out]


def restrict(ranking: Ranking, keep: set[Id] | frozenset[Id]) -> list[Any]:
    """``ranking`` with only the ids in ``keep``, tie groups kept (and emptied ones removed)."""
    out: list[Any] = []
    for group in groups(ranking):
        left = [item for item in group if item in keep]
        if left:
            out.append(left[0] if len(left) == 1 else tuple(left))
    return out
