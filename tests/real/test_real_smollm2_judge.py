"""The constrained principle judge on SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized): xgrammar
over a real 49,152-token vocabulary, greedy decoding, batched and one request at a time."""

from __future__ import annotations

import json

import pytest

from rewardmine import PrincipleJudge

pytest.importorskip("xgrammar")

pytestmark = pytest.mark.realmodel

REQUESTS = [
    ("Prefer the correct answer.", "What is the capital of France?",
     {"right": "Paris.", "wrong": "Lyon."}),
    ("Prefer the shorter answer.", "What is 2+2?",
     ["4", "The answer is four, because two plus two makes four.", "5"]),
]


def judge(model, tokenizer, batch_size):
    return PrincipleJudge.from_pretrained(model, tokenizer, constrained=True, thinking=False,
                                          max_new_tokens=120, batch_size=batch_size, seed=3,
                                          max_retries=0)


@pytest.fixture(scope="module")
def batched(smollm2):
    return judge(*smollm2, batch_size=len(REQUESTS)).judge_many(REQUESTS)


def test_verdicts_are_valid_as_written(batched):
    for (_, _, responses), verdict in zip(REQUESTS, batched, strict=True):
        ids = list(responses) if isinstance(responses, dict) else [str(i) for i in
                                                                   range(len(responses))]
        assert verdict.status == "ok", verdict.error  # not "repaired": nothing to fix
        assert sorted(verdict.scores) == sorted(ids) == sorted(verdict.ranking)
        assert all(s in (1, 2, 3, 4, 5) for s in verdict.scores.values())
        ranked = [verdict.scores[i] for i in verdict.ranking]
        assert ranked == sorted(ranked, reverse=True)  # the ranking agrees with the scores
        answer = json.loads(verdict.raw)  # the whole reply is the verdict, nothing around it
        assert set(answer) == {"scores", "best-to-worst"}
        assert sorted(answer["scores"]) == sorted(answer["best-to-worst"])


def test_batched_verdicts_equal_one_at_a_time(smollm2, batched):
    single = judge(*smollm2, batch_size=1)  # same seed: the same masked orders, request by request
    alone = [single.judge(*request) for request in REQUESTS]
    for a, b in zip(batched, alone, strict=True):
        assert (a.raw, a.scores, a.ranking, a.status) == (b.raw, b.scores, b.ranking, b.status)
