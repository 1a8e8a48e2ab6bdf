"""Statistics every part of rewardmine shares, from scipy, with their rules for ties stated.

One home, so that a benchmark and a training reward can never disagree on the same numbers (two
hand-written Kendall taus once did, on constant input).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

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
