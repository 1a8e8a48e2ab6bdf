"""Batched prefill on real weights: several prompt groups' prompts in one left-padded forward, then
their responses mixed in batches on that cache, against the model's own forward over each whole
unpadded sequence (fp32 logits, the reward arithmetic in fp64) and against rewardmine's
whole-sequence path. On Gemma-3-270m the prompts are longer than its 512-token sliding window and
differ in length by hundreds of tokens, so the left padding reaches into the window."""

from __future__ import annotations

import pytest
import torch

from rewardmine import EndogenousReward

pytestmark = pytest.mark.realmodel


def forward_rewards(model, prompt_ids, action_ids):
    """Token rewards (terminal zero) from the model's forward on the whole sequence."""
    ids = torch.tensor([list(prompt_ids) + list(action_ids)])
    with torch.inference_mode():
        logits = model(input_ids=ids, logits_to_keep=len(action_ids) + 1).logits[0].double()
    values = torch.logsumexp(logits, dim=-1)
    selected = logits[torch.arange(len(action_ids)), torch.tensor(action_ids, dtype=torch.long)]
    next_values = torch.cat([values[1:-1], values.new_zeros(1)]) if action_ids else values[:0]
    return (selected - next_values).tolist()


def check(model, tokenizer, groups, budget, *, whole_path=True):
    """groups: (prompt text, [response texts]); every item against the model's forward (and,
    with ``whole_path``, against rewardmine's whole-sequence path)."""
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts, actions = [], []
    for prompt, responses in groups:
        for response in responses:
            prompts.append(encode(prompt))
            actions.append(encode(response))
    batched = EndogenousReward(model, tokenizer, min_cache_saving=0, max_tokens_per_batch=budget)
    calls = []
    run_shared = batched._run_shared
    batched._run_shared = lambda groups: (calls.append(len(groups)), run_shared(groups))[1]
    got = batched.token_rewards_ids(prompts, actions)
    assert batched._pad_prompts is True and max(calls) > 1  # prompts shared a prefill
    if whole_path:
        whole = EndogenousReward(model, tokenizer, reuse_prompt_cache=False, check_head=False,
                                 max_tokens_per_batch=budget)
        for a, b in zip(got, whole.token_rewards_ids(prompts, actions), strict=True):
            assert a.rewards == pytest.approx(b.rewards, abs=1e-4, rel=0)
            assert a.values == pytest.approx(b.values, abs=1e-4, rel=0)
    for a, p, r in zip(got, prompts, actions, strict=True):
        assert a.rewards == pytest.approx(forward_rewards(model, p, r), abs=1e-4, rel=0)
    return prompts


def test_smollm2_prompt_groups_share_a_prefill(smollm2):
    model, tokenizer = smollm2
    groups = [
        ("Question: What is the capital of France?\nAnswer:", [" Paris.", " Lyon, I think", ""]),
        ("Name a prime number.", [" 7", " 11 is prime, and so is 13."]),
        ("Write one line of Python that prints hello, and explain it in one sentence.",
         ['\nprint("hello")', " I cannot.", " print('hello') prints hello."]),
    ]
    check(model, tokenizer, groups, budget=128)


def test_gemma3_prompts_longer_than_the_sliding_window(gemma3):
    model, tokenizer = gemma3
    facts = lambda n: " ".join(f"Fact {i}: {i} squared is {i * i}." for i in range(n))  # noqa: E731
    groups = [  # about 540, 120 and 15 tokens: one past the window, one padded by 400 in it
        (facts(37) + "\nWhat is 7 squared?", [" 49, by fact 7.", ""]),
        (facts(10) + "\nWhat is 3 squared?", [" 9.", " Nine, I think"]),
        ("The sky is blue. What colour is the sky?", [" Blue.", " Green"]),
    ]
    prompts = check(model, tokenizer, groups, budget=4096, whole_path=False)
    lengths = sorted({len(p) for p in prompts})
    window = model.config.sliding_window
    assert lengths[0] < 30 and lengths[1] < window - 300 and lengths[2] > window
