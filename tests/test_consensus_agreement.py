"""Agreement statistics against hand-computed textbook cases, and against scipy, statsmodels
and scikit-learn where those are installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardmine.consensus import cohens_kappa, fleiss_kappa, kendalls_w, pairwise_agreement
from rewardmine.consensus.agreement import fleiss_kappa_from_counts

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def test_fleiss_textbook_case():
    assert fleiss_kappa_from_counts(FLEISS_TABLE) == pytest.approx(0.20993, abs=1e-5)
    ratings = [[c for c, count in enumerate(row) for _ in range(count)] for row in FLEISS_TABLE]
    assert fleiss_kappa(ratings) == pytest.approx(0.20993, abs=1e-5)


def test_cohen_textbook_case():
    # 50 proposals: both yes 20, A yes B no 5, A no B yes 10, both no 15 -> po .7, pe .5, k .4
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohens_kappa(first, second) == pytest.approx(0.4)
    assert math.isnan(cohens_kappa(["y", "y"], ["y", "y"]))
    with pytest.raises(ValueError, match="rater 1 labelled 2 subjects and rater 2 1"):
        cohens_kappa(["y", "n"], ["y"])


def test_kendalls_w_by_hand_with_ties():
    # ranks a b c d: (1,2,3,4), (1,2.5,2.5,4), (2,1,4,3); sums 4, 5.5, 9.5, 11; S = 32.5
    rankings = [["a", "b", "c", "d"], ["a", ("b", "c"), "d"], ["b", "a", "d", "c"]]
    assert kendalls_w(rankings) == pytest.approx(12 * 32.5 / (9 * 60 - 3 * 6))
    assert kendalls_w(rankings, tie_correction=False) == pytest.approx(12 * 32.5 / (9 * 60))
    assert kendalls_w([["a", "b", "c"]] * 4) == pytest.approx(1.0)
    assert kendalls_w([["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]) == pytest.approx(0.0)


def test_pairwise_agreement_by_hand():
    assert pairwise_agreement([["a", "b", "c"], ["a", "c", "b"]]) == pytest.approx(2 / 3)
    assert pairwise_agreement([[("a", "b"), "c"], ["a", "b", "c"]]) == pytest.approx(2 / 3)
    three = [["a", "b", "c"], ["a", "c", "b"], ["b", "a", "c"]]
    # (1,2): ab ac agree -> 2/3; (1,3): ac bc agree -> 2/3; (2,3): ac agree only -> 1/3
    assert pairwise_agreement(three) == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)


def random_labels(rng, subjects, raters, categories):
    return [list(rng.integers(0, categories, size=raters)) for _ in range(subjects)]


def test_against_statsmodels_fleiss():
    irr = pytest.importorskip("statsmodels.stats.inter_rater", reason="statsmodels not installed")
    rng = np.random.default_rng(3)
    for raters in (2, 3, 5):
        ratings = random_labels(rng, 30, raters, 3)
        table, _ = irr.aggregate_raters(np.array(ratings))
        assert fleiss_kappa(ratings) == pytest.approx(irr.fleiss_kappa(table), abs=1e-12)


def test_against_sklearn_cohen():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn not installed")
    rng = np.random.default_rng(4)
    for _ in range(5):
        a, b = (list(rng.integers(0, 4, size=40)) for _ in range(2))
        assert cohens_kappa(a, b) == pytest.approx(metrics.cohen_kappa_score(a, b), abs=1e-12)


def test_against_scipy_friedman():
    """W = chi2_Friedman / (m (n - 1)), and scipy applies the same tie correction."""
    stats = pytest.importorskip("scipy.stats", reason="scipy not installed")
    rng = np.random.default_rng(5)
    for _ in range(5):
        m, n = 4, 5
        scores = rng.integers(0, 3, size=(m, n))  # few levels: many ties
        rankings = []
        for row in scores:
            rankings.append([tuple(f"i{i}" for i in np.flatnonzero(row == level))
                             for level in sorted(set(row), reverse=True)])
        chi2, _ = stats.friedmanchisquare(*scores.T)
        assert kendalls_w(rankings) == pytest.approx(chi2 / (m * (n - 1)))
