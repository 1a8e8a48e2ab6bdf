"""Constrained decoding: a randomly initialised model's verdicts are valid as written."""

from __future__ import annotations

import json

import pytest

from judge_fixtures import save_tiny_judge
from rewardmine.judge import PrincipleJudge, parse_judgement
from rewardmine.judge.backends.constrained import _ranking_prefix_ok

pytest.importorskip("xgrammar")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return save_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


REQUESTS = [
    ("Be correct.", "What is 2+2?", ["4", "5", "four", ""]),
    ("Be concise.", "Capital of France?", {"long": "Paris is the capital. " * 3, "short": "Paris"}),
    ("Be kind.", "Hi", {str(i): f"reply {i}" for i in range(5)}),
]


@pytest.mark.parametrize("thinking", [False, True])
def test_random_model_output_is_valid_with_constraints(tiny_path, thinking):
    judge = PrincipleJudge.from_pretrained(tiny_path, constrained=True, thinking=thinking,
                                           max_new_tokens=250, temperature=1.0, seed=1,
                                           max_retries=0, batch_size=3)
    results = judge.judge_many(REQUESTS)
    for (_, _, responses), result in zip(REQUESTS, results, strict=True):
        ids = list(responses) if isinstance(responses, dict) else [str(i) for i in range(len(responses))]
        assert result.status == "ok", result.error
        assert sorted(result.scores) == sorted(ids)
        assert all(1 <= s <= 5 and s == int(s) for s in result.scores.values())
        assert sorted(result.ranking) == sorted(ids)
        if thinking:
            assert "</think>" in result.raw
        # the answer is the exact verdict format and parses cleanly on its own
        answer = result.raw.split("</think>")[-1].strip()
        assert set(json.loads(answer)) == {"scores", "best-to-worst"}


def test_unconstrained_random_model_is_invalid(tiny_path):
    judge = PrincipleJudge.from_pretrained(tiny_path, max_new_tokens=60, temperature=1.0,
                                           max_retries=0, on_invalid="return")
    assert judge.judge(*REQUESTS[0]).status == "invalid"


def test_ranking_filter():
    ids, scores = ["model-1", "model-2", "model-10"], {"model-1": 3, "model-2": 5, "model-10": 3}
    assert _ranking_prefix_ok('"model-2", "model-1', ids, scores)  # model-1 or model-10
    assert not _ranking_prefix_ok('"model-1', ids, scores)  # model-2 must come first
    assert not _ranking_prefix_ok('"model-2", "model-2"', ids, scores)
    assert _ranking_prefix_ok('"model-2", "model-10", "model-1"]}', ids, scores)
    assert parse_judgement('{"scores": {"model-1": 3, "model-2": 5, "model-10": 3}, '
                           '"best-to-worst": ["model-2", "model-10", "model-1"]}', ids).status == "ok"
