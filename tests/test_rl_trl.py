"""TRL reward functions: the contract (formats, grouping, references) and a real GRPOTrainer run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rewardmine import EndogenousReward, Judgement
from rewardmine.rl.trl import AsyncJudgeRewardFunc, endogenous_reward_func, judge_reward_func
from rewardmine.testing import build_model, build_tokenizer


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
    # ids that do not decode to the completions: another tokenizer, so the text is scored
    assert func(prompts=prompts, completions=completions, completion_ids=[[1]] * 3,
                trainer_state=None) == pytest.approx(expected)
    chat_prompts = [[{"role": "user", "content": p}] for p in prompts]
    chat_completions = [[{"role": "assistant", "content": c}] for c in completions]
    assert func(prompts=chat_prompts, completions=chat_completions) == pytest.approx(expected)


def test_endogenous_text_format_scores_the_continuation(reward, tokenizer):
    means = EndogenousReward(reward.model, reward.tokenizer, aggregate="mean")
    func = endogenous_reward_func(means, prompt_format="text")
    prompt, completion = "Question: 2+2? Answer:", " 4"
    state = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    whole = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
    expected = reward.score_ids([state], [whole[len(state):]], aggregate="mean")
    assert expected != pytest.approx(reward.score_ids([state], [whole[len(state):]]))
    assert func(prompts=[prompt], completions=[completion]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="prompt 0 is a list of messages"):
        func(prompts=[[{"role": "user", "content": "x"}]], completions=["y"])


def test_endogenous_rejects_tool_call_completions(reward):
    func = endogenous_reward_func(reward)
    two = [{"role": "assistant", "content": "a"}, {"role": "tool", "content": "b"}]
    with pytest.raises(ValueError, match="completion 1"):
        func(prompts=["p", "p"], completions=["ok", two])


def test_judge_groups_follow_trls_layout_and_never_merge_a_shared_prompt():
    judge = LengthJudge()
    func = judge_reward_func(judge, "Prefer longer answers.", reference_column="answer",
                             reward="rank", num_generations=3)
    assert func.__name__.startswith("judge_reward:rank:principle=")
    # two GRPO groups drew prompt A; TRL lays them out as consecutive blocks of 3
    prompts = ["A", "A", "A", "B", "B", "B", "A", "A", "A"]
    completions = ["x", "xxx", "xx", "yy", "y", "yyy", "a", "aaa", "aa"]
    logged = {}
    rewards = func(prompts=prompts, completions=completions, answer=["1"] * 3 + ["2"] * 3 + ["1"] * 3,
                   log_metric=logged.__setitem__)
    assert rewards == [0.0, 1.0, 0.5, 0.5, 0.0, 1.0, 0.0, 1.0, 0.5]
    assert [r["responses"] for r in judge.requests] == [
        {"0": "x", "1": "xxx", "2": "xx"}, {"0": "yy", "1": "y", "2": "yyy"},
        {"0": "a", "1": "aaa", "2": "aa"}]
    assert "Reference answer: 1" in judge.requests[0]["principle"]
    assert logged == {f"{func.__name__}/invalid": 0.0}
    with pytest.raises(ValueError, match=r"group 0 .* mixes prompts"):
        func(prompts=["A", "B", "A"], completions=["a", "b", "c"], answer=["1"] * 3)
    with pytest.raises(ValueError, match="not a multiple of num_generations=3"):
        func(prompts=["A", "A"], completions=["a", "b"], answer=["1"] * 2)


def test_default_names_differ_with_the_options(reward, saved_model):
    names = {endogenous_reward_func(str(saved_model)).__name__,
             endogenous_reward_func(str(saved_model), aggregate="mean").__name__,
             endogenous_reward_func(reward, system="Be brief.").__name__,
             endogenous_reward_func(reward, system="Be long.").__name__,
             judge_reward_func(LengthJudge(), "p", num_generations=2).__name__,
             judge_reward_func(LengthJudge(), "q", num_generations=2).__name__,
             judge_reward_func(LengthJudge(), "p", num_generations=2, reward="rank").__name__}
    assert len(names) == 7
    with pytest.raises(TypeError, match="only apply when reward is a spec"):
        endogenous_reward_func(reward, aggregate="mean")


def pad_is_eos_tokenizer(which: str):
    if which == "smollm2":
        from smollm2 import smollm2_tokenizer

        return smollm2_tokenizer()
    tokenizer = build_tokenizer()
    tokenizer.pad_token = tokenizer.eos_token  # as SmolLM2's: pad == EOS == <|im_end|>
    return tokenizer


@pytest.mark.parametrize("which", ["tiny", "smollm2"])
def test_generated_ids_are_scored_finished_and_truncated_apart(which):
    pad_is_eos = pad_is_eos_tokenizer(which)
    assert pad_is_eos.pad_token == pad_is_eos.eos_token == "<|im_end|>"
    model = EndogenousReward(build_model("llama", len(pad_is_eos), seed=3), pad_is_eos)
    func = endogenous_reward_func(model)
    prompt = [{"role": "user", "content": "What is 2+2?"}]
    ids = pad_is_eos("Four.", add_special_tokens=False)["input_ids"]
    finished, truncated = [*ids, pad_is_eos.eos_token_id], ids
    logged = {}
    got = func(prompts=[prompt, prompt], completions=[[{"role": "assistant", "content": "Four."}]] * 2,
               completion_ids=[finished, truncated], log_metric=logged.__setitem__)
    state = pad_is_eos.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    state_ids = pad_is_eos(state, add_special_tokens=False)["input_ids"]
    assert got == pytest.approx(model.score_ids([state_ids] * 2, [finished, truncated]))
    assert abs(got[0] - got[1]) > 1.0
    assert logged == {f"{func.__name__}/scored_ids": 1.0}
    text_only = endogenous_reward_func(model, actions="text")
    assert text_only(prompts=[prompt] * 2, completions=["Four."] * 2,
                     completion_ids=[finished, truncated]) == pytest.approx([got[0]] * 2, abs=1e-4)


def test_reward_functions_survive_a_pickle_round_trip(saved_model):
    import pickle

    func = endogenous_reward_func(str(saved_model))
    expected = func(prompts=["What is 2+2?"], completions=["4"])
    clone = pickle.loads(pickle.dumps(func))
    assert clone._model is None and clone.__name__ == func.__name__
    assert clone(prompts=["What is 2+2?"], completions=["4"]) == pytest.approx(expected)
    judge = judge_reward_func("test_rl_trl:make_length_judge", "p",
                              num_generations=2)
    judged = pickle.loads(pickle.dumps(judge))
    assert judged(prompts=["A", "A"], completions=["a", "aa"]) == [2.0, 3.0]


def make_length_judge():
    return LengthJudge()


def test_async_judge_reward_func_is_awaited_like_trl_does():
    import asyncio

    from trl.trainer.utils import is_async_callable

    func = judge_reward_func(LengthJudge(), "p", num_generations=2, asynchronous=True)
    assert isinstance(func, AsyncJudgeRewardFunc) and is_async_callable(func)

    async def both():
        return await asyncio.gather(func(prompts=["A", "A"], completions=["a", "aa"]),
                                    func(prompts=["B", "B"], completions=["bbb", "b"]))

    assert asyncio.run(both()) == [[2.0, 3.0], [4.0, 2.0]]


def test_a_shared_reward_server_url_scores_the_ids(saved_model):
    pytest.importorskip("fastapi")
    from rewardmine.server.app import create_app
    from rewardmine.server.run import BackgroundServer

    reward = EndogenousReward.from_pretrained(str(saved_model))
    ids = reward.tokenizer("4", add_special_tokens=False)["input_ids"]
    with BackgroundServer(create_app(endogenous=reward)) as server:
        func = endogenous_reward_func(server.url, actions="ids")
        got = func(prompts=["What is 2+2?"] * 2, completions=["4", "4"],
                   completion_ids=[[*ids, reward.tokenizer.eos_token_id], ids])
        by_text = endogenous_reward_func(server.url)(prompts=["What is 2+2?"], completions=["4"])
    state = reward.encoder.render_prompt("What is 2+2?").ids
    assert got == pytest.approx(reward.score_ids(
        [state] * 2, [[*ids, reward.tokenizer.eos_token_id], ids]), abs=1e-5)
    assert by_text == pytest.approx(reward.score_many(["What is 2+2?"], ["4"]), abs=1e-5)


def test_judge_invalid_group_gives_none_or_raises():
    judge = LengthJudge(invalid_prompts=("B",))
    func = judge_reward_func(judge, "p", num_generations=2)
    assert func(prompts=["A", "A", "B", "B"], completions=["a", "aaa", "bb", "b"]) == [
        2.0, 4.0, None, None]
    strict = judge_reward_func(judge, "p", on_invalid="raise", num_generations=1)
    with pytest.raises(RuntimeError, match="1 of 2 judge verdicts are invalid"):
        strict(prompts=["A", "B"], completions=["a", "b"])
    with pytest.raises(KeyError, match="reference_column 'answer'"):
        judge_reward_func(judge, "p", reference_column="answer", num_generations=1)(
            prompts=["A"], completions=["a"])


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
            else judge_reward_func(judge, "Prefer longer answers.", reference_column="answer",
                                   num_generations=2))
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


def test_group_normalisation_standardizes_each_grpo_group(reward):
    prompts = ["What is 2+2?"] * 3 + ["Sort 3 1 2."] * 3
    completions = ["4", "5", "It is four.", "1 2 3", "3 2 1", "1 3 2"]
    raw = endogenous_reward_func(reward)(prompts=prompts, completions=completions)
    func = endogenous_reward_func(reward, normalize="group", num_generations=3)
    got = func(prompts=prompts, completions=completions)
    assert "normalize=group" in func.__name__
    for start in (0, 3):  # an independent standardization of each group
        group = np.array(raw[start:start + 3])
        want = (group - group.mean()) / (group.std() + 1e-4)
        assert got[start:start + 3] == pytest.approx(want.tolist(), abs=1e-9)

    def advantages(values):  # GRPO's per-group advantages
        out = []
        for start in (0, 3):
            g = np.array(values[start:start + 3])
            out += ((g - g.mean()) / (g.std() + 1e-4)).tolist()
        return out

    assert advantages(got) == pytest.approx(advantages(raw), abs=1e-3)  # alone: same advantages
    with pytest.raises(ValueError, match="needs num_generations"):
        endogenous_reward_func(reward, normalize="group")
    with pytest.raises(ValueError, match="not a multiple of num_generations=4"):
        endogenous_reward_func(reward, normalize="group", num_generations=4)(
            prompts=prompts, completions=completions)
