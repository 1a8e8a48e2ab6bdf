"""TRL reward functions: the contract (formats, grouping, references) and a real GRPOTrainer run."""

from __future__ import annotations

import math

import pytest

from rewardkit import EndogenousReward, Judgement
from rewardkit.rl.trl import endogenous_reward_func, judge_reward_func
from rewardkit.testing import build_model


class LengthJudge:
    """A deterministic stand-in for PrincipleJudge: longer responses score higher (1..5)."""

    def __init__(self, invalid_prompts: tuple[str, ...] = ()) -> None:
        self.requests: list[dict] = []
        self.invalid_prompts = invalid_prompts

    def judge_many(self, requests):
        self.requests.extend(requests)
        out = []
        for request in requests:
            if str(request["prompt"]) in self.invalid_prompts:
                out.append(Judgement(status="invalid", error="unparseable output"))
                continue
            responses = request["responses"]
            ranking = sorted(responses, key=lambda i: (-len(responses[i]), i))
            scores = {i: float(min(5, 1 + len(responses[i]))) for i in responses}
            out.append(Judgement(scores=scores, ranking=ranking, reasoning="by length"))
        return out


@pytest.fixture(scope="module")
def reward(tokenizer):
    return EndogenousReward(build_model("qwen2", len(tokenizer), seed=3), tokenizer)


def test_endogenous_matches_score_many_in_both_formats(reward):
    func = endogenous_reward_func(reward)
    assert func.__name__ == "endogenous_reward"
    prompts = ["What is 2+2?", "What is 2+2?", "Sort 3 1 2."]
    completions = ["4", "5", "1 2 3"]
    expected = reward.score_many(prompts, completions)
    assert func(prompts=prompts, completions=completions, completion_ids=[[1]] * 3,
                trainer_state=None) == pytest.approx(expected)
    chat_prompts = [[{"role": "user", "content": p}] for p in prompts]
    chat_completions = [[{"role": "assistant", "content": c}] for c in completions]
    assert func(prompts=chat_prompts, completions=chat_completions) == pytest.approx(expected)


def test_endogenous_text_format_scores_the_continuation(reward, tokenizer):
    func = endogenous_reward_func(reward, prompt_format="text", aggregate="mean")
    prompt, completion = "Question: 2+2? Answer:", " 4"
    state = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    whole = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
    expected = reward.score_ids([state], [whole[len(state):]], aggregate="mean")
    assert func(prompts=[prompt], completions=[completion]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="prompt 0 is a list of messages"):
        func(prompts=[[{"role": "user", "content": "x"}]], completions=["y"])


def test_endogenous_rejects_tool_call_completions(reward):
    func = endogenous_reward_func(reward)
    two = [{"role": "assistant", "content": "a"}, {"role": "tool", "content": "b"}]
    with pytest.raises(ValueError, match="completion 1"):
        func(prompts=["p", "p"], completions=["ok", two])


def test_judge_groups_by_prompt_in_order_with_reference():
    judge = LengthJudge()
    func = judge_reward_func(judge, "Prefer longer answers.", reference_column="answer",
                             reward="rank")
    assert func.__name__ == "judge_reward"
    prompts = ["A", "A", "B", "A", "B"]
    completions = ["x", "xxx", "yy", "xx", "y"]
    logged = {}
    rewards = func(prompts=prompts, completions=completions, answer=["1", "1", "2", "1", "2"],
                   log_metric=logged.__setitem__)
    # group A = items 0,1,3 ("x","xxx","xx"): ranks worst, best, middle; group B = items 2,4
    assert rewards == [0.0, 1.0, 1.0, 0.5, 0.0]
    assert [r["responses"] for r in judge.requests] == [
        {"0": "x", "1": "xxx", "2": "xx"}, {"0": "yy", "1": "y"}]
    assert "Reference answer: 1" in judge.requests[0]["principle"]
    assert logged == {"judge_reward/invalid": 0.0}


def test_judge_invalid_group_gives_none_or_raises():
    judge = LengthJudge(invalid_prompts=("B",))
    func = judge_reward_func(judge, "p")
    assert func(prompts=["A", "B", "A"], completions=["a", "bb", "aaa"]) == [2.0, None, 4.0]
    strict = judge_reward_func(judge, "p", on_invalid="raise")
    with pytest.raises(RuntimeError, match="1 of 2 judge verdicts are invalid"):
        strict(prompts=["A", "B"], completions=["a", "b"])
    with pytest.raises(KeyError, match="reference_column 'answer'"):
        judge_reward_func(judge, "p", reference_column="answer")(prompts=["A"], completions=["a"])


@pytest.mark.parametrize("which", ["endogenous", "judge"])
def test_grpo_trainer_runs_with_each_reward(which, tmp_path, tokenizer, reward):
    trl = pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    policy_dir = tmp_path / "policy"
    build_model("qwen2", len(tokenizer), seed=4).save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    data = datasets.Dataset.from_dict({
        "prompt": [[{"role": "user", "content": q}] for q in ("What is 2+2?", "Sort 3 1 2.")] * 2,
        "answer": ["4", "1 2 3"] * 2,
    })
    judge = LengthJudge()
    func = (endogenous_reward_func(reward) if which == "endogenous"
            else judge_reward_func(judge, "Prefer longer answers.", reference_column="answer"))
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4,
        num_generations=2, max_completion_length=8, learning_rate=1e-4, beta=0.01,
        logging_steps=1, report_to="none", use_cpu=True, save_strategy="no", seed=0,
        disable_tqdm=True,
    )
    trainer = trl.GRPOTrainer(model=str(policy_dir), reward_funcs=func, args=config,
                              train_dataset=data, processing_class=tokenizer)
    trainer.train()
    logged = [h for h in trainer.state.log_history if f"rewards/{func.__name__}/mean" in h]
    assert len(logged) == 2
    assert all(math.isfinite(h[f"rewards/{func.__name__}/mean"]) for h in logged)
    if which == "judge":
        assert len(judge.requests) == 4 and all(len(r["responses"]) == 2 for r in judge.requests)
