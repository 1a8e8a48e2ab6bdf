"""The K-of-M filter: trust only the pair orders that at least K of M judges agree on.

A pair (a, b) is *kept* as "a above b" when at least K judges rank a strictly above b (a judge's
tie supports neither side). The verified list is then the largest subset of responses in which
every pair is kept in exactly one direction and those directions form one total order; it is
found by a dynamic program over subsets (a set is a verified list when some member is kept above
all the others and the rest is a verified list). Among equally large subsets the one holding the
responses that come first in ``priority`` (by default the Kemeny consensus) is chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardmine.consensus.kemeny import kemeny
from rewardmine.consensus.rankings import Id, Ranking, groups, items_of

_SUBSET_LIMIT = 22


@dataclass(frozen=True)
class Filtered:
    """Kept pairs as (above, below), the verified list best first, and the dropped responses."""

    kept_pairs: list[tuple[Id, Id]]
    ranking: list[Id]
    dropped: list[Id]

    def to_dict(self) -> dict[str, Any]:
        return {"kept_pairs": [list(p) for p in self.kept_pairs], "ranking": self.ranking,
                "dropped": self.dropped}


def kept_pairs(rankings: Sequence[Ranking], k: int) -> list[tuple[Id, Id]]:
    """Pairs (a, b) that at least ``k`` of the rankings put strictly as a above b."""
    items = items_of(rankings)
    m = len(rankings)
    if not 1 <= k <= m:
        raise ValueError(f"k={k} with {m} judges; k must be between 1 and {m}")
    index = {item: i for i, item in enumerate(items)}
    support = np.zeros((len(items), len(items)), dtype=int)
    for ranking in rankings:
        level = np.empty(len(items))
        for depth, group in enumerate(groups(ranking)):
            for item in group:
                level[index[item]] = depth
        support += level[:, None] < level[None, :]
    return [(items[a], items[b]) for a, b in zip(*np.nonzero(support >= k), strict=True)]


def k_of_m_filter(rankings: Sequence[Ranking], k: int, *,
                  priority: Sequence[Id] | None = None) -> Filtered:
    """Keep pairs with at least ``k`` of ``len(rankings)`` judges agreeing; the largest verified list.

    Args:
        rankings: the judges' rankings of one list (best first; tuples are tie groups).
        k: how many judges must agree on a pair's order for it to be kept.
        priority: every id once, most wanted first; breaks ties between equally large lists.
            Defaults to the Kemeny consensus of ``rankings``.
    """
    items = items_of(rankings)
    pairs = kept_pairs(rankings, k)
    if priority is None:
        priority = kemeny(rankings)
    if len(priority) != len(items) or set(priority) != set(items):
        raise ValueError(f"priority {list(priority)!r} must list every ranked id once: {items!r}")
    n = len(items)
    if n > _SUBSET_LIMIT:
        raise ValueError(f"the K-of-M filter is exact over subsets; {n} responses is more than "
                         f"{_SUBSET_LIMIT}. Split the list")
    index = {item: i for i, item in enumerate(priority)}
    above = np.zeros((n, n), dtype=bool)
    for a, b in pairs:
        above[index[a], index[b]] = True
    strict = above & ~above.T  # kept in exactly one direction
    beats = np.array([sum(1 << j for j in np.flatnonzero(strict[i])) for i in range(n)],
                     dtype=np.int64)
    size = 1 << n
    popcount = np.zeros(size, dtype=np.int64)
    preference = np.zeros(size, dtype=np.int64)  # higher for subsets of earlier-priority items
    for bit in range(n):
        popcount[1 << bit:2 << bit] = popcount[:1 << bit] + 1
        preference[1 << bit:2 << bit] = preference[:1 << bit] + (1 << (n - 1 - bit))
    layers = np.argsort(popcount, kind="stable")
    bounds = np.searchsorted(popcount[layers], np.arange(n + 2))
    valid = np.zeros(size, dtype=bool)
    top = np.full(size, -1, dtype=np.int64)
    valid[0] = True
    for count in range(1, n + 1):
        layer = layers[bounds[count]:bounds[count + 1]]
        for x in range(n):
            sets = layer[(layer >> x) & 1 == 1]
            rest = sets ^ (1 << x)
            ok = valid[rest] & ((rest & ~beats[x]) == 0)
            valid[sets[ok]] = True
            top[sets[ok]] = x
    largest = popcount[valid].max()
    candidates = np.flatnonzero(valid & (popcount == largest))
    chosen = int(candidates[np.argmax(preference[candidates])])
    order = []
    while chosen:
        x = int(top[chosen])
        order.append(priority[x])
        chosen ^= 1 << x
    dropped = [item for item in priority if item not in set(order)]
    return Filtered(kept_pairs=pairs, ranking=order, dropped=dropped)
