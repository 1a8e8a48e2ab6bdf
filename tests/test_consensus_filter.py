"""Consensus scores and tie groups, and the K-of-M filter against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rewardmine.consensus import (
    consensus,
    k_of_m_filter,
    kept_pairs,
    ranking_from_scores,
    rankings_from_judgements,
)
from rewardmine.types import Judgement


def level_of(ranking):
    out = {}
    for depth, element in enumerate(ranking):
        for item in element if isinstance(element, tuple) else (element,):
            out[item] = depth
    return out


def test_win_rate_scores_by_hand():
    # judge 1: a > b > c; judge 2: (a = b) > c; judge 3: c > a > b
    rankings = [["a", "b", "c"], [("a", "b"), "c"], ["c", "a", "b"]]
    result = consensus(rankings)
    # a: vs b 1 + .5 + 1, vs c 1 + 1 + 0 -> 4.5 of 6; b: 0 + .5 + 0, 1 + 1 + 0 -> 2.5; c: 2 of 6
    assert result.scores == pytest.approx({"a": 4.5 / 6, "b": 2.5 / 6, "c": 2 / 6})
    assert result.ranking == ["a", "b", "c"]
    assert result.exact
    assert sum(result.scores.values()) == pytest.approx(1.5)  # n/2: each pair shares one win


def test_tie_groups_and_mean_scores():
    rankings = [[("x", "y"), "z"], [("x", "y"), "z"]]
    result = consensus(rankings, judge_scores=[{"x": 7, "y": 7, "z": 2}, {"x": 9, "y": 9, "z": 4}],
                       score="mean")
    assert result.groups == [["x", "y"], ["z"]]
    assert result.scores == {"x": 8.0, "y": 8.0, "z": 3.0}
    weighted = consensus(rankings, [3, 1], judge_scores=[{"x": 7, "y": 7, "z": 2},
                                                         {"x": 9, "y": 9, "z": 4}], score="mean")
    assert weighted.scores["z"] == pytest.approx((3 * 2 + 4) / 4)
    with pytest.raises(ValueError, match="judge 1 gave no score to 'z'"):
        consensus(rankings, judge_scores=[{"x": 1, "y": 1, "z": 1}, {"x": 1, "y": 1}],
                  score="mean")


def test_rankings_from_judgements_turn_equal_scores_into_ties():
    good = Judgement(scores={"a": 9, "b": 9, "c": 3}, ranking=["b", "a", "c"])
    plain = Judgement(ranking=["c", "b", "a"])
    rankings, scores = rankings_from_judgements([good, plain])
    assert rankings == [[("b", "a"), "c"], ["c", "b", "a"]]
    assert scores == [{"a": 9, "b": 9, "c": 3}, {}]
    with pytest.raises(ValueError, match="judgement 0 ranks 'a' above 'c' but scores it lower"):
        rankings_from_judgements([Judgement(scores={"a": 1, "c": 2}, ranking=["a", "c"])])
    with pytest.raises(ValueError, match="judgement 0 is invalid"):
        rankings_from_judgements([Judgement(status="invalid", error="no JSON")])
    assert ranking_from_scores({"p": 1.0, "q": 3.0, "r": 1.0}) == ["q", ("p", "r")]


def brute_filter(rankings, k, priority):
    """Enumerate subsets largest first; a subset passes if some order of it agrees with every
    pair, each pair kept in exactly one direction."""
    kept = set(kept_pairs(rankings, k))
    for size in range(len(priority), 0, -1):
        # combinations of the priority list come in lexicographic order of positions
        for subset in itertools.combinations(priority, size):
            for order in itertools.permutations(subset):
                if all((a, b) in kept and (b, a) not in kept
                       for a, b in itertools.combinations(order, 2)):
                    return list(order)
    return []


def brute_kept(rankings, k):
    items = list(level_of(rankings[0]))
    out = set()
    for a, b in itertools.permutations(items, 2):
        votes = sum(level_of(r)[a] < level_of(r)[b] for r in rankings)
        if votes >= k:
            out.add((a, b))
    return out


@pytest.mark.parametrize("case", range(40))
def test_filter_matches_brute_force(case):
    rng = np.random.default_rng(100 + case)
    n = int(rng.integers(1, 7))
    m = int(rng.integers(1, 6))
    k = int(rng.integers(1, m + 1))
    items = [f"r{i}" for i in range(n)]
    rankings = []
    for _ in range(m):
        order = [items[i] for i in rng.permutation(n)]
        if n > 2 and rng.random() < 0.3:
            order = [tuple(order[:2]), *order[2:]]
        rankings.append(order)
    assert set(kept_pairs(rankings, k)) == brute_kept(rankings, k)
    priority = [items[i] for i in rng.permutation(n)]
    result = k_of_m_filter(rankings, k, priority=priority)
    assert result.ranking == brute_filter(rankings, k, priority)
    assert sorted(result.ranking + result.dropped) == sorted(items)


def test_filter_drops_the_disputed_response():
    # all three judges agree on a > b > c; they disagree wildly about d
    rankings = [["a", "b", "c", "d"], ["d", "a", "b", "c"], ["a", "d", "b", "c"]]
    result = k_of_m_filter(rankings, 3)
    assert result.ranking == ["a", "b", "c"]
    assert result.dropped == ["d"]
    assert k_of_m_filter(rankings, 2).ranking == ["a", "d", "b", "c"]
    with pytest.raises(ValueError, match="k=4 with 3 judges"):
        k_of_m_filter(rankings, 4)
