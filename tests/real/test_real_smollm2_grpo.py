"""A few TRL GRPO steps with SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized) as the policy and a
frozen copy of it as the endogenous reward, the paper's self-rewarding setting, on CPU."""

from __future__ import annotations

import math

import pytest
import torch

from rewardmine import EndogenousReward
from rewardmine.rl.trl import endogenous_reward_func

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

pytestmark = pytest.mark.realmodel

QUESTIONS = ["What is 2+3?", "Name the capital of Italy."]


def test_grpo_steps_with_the_frozen_copy_as_reward(smollm2_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    frozen = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    reward = EndogenousReward(frozen, tokenizer)
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    seen: list[tuple[list, list, list[float]]] = []
    func = endogenous_reward_func(reward)

    def recording(prompts, completions, **kwargs):
        rewards = func(prompts=prompts, completions=completions, **kwargs)
        seen.append((prompts, kwargs["completion_ids"], rewards))
        return rewards

    recording.__name__ = "endogenous_reward"
    data = datasets.Dataset.from_dict({"prompt": [[{"role": "user", "content": q}]
                                                  for q in QUESTIONS] * 2})
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=4,
        num_generations=2, max_completion_length=8, learning_rate=1e-5, beta=0.01,
        temperature=1.0, gradient_checkpointing=False, logging_steps=1, report_to="none",
        use_cpu=True, save_strategy="no", seed=0, disable_tqdm=True,
    )
    trainer = trl.GRPOTrainer(model=str(smollm2_dir), reward_funcs=recording, args=config,
                              train_dataset=data, processing_class=tokenizer)
    trainer.train()

    assert trainer.state.global_step == 2
    logged = [h["rewards/endogenous_reward/mean"] for h in trainer.state.log_history
              if "rewards/endogenous_reward/mean" in h]
    assert len(logged) == 2 and all(math.isfinite(x) for x in logged)
    # every reward the trainer got is the frozen copy's score of that prompt and completion
    assert len(seen) == 2 and all(len(rewards) == 4 for _, _, rewards in seen)
    # of the ids the policy generated (no end-of-turn appended to a truncated one)
    for prompts, completion_ids, rewards in seen:
        assert {p[0]["content"] for p in prompts} <= set(QUESTIONS)
        assert any(len(ids) for ids in completion_ids)  # the policy wrote something
        states = [tokenizer(tokenizer.apply_chat_template(p, tokenize=False,
                                                          add_generation_prompt=True),
                            add_special_tokens=False)["input_ids"] for p in prompts]
        assert reward.score_ids(states, [list(c) for c in completion_ids]) == \
            pytest.approx(rewards, abs=1e-4)
    # the policy moved; its frozen copy did not
    policy = trainer.model.state_dict()
    assert any(not torch.equal(policy[k].cpu(), before[k]) for k in before if k in policy)
    assert all(torch.equal(v, before[k]) for k, v in frozen.state_dict().items())
