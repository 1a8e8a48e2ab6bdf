"""Statistics every part of rewardmine shares, from scipy and statsmodels, with their rules for
ties and their sample-size floor stated.

One home, so that a benchmark and a training reward can never disagree on the same numbers (two
hand-written Kendall taus once did, on constant input).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two scorings of the same items (``scipy.stats.kendalltau``, variant
    "b": ties in either scoring corrected for).

    NaN when either side is constant (the statistic is undefined there, as in scipy); a caller
    that needs a number there says which (the judge's training reward counts it as 0, no
    agreement either way). Raises ``ValueError`` for sequences of different lengths or with NaN.
    """
    from scipy import stats

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"x and y must be flat sequences of one length, got {a.shape} and "
                         f"{b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("x or y holds NaN; score those items again or remove them explicitly")
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.kendalltau(a, b, variant="b").statistic)


MIN_ITEMS_FOR_VERDICT = 20
"""Below this many items a difference is printed but never turned into a verdict: the percentile
bootstrap covers the truth well short of its nominal 95% at such sizes (measured by
``benchmarks/bootstrap_coverage.py`` for an accuracy of 0.8: 58.5% at 4 items, 81.5% at 8, 91.5%
at 12, 90% at 20, 95% from 30 on), and an exact test cannot reach small p-values (at n = 4 a
paired sign test cannot go below p = 0.125). At 20 the verdict also needs the exact test."""

CANNOT_TELL = "cannot tell at this size"


def paired_permutation_pvalue(values_a: np.ndarray, values_b: np.ndarray,
                              statistic: Callable[[np.ndarray], float], *,
                              resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided p-value of a paired permutation test (``scipy.stats.permutation_test`` with
    ``permutation_type="samples"``): under the null, each item's A and B outcomes are
    exchangeable, so every draw swaps them item by item and recomputes
    ``statistic(A) - statistic(B)``. Exact (all 2^n swaps) when 2^n <= ``resamples``.

    ``values_a`` and ``values_b`` hold one row per item, row i the same item in both;
    ``statistic`` maps such rows to the figure (an accuracy, a weighted mean, ...). NaN for
    fewer than two items, where there is no test.
    """
    from scipy import stats

    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"values_a and values_b must be one (items, k) shape, got {a.shape} "
                         f"and {b.shape}")
    stacked, n = np.concatenate([a, b]), a.shape[0]
    if n < 2:
        return float("nan")

    def difference(x: np.ndarray, y: np.ndarray) -> float:
        return statistic(stacked[x]) - statistic(stacked[y])

    result = stats.permutation_test((np.arange(n), np.arange(n) + n), difference,
                                    permutation_type="samples", vectorized=False,
                                    n_resamples=resamples, alternative="two-sided",
                                    random_state=np.random.default_rng(seed))
    return float(result.pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of p-values read together (``statsmodels``); NaN stays NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    present = ~np.isnan(p)
    if present.any():
        out[present] = multipletests(p[present], method="holm")[1]
    return out.tolist()


def verdict(difference: float, low: float, high: float, p_adjusted: float, items: int, *,
            alpha: float = 0.05, floor: int = MIN_ITEMS_FOR_VERDICT,
            names: tuple[str, str] = ("A", "B")) -> str:
    """What a paired difference supports: "A higher" / "B higher" only when there are at least
    ``floor`` items, the adjusted exact test rejects at ``alpha`` and the bootstrap interval
    excludes 0 (both agree); "no difference shown" otherwise; below the floor,
    :data:`CANNOT_TELL`."""
    if items < floor or not np.isfinite(p_adjusted):
        return CANNOT_TELL
    if p_adjusted < alpha and (low > 0 or high < 0):
        return f"{names[0] if difference > 0 else names[1]} higher"
    return "no difference shown"


def paired_effect(differences: Sequence[float], *, level: float = 0.95,
                  names: tuple[str, str] = ("positive", "negative")) -> dict[str, Any]:
    """A mean of per-item paired differences with what it supports: the mean, its ``level``
    t-interval (``scipy.stats.ttest_1samp``), the two-sided p-values of the t-test and of
    Wilcoxon's signed-rank test (``scipy.stats.wilcoxon``; zero differences dropped), and a
    verdict from :func:`verdict` on the Wilcoxon p-value (the more robust of the two to heavy
    tails), so a direction is claimed only at :data:`MIN_ITEMS_FOR_VERDICT` items or more.
    ``names`` say what a positive and a negative mean are called in the verdict. Differences
    that are all equal have no t-interval (it is the point) and no t-test; Wilcoxon's test still
    applies unless they are all zero."""
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or np.isnan(d).any():
        raise ValueError("differences must be a flat sequence without NaN")
    n = int(d.size)
    out: dict[str, Any] = {"n": n, "mean": float(d.mean()) if n else float("nan")}
    if n < 2:
        out.update(interval=[out["mean"]] * 2, p_t=float("nan"), p_wilcoxon=float("nan"),
                   verdict=CANNOT_TELL)
        return out
    if np.ptp(d):
        test = stats.ttest_1samp(d, 0.0)
        low, high = (float(x) for x in test.confidence_interval(level))
        p_t = float(test.pvalue)
    else:
        low = high = out["mean"]
        p_t = float("nan")
    p_wilcoxon = float(stats.wilcoxon(d).pvalue) if np.count_nonzero(d) else 1.0
    out.update(interval=[low, high], p_t=p_t, p_wilcoxon=p_wilcoxon)
    out["verdict"] = effect_verdict(out, p_wilcoxon, names=names, alpha=1 - level)
    return out


def effect_verdict(effect: Mapping[str, Any], p: float, *,
                   names: tuple[str, str] = ("positive", "negative"), alpha: float = 0.05) -> str:
    """:func:`verdict` for a :func:`paired_effect` at p-value ``p`` (its own Wilcoxon p, or
    that p after an adjustment such as :func:`holm` where several effects are read together)."""
    low, high = effect["interval"]
    said = verdict(effect["mean"], low, high, p, effect["n"], alpha=alpha)
    return {"A higher": names[0], "B higher": names[1]}.get(said, said)
