"""Kemeny consensus: the order that disagrees with the fewest (weighted) judge preferences.

For n responses, ``P[i, j]`` is the weight of judges ranking i above j (a tie gives half to each
side). The Kemeny cost of an order is the sum, over pairs it places i above j, of ``P[j, i]``.

Exact search is a dynamic program over subsets, O(2^n n^2) time and O(2^n n) memory:
``f(S) = min over x in S of [ sum_{y in S, y != x} P[y, x] + f(S - {x}) ]`` is the cheapest way
to order the set S below everything already placed, putting x at the top of S. Above
``exact_max`` items (default 16) ``kemeny`` switches to a local search started from the Borda
order (see ``docs/build-bench.md`` for its measured quality).

Ties between equally good orders are broken deterministically: items have a *tie order*, by
Borda score (``sum_j P[i, j]``, higher first) and then by position in the first ranking; among all
optimal orders ``kemeny`` returns the one that is lexicographically first in that tie order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rewardmine.consensus.rankings import (
    Id,
    Ranking,
    check_weights,
    items_of,
    preference_matrix,
)

Method = Literal["auto", "exact", "local_search"]

EXACT_MAX = 16
"""``kemeny(method="auto")`` is exact up to this many items and a local search above it."""

_EXACT_LIMIT = 22  # 2^22 x 22 float64 is 740 MiB; above this the exact table is refused


def kemeny(rankings: Sequence[Ranking], weights: Sequence[float] | None = None, *,
           method: Method = "auto", exact_max: int = EXACT_MAX) -> list[Id]:
    """The Kemeny consensus of ``rankings`` (best first), optionally weighting each judge.

    Args:
        rankings: lists of the same ids, best first; a list or tuple inside is a tie group.
        weights: one non-negative weight per ranking; ``None`` weighs every judge 1.
        method: "exact" (subset dynamic program), "local_search" (Borda, then best single-item
            moves until none lowers the cost), or "auto": exact up to ``exact_max`` items.
        exact_max: the largest list "auto" solves exactly.
    """
    items = items_of(rankings)
    matrix = preference_matrix(rankings, items, check_weights(weights, len(rankings)))
    order = solve(matrix, tie_order(matrix), method=method, exact_max=exact_max)
    return [items[i] for i in order]


def kemeny_cost(order: Sequence[Id], rankings: Sequence[Ranking],
                weights: Sequence[float] | None = None) -> float:
    """The weighted number of judge pair preferences that ``order`` contradicts (ties count 1/2)."""
    items = items_of(rankings)
    if len(order) != len(items) or set(order) != set(items):
        raise ValueError(f"order {list(order)!r} is not a permutation of the ranked ids {items!r}")
    matrix = preference_matrix(rankings, items, check_weights(weights, len(rankings)))
    index = {item: i for i, item in enumerate(items)}
    return order_cost(matrix, [index[item] for item in order])


def order_cost(matrix: np.ndarray, order: Sequence[int]) -> float:
    """Kemeny cost of an order of matrix indices."""
    position = np.empty(len(order), dtype=int)
    position[list(order)] = np.arange(len(order))
    above = position[:, None] < position[None, :]
    return float(matrix.T[above].sum())


def tie_order(matrix: np.ndarray) -> list[int]:
    """Indices by Borda score (higher first), then by index (the first ranking's order)."""
    borda = matrix.sum(axis=1)
    return sorted(range(len(borda)), key=lambda i: (-borda[i], i))


def solve(matrix: np.ndarray, ties: Sequence[int], *, method: Method = "auto",
          exact_max: int = EXACT_MAX) -> list[int]:
    """Kemeny order of matrix indices; ``ties`` is the tie order (see the module docstring)."""
    n = len(matrix)
    if method not in ("auto", "exact", "local_search"):
        raise ValueError(f"method={method!r}; use 'auto', 'exact' or 'local_search'")
    if method == "exact" or (method == "auto" and n <= exact_max):
        if n > _EXACT_LIMIT:
            raise ValueError(
                f"exact Kemeny over {n} items needs a 2^{n}-row table; use at most "
                f"{_EXACT_LIMIT} items or method='local_search'"
            )
        return _exact(matrix, ties)
    return _local_search(matrix, ties)


def _exact(matrix: np.ndarray, ties: Sequence[int]) -> list[int]:
    n = len(matrix)
    size = 1 << n
    # against[T, x] = sum over y in T of P[y, x]: the cost of putting x above all of T.
    against = np.zeros((size, n))
    for bit in range(n):
        low = 1 << bit
        against[low:2 * low] = against[:low] + matrix[bit]
    popcount = np.zeros(size, dtype=np.int64)
    for bit in range(n):
        popcount[1 << bit:2 << bit] = popcount[:1 << bit] + 1
    layers = np.argsort(popcount, kind="stable")
    bounds = np.searchsorted(popcount[layers], np.arange(n + 2))
    best = np.full(size, np.inf)
    best[0] = 0.0
    for count in range(1, n + 1):
        layer = layers[bounds[count]:bounds[count + 1]]
        for x in range(n):
            sets = layer[(layer >> x) & 1 == 1]
            rest = sets ^ (1 << x)
            best[sets] = np.minimum(best[sets], against[rest, x] + best[rest])
    tolerance = 1e-9 * max(1.0, float(matrix.sum()))
    order: list[int] = []
    remaining = size - 1
    while remaining:
        for x in ties:
            if (remaining >> x) & 1:
                rest = remaining ^ (1 << x)
                if against[rest, x] + best[rest] <= best[remaining] + tolerance:
                    order.append(x)
                    remaining = rest
                    break
    return order


def _local_search(matrix: np.ndarray, ties: Sequence[int]) -> list[int]:
    """Borda order, then repeatedly the single-item move that lowers the cost most."""
    order = list(ties)
    margin = matrix - matrix.T  # margin[i, j] > 0: judges prefer i over j on balance
    tolerance = 1e-9 * max(1.0, float(matrix.sum()))
    while True:
        best_gain, best_move = tolerance, None
        for p, x in enumerate(order):
            # moving x up past order[q..p-1] gains margin[x, y] for each y passed
            gain = 0.0
            for q in range(p - 1, -1, -1):
                gain += margin[x, order[q]]
                if gain > best_gain:
                    best_gain, best_move = gain, (p, q)
            gain = 0.0
            for q in range(p + 1, len(order)):
                gain += margin[order[q], x]
                if gain > best_gain:
                    best_gain, best_move = gain, (p, q)
        if best_move is None:
            return order
        p, q = best_move
        order.insert(q, order.pop(p))
