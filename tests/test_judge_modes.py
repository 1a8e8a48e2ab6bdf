"""Pairwise and pointwise modes, and the baselines, on scripted and tiny real models."""

from __future__ import annotations

import json
from itertools import combinations

import pytest
import torch

from judge_fixtures import save_tiny_judge
from rewardmine.judge import PrincipleJudge
from rewardmine.judge.baselines import GenerativeVerifier, pairwise_judge, rating_judge


def digit_judge(messages):
    texts = json.loads(messages[-1]["content"])["responses"]
    scores = {m: int(t) for m, t in texts.items()}
    return json.dumps({"scores": scores, "best-to-worst": sorted(scores, key=lambda m: -scores[m])})


RESPONSES = {"a": "3", "b": "5", "c": "3", "d": "1"}


def test_pairwise_scores_are_win_counts():
    judge = PrincipleJudge.from_function(digit_judge, mode="pairwise", permutations=2)
    result = judge.judge("p", "q", RESPONSES)
    assert judge.usage.calls == 6 * 2
    wins = dict.fromkeys(RESPONSES, 0.0)  # independent reference
    for x, y in combinations(RESPONSES, 2):
        vx, vy = int(RESPONSES[x]), int(RESPONSES[y])
        wins[x] += 1.0 if vx > vy else 0.5 if vx == vy else 0.0
        wins[y] += 1.0 if vy > vx else 0.5 if vx == vy else 0.0
    assert result.scores == wins == {"a": 1.5, "b": 3.0, "c": 1.5, "d": 0.0}
    assert result.ranking[0] == "b" and result.ranking[-1] == "d"


def test_pointwise_sees_one_response_per_call():
    seen = []

    def record(messages):
        seen.append(json.loads(messages[-1]["content"])["responses"])
        return digit_judge(messages)

    judge = PrincipleJudge.from_function(record, mode="pointwise")
    result = judge.judge("p", "q", RESPONSES)
    assert all(list(s) == ["model-1"] for s in seen) and len(seen) == 4
    assert result.scores == {"a": 3.0, "b": 5.0, "c": 3.0, "d": 1.0}
    assert result.ranking == ["b", "a", "c", "d"]


def test_pairwise_needs_two_responses_and_modes_are_checked():
    with pytest.raises(ValueError, match="at least two"):
        PrincipleJudge.from_function(digit_judge, mode="pairwise").judge("p", "q", ["1"])
    with pytest.raises(ValueError, match="unknown mode"):
        PrincipleJudge.from_function(digit_judge, mode="groupwise")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = save_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))
    return path, AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_generative_verifier_matches_unbatched_reference(tiny):
    _, model, tokenizer = tiny
    verifier = GenerativeVerifier(model, tokenizer, batch_size=3)
    responses = ["4", "It is five.", "", "a much longer answer " * 5]
    scores = verifier.score("What is 2+2?", responses)
    yes = tokenizer("Yes", add_special_tokens=False)["input_ids"]
    for response, score in zip(responses, scores, strict=True):  # one sequence, no padding
        ids = torch.tensor([verifier._encode("What is 2+2?", response, None)])
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        start = ids.shape[1] - len(yes)
        expected = sum(logp[start - 1 + t, tok].item() for t, tok in enumerate(yes))
        assert score == pytest.approx(expected, abs=1e-4)
    verdict = verifier.judge(None, "What is 2+2?", responses)
    assert verdict.ranking == sorted(verdict.scores, key=lambda i: -verdict.scores[i])
    assert len(set(scores)) == len(scores)


def test_rating_and_pairwise_baselines_are_judges(tiny):
    path, _, _ = tiny
    rating = rating_judge(path, max_new_tokens=4, max_retries=0, on_invalid="return")
    assert rating.mode == "pointwise" and rating.scale == (1, 10)
    result = rating.judge("p", "q", ["a", "b"])
    assert result.status == "invalid" and rating.usage.calls == 2  # one call per response
    pair = pairwise_judge(path, max_new_tokens=4, max_retries=0, on_invalid="return")
    pair.judge("p", "q", ["a", "b", "c"])
    assert pair.usage.calls == 3
