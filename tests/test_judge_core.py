"""PrincipleJudge mechanics with scripted models: order, masking, averaging, retries, errors."""

from __future__ import annotations

import json

import pytest

from rewardmine import ContextLengthError, JudgeOutputError
from rewardmine.judge import PrincipleJudge
from rewardmine.judge.backends import FunctionBackend


def shown(messages):
    """The responses the model was shown, masked id -> text, in order."""
    return json.loads(messages[-1]["content"])["responses"]


def verdict(scores: dict) -> str:
    ranking = sorted(scores, key=lambda i: -scores[i])
    return "<think>scored</think>" + json.dumps({"scores": scores, "best-to-worst": ranking})


def digit_judge(messages):
    """Scores each response by the digit it contains (a response with none gets 1)."""
    texts = shown(messages)
    return verdict({m: int(next((c for c in t if c.isdigit()), "1")) for m, t in texts.items()})


def test_scores_are_keyed_by_caller_ids_and_order_is_kept():
    judge = PrincipleJudge.from_function(digit_judge, seed=0)
    results = judge.judge_many([
        {"principle": "p", "prompt": "q", "responses": {"x": "2", "y": "5", "z": "3"}},
        ("p", "q", ["4", "1"]),
        {"principle": "p", "prompt": [{"role": "user", "content": "q"}], "responses": ["", "3"]},
    ])
    assert [r.scores for r in results] == [
        {"x": 2.0, "y": 5.0, "z": 3.0}, {"0": 4.0, "1": 1.0}, {"0": 1.0, "1": 3.0},
    ]
    assert results[0].ranking == ["y", "z", "x"] and all(r.status == "ok" for r in results)
    assert "model-" in results[0].reasoning and "= y" in results[0].reasoning  # legend of ids


