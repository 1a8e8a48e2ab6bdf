"""The endogenous reward on SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized) against an fp64 reference.

The reference tokenizes with the model's own chat template (its default system line included) and
computes every token reward from the full fp64 logits of one forward over the whole sequence
(tests/reference.py), with none of rewardmine's encoder, chunked head or batching.
"""

from __future__ import annotations

import copy

import pytest

from reference import fp64_reference_rewards
from rewardmine import EndogenousReward

pytestmark = pytest.mark.realmodel

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

ITEMS = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of France?", "Paris"),
    ("What is the capital of France?", "I think it is Lyon, but I am not sure at all."),
    ("What is the capital of France?", ""),
    ([{"role": "user", "content": "Name a prime number."},
      {"role": "assistant", "content": "7"},
      {"role": "user", "content": "Another one, please."}], "11 is prime too.\n\nSo is 13."),
    ("Write one line of Python that prints hello.", "```python\nprint(\"hello\")\n```"),
]


def template_split(tokenizer, prompt, response):
    """(prompt ids, action ids) read off the chat template's rendering of the whole turn."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    state = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": response}],
                                          tokenize=False)
    assert whole.startswith(state) and whole.endswith("<|im_end|>\n")
    whole = whole[: -len("\n")]  # the turn ends with its end-of-turn token, the last action
    prompt_ids = tokenizer(state, add_special_tokens=False)["input_ids"]
    whole_ids = tokenizer(whole, add_special_tokens=False)["input_ids"]
    assert whole_ids[: len(prompt_ids)] == prompt_ids
    return prompt_ids, whole_ids[len(prompt_ids):]


def test_the_gguf_loads_as_the_model_card_says(smollm2):
    model, tokenizer = smollm2
    assert type(model).__name__ == "LlamaForCausalLM" and len(tokenizer) == 49152
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                             add_generation_prompt=True)
    assert rendered == (f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
                        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert all(p.dtype.is_floating_point for p in model.parameters())  # dense, dequantized


@pytest.fixture(scope="module")
def model64(smollm2):
    return copy.deepcopy(smollm2[0]).double()


@pytest.fixture(scope="module")
def references(smollm2, model64):
    """(prompt ids, action ids, (rewards, log pi, values)) for every item, from fp64 logits."""
    tokenizer = smollm2[1]
    out = []
    for prompt, response in ITEMS:
        prompt_ids, action_ids = template_split(tokenizer, prompt, response)
        out.append((prompt_ids, action_ids, fp64_reference_rewards(model64, prompt_ids, action_ids)))
    return out


@pytest.mark.parametrize("index", range(len(ITEMS)))
def test_token_rewards_equal_the_fp64_reference(smollm2, references, index):
    model, tokenizer = smollm2
    prompt, response = ITEMS[index]
    prompt_ids, action_ids, (rewards, logprobs, values) = references[index]
    assert DEFAULT_SYSTEM in tokenizer.decode(prompt_ids)
    ours = EndogenousReward(model, tokenizer).token_rewards(prompt, response)
    assert ours.token_ids == action_ids
    assert ours.token_ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ours.rewards == pytest.approx(rewards, abs=1e-4, rel=0)
    assert ours.logprobs == pytest.approx(logprobs, abs=1e-4, rel=0)
    assert ours.values == pytest.approx(values[:-1], abs=1e-4, rel=0)
    assert ours.total == pytest.approx(sum(rewards), abs=1e-4 * len(rewards), rel=0)


@pytest.mark.parametrize("shared_prompt_cache", [False, True])
def test_batched_scores_equal_the_reference(smollm2, references, shared_prompt_cache):
    """Every item at once (the France answers share a prompt), in either batching plan."""
    model, tokenizer = smollm2
    reward = EndogenousReward(model, tokenizer, reuse_prompt_cache=shared_prompt_cache,
                              min_cache_saving=0, max_tokens_per_batch=256)
    calls = []
    run_shared = reward._run_shared
    reward._run_shared = lambda *a, **k: (calls.append(1), run_shared(*a, **k))[1]
    prompts, responses = zip(*ITEMS, strict=True)
    for aggregate in ("sum", "mean"):
        scores = reward.score_many(list(prompts), list(responses), aggregate=aggregate)
        for (_, _, (rewards, logprobs, _)), score in zip(references, scores, strict=True):
            # "mean" is the mean log-likelihood, not the mean token reward
            expected = sum(rewards) if aggregate == "sum" else sum(logprobs) / len(logprobs)
            assert score == pytest.approx(expected, abs=1e-4 * len(rewards), rel=0)
    assert bool(calls) == shared_prompt_cache  # the France group took the KV-cache path


def test_system_prompt_replaces_the_default_line(smollm2, model64):
    model, tokenizer = smollm2
    system = "You are a terse geography teacher."
    prompt, response = ITEMS[0]
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    prompt_ids, action_ids = template_split(tokenizer, messages, response)
    assert DEFAULT_SYSTEM not in tokenizer.decode(prompt_ids)
    rewards = fp64_reference_rewards(model64, prompt_ids, action_ids)[0]
    steered = EndogenousReward(model, tokenizer).token_rewards(prompt, response, system=system)
    assert steered.rewards == pytest.approx(rewards, abs=1e-4, rel=0)
