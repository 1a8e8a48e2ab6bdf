"""Agreement statistics: between judges' rankings, and between human annotators' labels.

- ``pairwise_agreement``: over every two rankings and every pair of items, the share on which
  both give the same relation (above, tied or below).
- ``kendalls_w``: Kendall's coefficient of concordance W = 12 S / (m^2 (n^3 - n) - m sum T) over
  average ranks, where S is the sum of squared deviations of the rank sums and
  T = sum (t^3 - t) over each judge's tie groups of size t (the tie correction; 0 without ties).
- ``fleiss_kappa``: chance-corrected agreement of a fixed number of raters per subject.
- ``cohens_kappa``: chance-corrected agreement of two raters.

Kappa is undefined when chance agreement is 1 (everyone used one label); it is then ``nan``.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence

import numpy as np

from rewardmine.consensus.rankings import Ranking, groups, items_of


def _levels(rankings: Sequence[Ranking]) -> np.ndarray:
    """Rankings as a judges x items array of tie-group depths (0 is best)."""
    items = items_of(rankings)
    index = {item: i for i, item in enumerate(items)}
    out = np.empty((len(rankings), len(items)))
    for j, ranking in enumerate(rankings):
        for depth, group in enumerate(groups(ranking)):
            for item in group:
                out[j, index[item]] = depth
    return out


def pairwise_agreement(rankings: Sequence[Ranking]) -> float:
    """Mean, over pairs of rankings and pairs of items, of agreeing on the pair's relation."""
    if len(rankings) < 2:
        raise ValueError(f"pairwise agreement needs at least 2 rankings, got {len(rankings)}")
    levels = _levels(rankings)
    n = levels.shape[1]
    if n < 2:
        raise ValueError("pairwise agreement needs lists of at least 2 items")
    upper = np.triu_indices(n, k=1)
    relation = [np.sign(row[:, None] - row[None, :])[upper] for row in levels]
    shares = [np.mean(a == b) for a, b in itertools.combinations(relation, 2)]
    return float(np.mean(shares))


def average_ranks(ranking: Ranking, items: Sequence[Hashable]) -> np.ndarray:
    """Ranks 1..n of ``items`` in ``ranking``, tied items sharing the mean of their ranks."""
    out = np.empty(len(items))
    index = {item: i for i, item in enumerate(items)}
    start = 1
    for group in groups(ranking):
        for item in group:
            out[index[item]] = start + (len(group) - 1) / 2
        start += len(group)
    return out


def kendalls_w(rankings: Sequence[Ranking], *, tie_correction: bool = True) -> float:
    """Kendall's W in [0, 1] over m rankings of the same n items (see the module docstring)."""
    items = items_of(rankings)
    m, n = len(rankings), len(items)
    if m < 2 or n < 2:
        raise ValueError(f"Kendall's W needs at least 2 rankings of 2 items; got {m} of {n}")
    ranks = np.array([average_ranks(r, items) for r in rankings])
    totals = ranks.sum(axis=0)
    s = float(((totals - totals.mean()) ** 2).sum())
    ties = 0.0
    if tie_correction:
        ties = sum(len(g) ** 3 - len(g) for r in rankings for g in groups(r))
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator == 0:
        return float("nan")  # every judge tied everything: no ordering to agree on
    return 12 * s / denominator


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float:
    """Fleiss' kappa; ``ratings[i]`` holds the labels every rater gave subject i (same count)."""
    if not ratings:
        raise ValueError("fleiss_kappa needs at least one subject")
    raters = len(ratings[0])
    for i, row in enumerate(ratings):
        if len(row) != raters:
            raise ValueError(f"subject {i} has {len(row)} ratings, subject 0 has {raters}; "
                             "Fleiss' kappa needs the same number of raters per subject")
    if raters < 2:
        raise ValueError("fleiss_kappa needs at least 2 raters per subject")
    labels = sorted({label for row in ratings for label in row}, key=repr)
    counts = np.array([[row.count(label) for label in labels] for row in map(list, ratings)],
                      dtype=float)
    return fleiss_kappa_from_counts(counts)


def fleiss_kappa_from_counts(counts: np.ndarray) -> float:
    """Fleiss' kappa from a subjects x categories table of how many raters chose each."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    r = raters[0]
    observed = float(((counts * (counts - 1)).sum(axis=1) / (r * (r - 1))).mean())
    shares = counts.sum(axis=0) / counts.sum()
    chance = float((shares**2).sum())
    if chance == 1.0:
        return float("nan")
    return (observed - chance) / (1 - chance)


def cohens_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters' labels over the same subjects."""
    if len(first) != len(second):
        raise ValueError(f"rater 1 labelled {len(first)} subjects and rater 2 {len(second)}; "
                         "both must label the same subjects")
    if not first:
        raise ValueError("cohens_kappa needs at least one subject")
    observed = float(np.mean([a == b for a, b in zip(first, second, strict=True)]))
    labels = set(first) | set(second)
    chance = sum((list(first).count(label) / len(first)) * (list(second).count(label) / len(first))
                 for label in labels)
    if chance == 1.0:
        return float("nan")
    return (observed - chance) / (1 - chance)
