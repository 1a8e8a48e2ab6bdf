"""verl's per-sample reward function, called the way verl's naive reward manager calls it
(the reward-loop managers run against the real verl in tests/test_rl_peers.py)."""

from __future__ import annotations

import importlib.util
from typing import ClassVar

import numpy as np
import pytest

import rewardmine.rl.verl as verl_module
from rewardmine import EndogenousReward, Judgement


class LengthJudge:
    """A deterministic stand-in for PrincipleJudge: longer responses score higher."""

    calls: ClassVar[list[list[dict]]] = []

    def judge_many(self, requests):
        LengthJudge.calls.append(list(requests))
        out = []
        for request in requests:
            responses = request["responses"]
            ranking = sorted(responses, key=lambda i: (-len(responses[i]), i))
            out.append(Judgement(scores={i: float(len(t)) for i, t in responses.items()},
                                 ranking=ranking))
        return out


def make_judge():
    return LengthJudge()


def load_like_verl():
    """verl imports the configured file by path (custom_reward_function.path)."""
    spec = importlib.util.spec_from_file_location("custom_module", verl_module.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_with_reward_kwargs(fn, reward_kwargs, **call):
    """What verl's get_custom_reward_fn wraps around the function: config kwargs take precedence."""
    return fn(**{**call, **reward_kwargs})


def verl_batch(questions, answers, truths):
    # verl adds num_turns and rollout_reward_scores to every extra_info
    extra = [{"split": "train", "index": i, "question": q, "num_turns": None,
              "rollout_reward_scores": {}} for i, q in enumerate(questions)]
    return dict(data_sources=np.array(["openai/gsm8k"] * len(answers), dtype=object),
                solution_strs=answers, ground_truths=truths,
                extra_infos=np.array(extra, dtype=object))


def test_naive_and_batch_managers_match_the_scorer(saved_model):
    module = load_like_verl()
    kwargs = {"model": str(saved_model)}
    questions = ["What is 2+2?", "What is 2+2?", "Sort 3 1 2."]
    answers = ["4", "5", "1 2 3"]
    expected = EndogenousReward.from_pretrained(str(saved_model)).score_many(questions, answers)
    singles = [
        call_with_reward_kwargs(module.compute_score, kwargs, data_source="openai/gsm8k",
                                solution_str=a, ground_truth="4",
                                extra_info={"question": q, "num_turns": None,
                                            "rollout_reward_scores": {}})
        for q, a in zip(questions, answers, strict=True)
    ]
    assert singles == pytest.approx(expected, abs=1e-5)


def test_prompt_as_messages_and_custom_key(saved_model):
    messages = np.array([{"role": "user", "content": "What is 2+2?"}], dtype=object)
    got = verl_module.compute_score("src", "4", "4", {"prompt": messages}, model=str(saved_model),
                                    prompt_key="prompt", reward_router_address=None)
    expected = EndogenousReward.from_pretrained(str(saved_model)).score("What is 2+2?", ["4"])
    assert got == pytest.approx(expected[0], abs=1e-5)


def test_missing_prompt_or_model_names_the_fix(saved_model):
    with pytest.raises(KeyError, match="extra_info has no 'question'"):
        verl_module.compute_score("a", "x", None, {"index": 1}, model=str(saved_model))
    with pytest.raises(ValueError, match=r"exactly one of .*reward_kwargs\.model"):
        verl_module.compute_score("a", "x", None, {"question": "q"})


def test_compute_score_through_a_reward_server(saved_model):
    pytest.importorskip("fastapi")
    from rewardmine.server.app import ServerConfig, create_app
    from rewardmine.server.run import BackgroundServer
    from rewardmine.upstream import UpstreamRefused

    reward = EndogenousReward.from_pretrained(str(saved_model))
    questions, answers = ["What is 2+2?", "What is 2+2?", "Sort 3 1 2."], ["4", "5", "1 2 3"]
    app = create_app(endogenous=reward, config=ServerConfig(api_keys=("k",)))
    with BackgroundServer(app) as server:
        got = [call_with_reward_kwargs(
            verl_module.compute_score, {"server_url": server.url, "api_key": "k"},
            data_source="s", solution_str=a, ground_truth="", extra_info={"question": q})
            for q, a in zip(questions, answers, strict=True)]
        with pytest.raises(UpstreamRefused, match="answered HTTP 401: missing or wrong API key"):
            verl_module.compute_score("s", "4", "4", {"question": "q"}, server_url=server.url)
    assert got == pytest.approx(reward.score_many(questions, answers), abs=1e-5)


def test_judge_from_config_speaks_the_spec_grammar_and_its_old_spellings():
    from rewardmine.rl.verl import judge_from_config

    by_spec = judge_from_config(judge="test_rl_verl:make_spec_judge", tag="a")
    by_old_key = judge_from_config(judge_factory="test_rl_verl:make_spec_judge", tag="a")
    assert by_spec is by_old_key  # one spec underneath, loaded once per process
    assert by_spec.tag == "a"
    with pytest.raises(ValueError, match="give exactly one of judge"):
        judge_from_config(judge="x:y", judge_model="m")


def test_judge_from_config_takes_every_judge_option_of_the_other_entry_points(saved_model):
    """verl's judge keys take the options every other entry point takes (``constrained`` was once
    refused here as an unknown reward_kwargs key), and the loaded judge carries them."""
    pytest.importorskip("xgrammar")
    from rewardmine.rl.verl import judge_from_config

    judge = judge_from_config(judge_model=str(saved_model), constrained=True, max_new_tokens=24,
                       mode="pointwise", batch_size=2, dtype="float32", device="cpu")
    assert judge.backend.constrained and judge.backend.batch_size == 2
    assert judge.mode == "pointwise" and judge.options.max_new_tokens == 24
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['constrainde'\]"):
        judge_from_config(judge_model=str(saved_model), constrainde=True)


class _SpecJudge:
    def __init__(self, tag):
        self.tag = tag

    def judge_many(self, requests):
        return []


def make_spec_judge(tag):
    return _SpecJudge(tag)