def orders_shown(requests, seed=0, calls=1):
    """The order each request's responses were shown in, judging ``requests`` in ``calls``
    consecutive calls of one judge."""
    seen = []

    def record(messages):
        seen.append(tuple(shown(messages).values()))
        return digit_judge(messages)

    judge = PrincipleJudge.from_function(record, seed=seed)
    size = -(-len(requests) // calls)
    for start in range(0, len(requests), size):
        judge.judge_many(requests[start:start + size])
    return seen


REQUESTS = [("p", f"question {k}", ["1", "2", "3", "4", "5"]) for k in range(6)]


def test_the_order_shown_comes_from_the_seed_and_the_request_alone():
    """A request's order is drawn from the seed and its own content, so requests differ, the
    seed reproduces them, and a verdict never depends on what the judge was asked before."""
    orders = orders_shown(REQUESTS)
    assert len(set(orders)) > 1
    assert orders == orders_shown(REQUESTS) and orders != orders_shown(REQUESTS, seed=1)
    assert orders_shown(REQUESTS, calls=3) == orders  # in three calls of one judge
    assert orders_shown(REQUESTS[::-1]) == orders[::-1]  # in another order
    assert orders_shown([REQUESTS[0]] * 3) == [orders[0]] * 3  # the same request, the same order


def test_verdicts_do_not_depend_on_the_process_that_judged_them(tmp_path):
    """The same groups judged in this process and split across two fresh interpreters (other
    hash seeds, no shared history) are shown in the same orders."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(__file__)
    code = (f"import json, sys; sys.path.insert(0, {here!r}); "
            "from test_judge_core import REQUESTS, orders_shown; "
            "part = REQUESTS[int(sys.argv[1])::2]; print(json.dumps(orders_shown(part)))")
    parts = []
    for half in ("0", "1"):
        done = subprocess.run([sys.executable, "-c", code, half], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "PYTHONHASHSEED": half})
        assert done.returncode == 0, done.stderr[-2000:]
        parts.append([tuple(o) for o in json.loads(done.stdout)])
    orders = orders_shown(REQUESTS)
    assert parts == [orders[0::2], orders[1::2]]


def test_permutations_average_out_position_bias():
    seen = []

    def biased(messages):  # the first shown response gets +2, capped at 5
        texts = shown(messages)
        seen.append(list(texts.values()))
        scores = {m: int(t) for m, t in texts.items()}
        first = next(iter(scores))
        scores[first] = min(5, scores[first] + 2)
        return verdict(scores)

    judge = PrincipleJudge.from_function(biased, permutations=4, seed=3)
    result = judge.judge("p", "q", {"a": "1", "b": "2", "c": "3"})
    assert len(seen) == 4 and judge.usage.calls == 4
    expected = {}
    for key, text in {"a": "1", "b": "2", "c": "3"}.items():  # independent reference
        values = [min(5, int(text) + 2) if order[0] == text else int(text) for order in seen]
        expected[key] = sum(values) / len(values)
    assert result.scores == pytest.approx(expected)
    assert result.ranking == sorted(expected, key=lambda k: -expected[k])


def test_invalid_output_is_retried_with_a_new_permutation():
    calls = []

    def flaky(messages):
        calls.append(tuple(shown(messages).values()))
        return "I cannot decide." if len(calls) < 3 else digit_judge(messages)

    judge = PrincipleJudge.from_function(flaky, max_retries=2, seed=0)
    result = judge.judge("p", "q", ["1", "2", "3", "4"])
    assert result.status == "ok" and result.scores == {"0": 1.0, "1": 2.0, "2": 3.0, "3": 4.0}
    assert len(calls) == 3 and len(set(calls)) > 1


def test_invalid_after_retries_raises_or_returns():
    def stuck_on_x(messages):
        return "<think>hmm" if "x" in shown(messages).values() else digit_judge(messages)

    judge = PrincipleJudge.from_function(stuck_on_x, max_retries=1)
    with pytest.raises(JudgeOutputError, match=r"request 1: .*after 2 attempt\(s\).*never closed"):
        judge.judge_many([("p", "q", ["1", "2"]), ("p", "q", ["x", "2"])])
    judge = PrincipleJudge.from_function(lambda m: "<think>hmm", max_retries=1, on_invalid="return")
    result = judge.judge("p", "q", ["1", "2"])
    assert result.status == "invalid" and not result.ok
    assert result.scores == {} and result.ranking == [] and "never closed" in result.error


def test_only_the_failing_request_is_retried_in_a_batch():
    counts: dict[str, int] = {}

    def picky(messages):
        key = "bad" if "bad" in shown(messages).values() else "good"
        counts[key] = counts.get(key, 0) + 1
        if key == "bad" and counts[key] == 1:
            return "nope"
        return digit_judge(messages)

    judge = PrincipleJudge.from_function(picky)
    results = judge.judge_many([("p", "q", ["2", "3"]), ("p", "q", ["bad", "4"])])
    assert counts == {"good": 1, "bad": 2} and all(r.ok for r in results)


def test_repairs_are_reported():
    judge = PrincipleJudge.from_function(
        lambda m: '{"scores": {"model-1": 2, "model-2": 2,}, "best_to_worst": ["model-2", "model-1"]}')
    result = judge.judge("p", "q", {"a": "x", "b": "y"})
    assert result.status == "repaired" and result.error is None
    assert [r.split(":")[0] for r in result.repairs] == [
        "JSON syntax", "key 'best_to_worst' read as 'best-to-worst'"]


class CharBackend(FunctionBackend):
    """Counts a character as a token and has a 600-token context."""

    context_limit = 600

    def required_tokens(self, messages, options):
        return sum(len(m["content"]) for m in messages) - len(messages[0]["content"]) + 100


def test_context_is_checked_before_generating():
    calls = []
    judge = PrincipleJudge(CharBackend(lambda m: calls.append(1) or digit_judge(m)))
    with pytest.raises(ContextLengthError, match="request 1 needs") as info:
        judge.judge_many([("p", "q", ["1", "2"]), ("p", "q", ["x" * 800, "2"])])
    assert info.value.index == 1 and info.value.limit == 600 and info.value.length > 900
    assert calls == []


def test_bad_requests_name_the_request():
    judge = PrincipleJudge.from_function(digit_judge)
    with pytest.raises(ValueError, match="request 1 has no principle"):
        judge.judge_many([("p", "q", ["1"]), {"prompt": "q", "responses": ["1"]}])
    with pytest.raises(ValueError, match="request 0: response id 'a' appears twice"):
        judge.judge_many([("p", "q", _Pairs([("a", "1"), ("a", "2")]))])
    with pytest.raises(ValueError, match="request 0 must have"):
        judge.judge_many([{"principle": "p", "prompt": "q", "answers": ["1"]}])
    with pytest.raises(TypeError, match="request 0: response '0' is a NoneType"):
        judge.judge_many([("p", "q", [None])])
    with pytest.raises(ValueError, match="permutations"):
        PrincipleJudge.from_function(digit_judge, permutations=0)


def test_empty_response_is_a_valid_candidate():
    judge = PrincipleJudge.from_function(digit_judge, principle="p")
    assert judge.score("q", ["", "5"]) == [1.0, 5.0]


class _Pairs(dict):
    def __init__(self, pairs):
        super().__init__(pairs)
        self._pairs = pairs

    def items(self):
        return self._pairs


def test_permutations_and_retries_use_orders_not_shown_before():
    seen = []

    def record(messages):
        seen.append(tuple(shown(messages).values()))
        return digit_judge(messages)

    PrincipleJudge.from_function(record, permutations=6, seed=0).judge("p", "q", ["1", "2", "3"])
    assert len(seen) == 6 and len(set(seen)) == 6  # all 3! orders, none twice
    seen.clear()
    PrincipleJudge.from_function(record, permutations=3, seed=0).judge("p", "q", ["1", "2"])
    assert sorted(seen[:2]) == [("1", "2"), ("2", "1")] and seen[2] == seen[0]  # 2!, again

    tries = []

    def fail_first(messages):
        tries.append(tuple(shown(messages).values()))
        return "nonsense" if len(tries) == 1 else digit_judge(messages)

    result = PrincipleJudge.from_function(fail_first, max_retries=1).judge("p", "q", ["1", "2"])
    assert result.ok and tries[0] != tries[1]  # the retry shows the other order
