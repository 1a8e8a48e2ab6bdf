"""The endogenous reward on Gemma-3-270m (base; Q4_K_M GGUF, dequantized): 262k vocabulary, sliding
window of 512 on most layers, tied embeddings, no chat template.

The reference for every reward here is the model's own forward over the whole unpadded sequence
(fp32 logits, the reward arithmetic in fp64), with none of rewardmine's batching or chunked head.
"""

from __future__ import annotations

import pytest
import torch

from rewardmine import EndogenousReward
from rewardmine.endogenous.logits import OutputHead, selected_and_values

pytestmark = pytest.mark.realmodel

# A prompt of about 700 tokens, longer than the sliding window: the responses' sliding layers see
# only the prompt's last 512 positions, the full-attention layers all of it.
LONG_PROMPT = " ".join(f"Fact {i}: the number {i} squared is {i * i}." for i in range(40)) + (
    "\nQuestion: what is 7 squared?\nAnswer:")
RESPONSES = [" 49.", " The number 7 squared is 49, as fact 7 says.", " 50", " I do not know.", ""]


def forward_rewards(model, prompt_ids, action_ids, *, alpha=1.0):
    """Token rewards (terminal zero) from the model's forward on the whole sequence."""
    ids = torch.tensor([list(prompt_ids) + list(action_ids)])
    with torch.inference_mode():
        logits = model(input_ids=ids, logits_to_keep=len(action_ids) + 1).logits[0].double()
    values = alpha * torch.logsumexp(logits / alpha, dim=-1)
    selected = logits[torch.arange(len(action_ids)), torch.tensor(action_ids, dtype=torch.long)]
    next_values = torch.cat([values[1:-1], values.new_zeros(1)]) if action_ids else values[:0]
    return (selected - next_values).tolist()


def test_the_gguf_loads_as_the_model_card_says(gemma3):
    model, tokenizer = gemma3
    config = model.config
    assert type(model).__name__ == "Gemma3ForCausalLM" and len(tokenizer) == 262144
    assert config.sliding_window == 512 and "sliding_attention" in config.layer_types
    assert config.tie_word_embeddings
    assert model.get_output_embeddings().weight.data_ptr() == \
        model.get_input_embeddings().weight.data_ptr()
    assert not tokenizer.chat_template
    assert len(tokenizer(LONG_PROMPT)["input_ids"]) > config.sliding_window + 100


def test_shared_prompt_cache_equals_whole_sequences_past_the_sliding_window(gemma3):
    model, tokenizer = gemma3
    cached = EndogenousReward(model, tokenizer, min_cache_saving=0, max_tokens_per_batch=48)
    whole = EndogenousReward(model, tokenizer, reuse_prompt_cache=False)
    calls = []
    run_shared = cached._run_shared
    cached._run_shared = lambda *a, **k: (calls.append(1), run_shared(*a, **k))[1]
    pairs = [cached.encoder.encode(LONG_PROMPT, r) for r in RESPONSES]
    assert len(pairs[0].prompt_ids) > model.config.sliding_window + 100
    by_cache = cached._run(pairs)  # several response batches, each on a copy of the prompt's cache
    assert calls == [1]
    by_whole = whole._run(pairs)  # right-padded whole sequences in one batch
    for a, b in zip(by_cache, by_whole, strict=True):
        assert a.rewards.tolist() == pytest.approx(b.rewards.tolist(), abs=1e-4, rel=0)
        assert a.values.tolist() == pytest.approx(b.values.tolist(), abs=1e-4, rel=0)
    longest = max(range(len(pairs)), key=lambda i: len(pairs[i].action_ids))
    expected = forward_rewards(model, pairs[longest].prompt_ids, pairs[longest].action_ids)
    assert by_whole[longest].rewards.tolist() == pytest.approx(expected, abs=1e-4, rel=0)
    # the public API plans the same way
    assert cached.score(LONG_PROMPT, RESPONSES) == pytest.approx(
        [float(b.rewards.sum()) for b in by_whole], abs=1e-4 * len(pairs[longest].action_ids), rel=0)


@pytest.mark.parametrize(("alpha", "chunk"), [(1.0, None), (0.7, 37)])
def test_chunked_head_equals_the_forward_at_262k_vocabulary(gemma3, alpha, chunk):
    model, tokenizer = gemma3
    text = " ".join(f"Step {i}: add {i} to the total." for i in range(30))
    ids = torch.tensor([tokenizer(text)["input_ids"][:300]])
    assert ids.shape[1] == 300  # more than one default chunk (256 rows at 262,144 columns)
    targets = torch.cat([ids[0, 1:], torch.tensor([-1])])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].double()
        hidden = model.model(input_ids=ids).last_hidden_state[0]
        head = OutputHead.from_model(model, dtype=torch.float32)
        selected, values = selected_and_values(hidden, targets, head, alpha=alpha, chunk=chunk)
    assert head.weight.shape == (262144, 640) and head.softcap is None
    expected_values = alpha * torch.logsumexp(logits / alpha, dim=-1)
    expected_selected = logits[torch.arange(299), targets[:-1]]
    assert values.double().tolist() == pytest.approx(expected_values.tolist(), abs=1e-4, rel=0)
    assert selected[:-1].double().tolist() == pytest.approx(expected_selected.tolist(), abs=1e-4,
                                                              rel=0)
    assert selected[-1] == 0.0  # no action after the last position


def test_no_template_path_is_what_the_docs_say(gemma3):
    """docs/endogenous.md: without a chat template the state is the prompt text (messages joined by
    blank lines) with the tokenizer's special tokens, the actions the response and then EOS."""
    model, tokenizer = gemma3
    reward = EndogenousReward(model, tokenizer)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    plain = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731

    pair = reward.encoder.encode("The capital of France is", " Paris.")
    assert pair.prompt_ids == (bos, *plain("The capital of France is"))
    assert pair.action_ids == (*plain(" Paris."), eos)

    messages = [{"role": "user", "content": "Q: 2+2?"}, {"role": "assistant", "content": "A: 4"},
                {"role": "user", "content": "Q: 3+3?"}]
    pair = reward.encoder.encode(messages, "A: 6", system="Answer briefly.")
    assert pair.prompt_ids == (bos, *plain("Answer briefly.\n\nQ: 2+2?\n\nA: 4\n\nQ: 3+3?"))
    assert pair.action_ids[-1] == eos

    scored = reward.token_rewards("The capital of France is", " Paris.")
    prompt_ids = (bos, *plain("The capital of France is"))
    assert scored.token_ids == [*plain(" Paris."), eos]
    expected = forward_rewards(model, prompt_ids, scored.token_ids)
    assert scored.rewards == pytest.approx(expected, abs=1e-4, rel=0)
    # the base model knows the answer: Paris is more likely than Lyon
    paris, lyon = reward.score("The capital of France is", [" Paris.", " Lyon."])
    assert paris > lyon
