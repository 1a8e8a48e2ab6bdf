import itertools

import numpy as np
import pytest

from rewardmine.bench.metrics import PairCounts, ndcg, pairwise_counts
from rewardmine.bench.stats import bootstrap, paired_bootstrap
from rewardmine.statistics import kendall_tau_b


def test_pairwise_counts_ties_explicit():
    counts = pairwise_counts([3, 1, 2, 2], [1, 2, 2, 0])
    assert counts == PairCounts(wins=2, ties=1, losses=1)
    assert counts.accuracy == 0.5
    assert counts.accuracy_ties_half == 0.625


def test_pairwise_counts_rejects_nan_and_mismatch():
    with pytest.raises(ValueError, match="NaN at positions \\[1\\]"):
        pairwise_counts([1, float("nan")], [0, 0])
    with pytest.raises(ValueError, match="pair them"):
        pairwise_counts([1, 2], [0])


def _tau_b_brute(x, y):
    concordant = discordant = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            tx += 1
            ty += 1
        elif dx == 0:
            tx += 1
        elif dy == 0:
            ty += 1
        elif dx * dy > 0:
            concordant += 1
        else:
            discordant += 1
    n0 = len(x) * (len(x) - 1) / 2
    return (concordant - discordant) / np.sqrt((n0 - tx) * (n0 - ty))


def test_kendall_tau_b_against_brute_force_and_scipy():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(3, 9))
        x = rng.integers(0, 3, size=n).astype(float)
        y = rng.integers(0, 4, size=n).astype(float)
        if len(set(x)) == 1 or len(set(y)) == 1:
            assert np.isnan(kendall_tau_b(x, y))
            continue
        assert kendall_tau_b(x, y) == pytest.approx(_tau_b_brute(x, y))
        scipy_stats = pytest.importorskip("scipy.stats")
        assert kendall_tau_b(x, y) == pytest.approx(scipy_stats.kendalltau(x, y).statistic)


def test_kendall_tau_b_hand_case():
    # x = 1,2,3 ; y = 1,1,2: pairs (1,2) tie in y, (1,3) and (2,3) concordant.
    assert kendall_tau_b([1, 2, 3], [1, 1, 2]) == pytest.approx(2 / np.sqrt(3 * 2))


def test_ndcg_hand_cases():
    assert ndcg([3, 2, 1], [2, 1, 0]) == pytest.approx(1.0)
    # reversed: DCG = 0 + 1/log2(3) + 2/log2(4); IDCG = 2 + 1/log2(3)
    expected = (1 / np.log2(3) + 2 / 2) / (2 + 1 / np.log2(3))
    assert ndcg([1, 2, 3], [2, 1, 0]) == pytest.approx(expected)
    # a full tie gets the mean discount: each item (1 + 1/log2 3 + 1/2) / 3
    mean_discount = (1 + 1 / np.log2(3) + 0.5) / 3
    assert ndcg([5, 5, 5], [2, 1, 0]) == pytest.approx(3 * mean_discount / (2 + 1 / np.log2(3)))
    # the tie's value does not depend on input order
    assert ndcg([5, 5, 1], [0, 2, 1]) == pytest.approx(ndcg([5, 5, 1], [2, 0, 1]))
    assert ndcg([1, 2], [0, 1], gain="exponential", k=1) == pytest.approx(1.0)


def _mean_figures(values, strata):
    return {"mean": float(values[:, 0].mean())}


def test_bootstrap_is_seeded_and_covers_the_mean():
    values = np.array([[1.0]] * 70 + [[0.0]] * 30)
    strata = np.array(["a"] * 100)
    first = bootstrap(values, strata, _mean_figures, resamples=500, seed=3)["mean"]
    again = bootstrap(values, strata, _mean_figures, resamples=500, seed=3)["mean"]
    assert first == again
    assert first.estimate == pytest.approx(0.7)
    assert first.low < 0.7 < first.high
    # binomial standard error sqrt(.7*.3/100) ~ 0.046: the 95% interval is about +-0.09
    assert 0.05 < first.high - first.low < 0.25


def test_bootstrap_keeps_strata_sizes():
    values = np.array([[1.0]] * 10 + [[0.0]] * 90)
    strata = np.array(["x"] * 10 + ["y"] * 90)

    def share_x(v, s):
        return {"n_x": float((s == "x").sum())}

    interval = bootstrap(values, strata, share_x, resamples=50, seed=0)["n_x"]
    assert interval.low == interval.high == 10


def test_paired_bootstrap_difference():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, size=(200, 1)).astype(float)
    better = base.copy()
    better[:30] = 1.0
    strata = np.array(["s"] * 200)
    result = paired_bootstrap(better, base, strata, _mean_figures, resamples=400, seed=1)["mean"]
    assert result.a - result.b == pytest.approx(result.difference.estimate)
    assert result.difference.estimate > 0
    assert result.difference.low > 0  # B never beats A on any item
    same = paired_bootstrap(base, base, strata, _mean_figures, resamples=50, seed=1)["mean"]
    assert same.difference.low == same.difference.high == 0
