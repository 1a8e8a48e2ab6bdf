"""Kemeny consensus against brute force over every permutation, with ties and weights."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rewardmine.consensus import kemeny, kemeny_cost


def level_of(ranking):
    """id -> depth (0 is best); a tuple is a tie group."""
    out = {}
    for depth, element in enumerate(ranking):
        for item in element if isinstance(element, tuple) else (element,):
            out[item] = depth
    return out


def brute_cost(order, rankings, weights):
    """Count, judge by judge, the pairs the order contradicts (a judge's tie counts 1/2)."""
    total = 0.0
    for ranking, weight in zip(rankings, weights, strict=True):
        level = level_of(ranking)
        for top, bottom in itertools.combinations(order, 2):
            if level[bottom] < level[top]:
                total += weight
            elif level[bottom] == level[top]:
                total += weight / 2
    return total


def brute_kemeny(rankings, weights):
    items = sorted(level_of(rankings[0]), key=lambda i: level_of(rankings[0])[i])
    first = [i for e in rankings[0] for i in (e if isinstance(e, tuple) else (e,))]
    n = len(first)

    def borda(item):
        score = 0.0
        for ranking, weight in zip(rankings, weights, strict=True):
            level = level_of(ranking)
            for other in first:
                if other != item:
                    score += weight * (1.0 if level[item] < level[other] else
                                       0.5 if level[item] == level[other] else 0.0)
        return score

    tie_rank = {item: rank for rank, item in enumerate(
        sorted(first, key=lambda i: (-borda(i), first.index(i))))}
    best = None
    for order in itertools.permutations(items, n):
        cost = brute_cost(order, rankings, weights)
        key = (round(cost, 9), [tie_rank[i] for i in order])
        if best is None or key < best[0]:
            best = (key, list(order))
    return best[1]


def random_ranking(rng, items, tie_rate):
    order = list(rng.permutation(items))
    out, group = [], [order[0]]
    for item in order[1:]:
        if rng.random() < tie_rate:
            group.append(item)
        else:
            out.append(group[0] if len(group) == 1 else tuple(group))
            group = [item]
    out.append(group[0] if len(group) == 1 else tuple(group))
    return [str(x) if not isinstance(x, tuple) else tuple(map(str, x)) for x in out]


@pytest.mark.parametrize("case", range(60))
def test_exact_matches_brute_force(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(1, 7))
    m = int(rng.integers(1, 6))
    items = [f"r{i}" for i in range(n)]
    rankings = [random_ranking(rng, items, tie_rate=0.25 * (case % 3)) for _ in range(m)]
    weights = None if case % 2 else list(rng.choice([0.5, 1.0, 2.0, 3.0], size=m))
    expected = brute_kemeny(rankings, weights or [1.0] * m)
    assert kemeny(rankings, weights, method="exact") == expected
    assert kemeny_cost(expected, rankings, weights) == pytest.approx(
        brute_cost(expected, rankings, weights or [1.0] * m))


def test_unanimous_judges_give_their_order():
    assert kemeny([["b", "c", "a"]] * 3) == ["b", "c", "a"]


def test_condorcet_cycle_breaks_ties_by_first_ranking():
    # a>b>c, b>c>a, c>a>b: every rotation costs 4 and Borda ties, so the first ranking's
    # order decides: the optimum that is lexicographically first in a, b, c.
    rankings = [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert kemeny(rankings) == ["a", "b", "c"]
    assert kemeny(rankings[1:] + rankings[:1]) == ["b", "c", "a"]


def test_weights_can_overrule_a_majority():
    rankings = [["a", "b"], ["a", "b"], ["b", "a"]]
    assert kemeny(rankings) == ["a", "b"]
    assert kemeny(rankings, [1, 1, 3]) == ["b", "a"]


def test_local_search_is_optimal_on_easy_cases_and_a_permutation_always():
    rng = np.random.default_rng(7)
    items = [f"x{i}" for i in range(30)]
    truth = list(items)
    # judges that each swap a few neighbours of the truth
    rankings = []
    for _ in range(5):
        noisy = list(truth)
        for _ in range(4):
            i = int(rng.integers(0, 29))
            noisy[i], noisy[i + 1] = noisy[i + 1], noisy[i]
        rankings.append(noisy)
    approx = kemeny(rankings)  # 30 > EXACT_MAX: local search
    assert sorted(approx) == sorted(items)
    assert kemeny_cost(approx, rankings) <= kemeny_cost(truth, rankings)
    small = [[x for x in r if x in set(items[:10])] for r in rankings]
    assert kemeny_cost(kemeny(small, method="local_search"), small) >= kemeny_cost(
        kemeny(small, method="exact"), small)


@pytest.mark.parametrize(("rankings", "weights", "message"), [
    ([], None, "no rankings"),
    ([["a", "b"], ["a", "c"]], None, "ranking 1 does not hold"),
    ([["a", "a"]], None, "twice"),
    ([["a", ()]], None, "empty tie group"),
    ([["a", "b"]], [1, 2], "2 weights for 1 rankings"),
    ([["a", "b"]], [-1], "weight 0 is -1"),
    ([["a", "b"]], [0], "all weights are 0"),
])
def test_bad_input_names_the_problem(rankings, weights, message):
    with pytest.raises(ValueError, match=message):
        kemeny(rankings, weights)


def test_exact_refuses_huge_lists():
    with pytest.raises(ValueError, match="local_search"):
        kemeny([list(range(25))], method="exact")
