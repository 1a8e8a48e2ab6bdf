"""Batched prefill: several prompt groups' prompts in one left-padded forward, then their responses
mixed in batches on its KV cache. Rewards per token against the whole-sequence path and against the
independent fp64 reference (tests/reference.py)."""

from __future__ import annotations

import copy

import pytest
import torch

from reference import fp64_reference_rewards
from rewardmine import EndogenousReward
from rewardmine.endogenous.batching import budget_batches, select_rows
from rewardmine.testing import build_model

# prompts of several lengths, each with 1 to 5 responses (empty ones included)
PROMPT_LENGTHS = (3, 7, 12, 20, 33)
RESPONSES_PER_PROMPT = (2, 3, 1, 5, 4)


def items(vocab: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = lambda n: torch.randint(3, vocab, (n,), generator=generator).tolist()  # noqa: E731
    prompts, actions = [], []
    for length, count in zip(PROMPT_LENGTHS, RESPONSES_PER_PROMPT, strict=True):
        prompt = ids(length)
        for k in range(count):
            prompts.append(prompt)
            actions.append(ids([0, 4, 9, 1, 6][k]))
    return prompts, actions


def forward_shapes(model):
    """(input shape, left-padded?) of every forward of the model's body."""
    seen = []

    def hook(module, args, kwargs, out):
        mask = kwargs.get("attention_mask")
        cached = kwargs.get("cache", kwargs.get("past_key_values")) is not None
        left = mask is not None and not cached and bool((mask[:, 0] == 0).any())
        seen.append((tuple(kwargs["input_ids"].shape), left))

    handle = model.base_model.register_forward_hook(hook, with_kwargs=True)
    return seen, handle


def assert_same_tokens(got, want, tol=1e-4):
    for a, b in zip(got, want, strict=True):
        assert a.token_ids == b.token_ids
        assert a.rewards == pytest.approx(b.rewards, abs=tol, rel=0)
        assert a.values == pytest.approx(b.values, abs=tol, rel=0)
        assert a.logprobs == pytest.approx(b.logprobs, abs=tol, rel=0)


def check_against_references(model, tokenizer, budget: int, *, terminal="zero"):
    prompts, actions = items(len(tokenizer))
    batched = EndogenousReward(model, tokenizer, min_cache_saving=0, terminal=terminal,
                               max_tokens_per_batch=budget)
    whole = EndogenousReward(model, tokenizer, reuse_prompt_cache=False, terminal=terminal)
    scores = batched.score_ids(prompts, actions)  # the first call probes left padding
    assert batched._pad_prompts is True
    seen, handle = forward_shapes(model)
    try:
        got = batched.token_rewards_ids(prompts, actions)
    finally:
        handle.remove()
    prefills = [shape for shape, left in seen if left]
    assert prefills and max(b for b, _ in prefills) > 1  # several prompts shared a forward
    assert all(b * w <= budget for (b, w), _ in seen if b > 1)  # within the token budget
    assert_same_tokens(got, whole.token_rewards_ids(prompts, actions))
    model64 = copy.deepcopy(model).double()
    for item, p, a in zip(got, prompts, actions, strict=True):
        rewards, logprobs, values = fp64_reference_rewards(model64, p, a, terminal=terminal)
        assert item.rewards == pytest.approx(rewards, abs=1e-4, rel=0)
        assert item.logprobs == pytest.approx(logprobs, abs=1e-4, rel=0)
        assert item.values == pytest.approx(values[:-1], abs=1e-4, rel=0)
    assert scores == pytest.approx([t.total for t in got], abs=1e-4, rel=0)


@pytest.mark.parametrize("budget", [64, 8192])
def test_batched_prefill_matches_whole_sequences_and_reference(model, tokenizer, budget):
    check_against_references(model, tokenizer, budget)


def test_batched_prefill_terminal_value(tokenizer):
    check_against_references(build_model("qwen2", len(tokenizer), seed=4), tokenizer, 96,
                             terminal="value")


def test_sliding_window_shorter_than_the_prompts(tokenizer):
    """Gemma-2 with a window of 8: left padding keeps each prompt's last states in the window."""
    check_against_references(build_model("gemma2", len(tokenizer), seed=3, sliding_window=8),
                             tokenizer, 80)


def test_gemma3_hybrid_sliding_and_full_layers(tokenizer):
    """Gemma-3's layout (sliding-window and full-attention layers in one cache, sdpa)."""
    import transformers

    config = transformers.Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        max_position_embeddings=512)
    torch.manual_seed(5)
    model = transformers.Gemma3ForCausalLM(config).eval()
    check_against_references(model, tokenizer, 80)


