"""The paired tests, the multiple-comparison adjustment and the verdict rule, each against an
independent reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from rewardmine.statistics import (
    CANNOT_TELL,
    MIN_ITEMS_FOR_VERDICT,
    holm,
    paired_effect,
    paired_permutation_pvalue,
    verdict,
)


def mean_of_first(values):
    return float(values[:, 0].mean())


@pytest.mark.parametrize("seed", range(6))
def test_the_paired_permutation_test_of_binary_outcomes_is_the_exact_mcnemar_test(seed):
    rng = np.random.default_rng(seed)
    n = 12
    a = rng.integers(0, 2, (n, 1)).astype(float)
    b = (rng.random((n, 1)) < 0.3).astype(float)
    got = paired_permutation_pvalue(a, b, mean_of_first, resamples=2 ** n)
    only_a, only_b = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    want = 1.0 if only_a + only_b == 0 else stats.binomtest(only_a, only_a + only_b).pvalue
    assert got == pytest.approx(want, rel=1e-9)


def test_the_paired_permutation_test_enumerates_every_swap_for_a_weighted_figure():
    rng = np.random.default_rng(7)
    n = 9
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))

    def figure(v):  # any figure of the rows: a weighted mean of two columns
        return float(0.3 * v[:, 0].mean() + 0.7 * v[:, 1].mean())

    observed = figure(a) - figure(b)
    draws = []
    for swap in itertools.product([False, True], repeat=n):  # all 2^n relabellings
        s = np.array(swap)
        x, y = np.where(s[:, None], b, a), np.where(s[:, None], a, b)
        draws.append(figure(x) - figure(y))
    draws = np.array(draws)
    right, left = np.mean(draws >= observed - 1e-12), np.mean(draws <= observed + 1e-12)
    want = min(1.0, 2 * min(right, left))
    assert paired_permutation_pvalue(a, b, figure, resamples=10_000) == pytest.approx(want)


def test_one_item_has_no_test():
    assert np.isnan(paired_permutation_pvalue(np.ones((1, 1)), np.zeros((1, 1)), mean_of_first))


def test_holm_against_its_definition():
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.random(rng.integers(1, 8)) ** 3
        order = np.argsort(p)
        m = p.size
        stepped = np.maximum.accumulate([(m - k) * p[i] for k, i in enumerate(order)])
        want = np.empty(m)
        want[order] = np.minimum(stepped, 1.0)
        assert holm(p.tolist()) == pytest.approx(want.tolist())
    assert np.isnan(holm([0.01, float("nan")])[1]) and holm([0.01, float("nan")])[0] == 0.01


def test_a_verdict_needs_the_floor_the_test_and_the_interval():
    floor = MIN_ITEMS_FOR_VERDICT
    assert verdict(0.2, 0.1, 0.3, 0.001, floor - 1) == CANNOT_TELL
    assert verdict(0.2, 0.1, 0.3, 0.001, floor) == "A higher"
    assert verdict(-0.2, -0.3, -0.1, 0.001, floor) == "B higher"
    assert verdict(0.2, -0.1, 0.3, 0.001, floor) == "no difference shown"  # interval holds 0
    assert verdict(0.2, 0.1, 0.3, 0.2, floor) == "no difference shown"     # test does not reject
    assert verdict(0.2, 0.1, 0.3, float("nan"), 500) == CANNOT_TELL


def test_paired_effect_against_the_textbook_formulas():
    d = np.array([0.3, 1.2, -0.4, 0.9, 2.0, 0.1, 0.7, 1.5])
    effect = paired_effect(d)
    n, mean, sd = len(d), d.mean(), d.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    assert effect["mean"] == pytest.approx(mean)
    assert effect["interval"] == pytest.approx([mean - half, mean + half])
    assert effect["p_t"] == pytest.approx(2 * stats.t.sf(mean / (sd / np.sqrt(n)), n - 1))
    assert effect["verdict"] == CANNOT_TELL  # 8 < MIN_ITEMS_FOR_VERDICT


def test_paired_effect_wilcoxon_is_exact_at_small_n_and_decides_the_verdict():
    # five positive differences: the exact signed-rank p is 2 / 2^5
    assert paired_effect([1.0, 2.0, 3.0, 4.0, 5.0])["p_wilcoxon"] == pytest.approx(2 / 32)
    many = np.linspace(-1, 3, MIN_ITEMS_FOR_VERDICT)
    assert paired_effect(many, names=("up", "down"))["verdict"] == "up"
    assert paired_effect(-many, names=("up", "down"))["verdict"] == "down"
    flat = paired_effect(np.zeros(MIN_ITEMS_FOR_VERDICT))
    assert flat["verdict"] == "no difference shown" and flat["interval"] == [0.0, 0.0]
    # all equal and positive: no t-interval, but the signed-rank test still sees the direction
    constant = paired_effect(np.ones(MIN_ITEMS_FOR_VERDICT), names=("up", "down"))
    assert constant["verdict"] == "up" and constant["p_wilcoxon"] < 1e-3
    with pytest.raises(ValueError, match="NaN"):
        paired_effect([1.0, float("nan")])
