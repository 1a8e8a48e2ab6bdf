"""The local transformers backend on a tiny random model saved to disk: batching and mechanics.

A random model writes garbage, so these tests check mechanics: batched generation gives each
request the same reply as generating it alone, in request order; garbage is retried and then
raised or returned as invalid; context is checked before generating; seeds reproduce sampling.
"""

from __future__ import annotations

import random

import pytest
import torch

from judge_fixtures import save_tiny_judge
from rewardmine import ContextLengthError, JudgeOutputError
from rewardmine.judge import PrincipleJudge
from rewardmine.judge.backends import GenerationRequest
from rewardmine.judge.backends.local import TransformersBackend
from rewardmine.judge.prompt import build_request


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return save_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


def requests_of(n, *, seed=0):
    rng = random.Random(seed)
    out = []
    for k in range(n):
        responses = {str(i): "answer " * rng.randint(1, 12) + str(i) for i in range(rng.randint(2, 4))}
        out.append(GenerationRequest(build_request("Be correct.", f"Question {k}?", responses,
                                                   rng=rng, system="Judge.").messages))
    return out


def test_batched_generation_matches_one_at_a_time_in_order(tiny_path):
    judge = PrincipleJudge.from_pretrained(tiny_path, max_new_tokens=12, batch_size=4)
    batched, options = judge.backend, judge.options
    requests = requests_of(6)
    together = batched.generate(requests, options=options, seed=1)
    batched.batch_size = 1
    alone = batched.generate(requests, options=options, seed=1)
    assert [g.text for g in together] == [g.text for g in alone]
    assert len({g.text for g in together}) > 1  # different requests got different replies
    lengths = [g.prompt_tokens for g in together]
    assert lengths == [len(batched.encode(r.messages, options)) for r in requests]
    assert all(1 <= g.completion_tokens <= 12 for g in together)


def test_garbage_is_retried_then_returned_as_invalid_or_raised(tiny_path):
    judge = PrincipleJudge.from_pretrained(tiny_path, max_new_tokens=8, max_retries=1,
                                           on_invalid="return", batch_size=8)
    results = judge.judge_many([("p", "q", ["a", "b"]), ("p", "q", {"x": "1", "y": "2", "z": ""})])
    assert [r.status for r in results] == ["invalid", "invalid"]
    assert all(r.scores == {} and "after 2 attempt(s)" in r.error for r in results)
    assert judge.usage.calls == 4 and judge.usage.completion_tokens > 0
    judge = PrincipleJudge.from_pretrained(tiny_path, max_new_tokens=4, max_retries=0)
    with pytest.raises(JudgeOutputError, match="request 0"):
        judge.judge("p", "q", ["a", "b"])


def test_context_is_checked_with_the_real_tokenizer(tiny_path):
    judge = PrincipleJudge.from_pretrained(tiny_path, max_new_tokens=100)
    assert judge.backend.context_limit == 2048
    with pytest.raises(ContextLengthError, match="request 1 needs") as info:
        judge.judge_many([("p", "q", ["a", "b"]), ("p", "q", ["zebra " * 1000, "b"])])
    assert info.value.index == 1 and info.value.length > 2048
    assert judge.usage.calls == 0


def test_sampling_is_seeded_and_leaves_global_state_alone(tiny_path):
    def replies(seed):
        judge = PrincipleJudge.from_pretrained(tiny_path, max_new_tokens=10, temperature=1.0,
                                               seed=seed, max_retries=0, on_invalid="return")
        return [r.raw for r in judge.judge_many([("p", "q", ["a", "b"])] * 2)]

    state = torch.random.get_rng_state()
    assert replies(5) == replies(5)
    assert replies(5) != replies(6)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_thinking_switch_reaches_the_template(tiny_path):
    on = PrincipleJudge.from_pretrained(tiny_path, thinking=True)
    off = PrincipleJudge.from_pretrained(tiny_path, thinking=False)
    messages = [{"role": "user", "content": "hi"}]
    assert on.backend.render(messages, on.options).endswith("<|im_start|>assistant\n")
    assert off.backend.render(messages, off.options).endswith("<think>\n\n</think>\n\n")


def test_loaded_model_needs_its_tokenizer(tiny_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_path)
    with pytest.raises(ValueError, match="tokenizer"):
        TransformersBackend.load(model)
    with pytest.raises(TypeError, match="unknown option"):
        PrincipleJudge.from_pretrained(tiny_path, max_new_token=3)