class _NoMasks(EndogenousReward):
    """A body that drops attention masks and positions, as a model that cannot pad would."""

    def _body(self, **inputs):
        inputs.pop("attention_mask", None)
        inputs.pop("position_ids", None)
        return super()._body(**inputs)


def test_a_model_that_cannot_pad_runs_one_prompt_per_forward(tokenizer):
    model = build_model("llama", len(tokenizer), seed=6)
    generator = torch.Generator().manual_seed(6)
    prompts, actions = [], []
    for length in (3, 12, 7, 20):  # three responses of 4 tokens each: no padding within a group
        prompt = torch.randint(3, len(tokenizer), (length,), generator=generator).tolist()
        for _ in range(3):
            prompts.append(prompt)
            actions.append(torch.randint(3, len(tokenizer), (4,), generator=generator).tolist())
    reward = _NoMasks(model, tokenizer, min_cache_saving=0)
    first = reward.token_rewards_ids(prompts, actions)
    assert reward._pad_prompts is False  # the probe saw the padding leak into the states
    seen, handle = forward_shapes(model)
    try:
        got = reward.token_rewards_ids(prompts, actions)
    finally:
        handle.remove()
    # one prompt to a forward, longest first, each followed by its three responses
    assert [shape for shape, _ in seen] == [s for n in (20, 12, 7, 3) for s in ((1, n), (3, 4))]
    whole = EndogenousReward(model, tokenizer, reuse_prompt_cache=False)
    assert_same_tokens(got, whole.token_rewards_ids(prompts, actions))
    assert_same_tokens(first, got)


def test_select_rows_is_a_view_that_stores_nothing(tokenizer):
    model = build_model("qwen2", len(tokenizer), seed=7)
    ids = torch.arange(3, 27).reshape(2, 12)
    with torch.inference_mode():
        out = model.base_model(input_ids=ids, use_cache=True)
    cache = out.past_key_values if hasattr(out, "past_key_values") else out.cache
    before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    rows = torch.tensor([1, 1, 0])
    chosen = select_rows(cache, rows)
    new_keys = torch.randn(3, *before[0][0].shape[1:2], 4, before[0][0].shape[-1])
    new_values = torch.randn_like(new_keys)
    for index, (old_keys, old_values) in enumerate(before):
        keys, values = chosen.update(new_keys, new_values, index)
        # what the layer's own update returns: the chosen rows, then the new states
        assert torch.equal(keys, torch.cat([old_keys[rows], new_keys], dim=-2))
        assert torch.equal(values, torch.cat([old_values[rows], new_values], dim=-2))
        # and it stores nothing: the view's lengths and the prompts' cache are as they were
        assert chosen.get_seq_length(index) == 12
        assert chosen.layers[index].keys.shape[-2] == 12
        assert torch.equal(cache.layers[index].keys, old_keys)
        assert torch.equal(cache.layers[index].values, old_values)
    # a second forward on the same view sees the same prompt states
    keys, _ = chosen.update(new_keys, new_values, 0)
    assert torch.equal(keys, torch.cat([before[0][0][rows], new_keys], dim=-2))


def test_budget_batches():
    lengths = [5, 30, 12, 12, 40, 3]
    batches = list(budget_batches(range(6), lambda i: lengths[i], 48))
    assert batches == [[4], [1], [2, 3, 0, 5]]  # 4 x 12 fits 48
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert list(budget_batches(range(6), lambda i: lengths[i], 1000, limit=4)) == [
        [4, 1, 2, 3], [0, 5]]
    assert list(budget_batches([], len, 10)) == []
