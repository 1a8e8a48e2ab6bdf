"""EndogenousReward against an independent fp64 reference, and its invariances."""

from __future__ import annotations

import pytest
import torch

from reference import reference_rewards
from rewardmine import ContextLengthError, EndogenousReward
from rewardmine.endogenous.logits import OutputHead
from rewardmine.models import resolve_dtype
from rewardmine.testing import build_model

PROMPT = "What is 2+2? Answer briefly."
RESPONSES = ["It is 4.", "The answer is 5, I think.", "", "4"]
MESSAGES = [
    {"role": "system", "content": "You are a careful assistant."},
    {"role": "user", "content": "Sort: 3 1 4 1 5"},
    {"role": "assistant", "content": "1 1 3 4 5"},
    {"role": "user", "content": "And in reverse?"},
]


@pytest.mark.parametrize("alpha", [1.0, 0.5])
@pytest.mark.parametrize("terminal", ["zero", "value"])
def test_token_rewards_match_fp64_reference(model, tokenizer, alpha, terminal):
    rm = EndogenousReward(model, tokenizer, alpha=alpha, terminal=terminal)
    for prompt in (PROMPT, MESSAGES):
        for response in RESPONSES:
            pair = rm.encoder.encode(prompt, response)
            want_r, want_logp, want_v = reference_rewards(
                model, pair.prompt_ids, pair.action_ids, alpha=alpha, terminal=terminal)
            got = rm.token_rewards(prompt, response)
            assert got.token_ids == list(pair.action_ids)
            assert got.rewards == pytest.approx(want_r, abs=1e-4)
            assert got.logprobs == pytest.approx(want_logp, abs=1e-4)
            assert got.values == pytest.approx(want_v[:-1], abs=1e-4)
            want_terminal = want_v[-1] if terminal == "value" else 0.0
            assert got.terminal_value == pytest.approx(want_terminal, abs=1e-4)
            assert got.total == pytest.approx(sum(want_r), abs=1e-4)


def test_score_and_score_many_match_reference(model, tokenizer):
    rm = EndogenousReward(model, tokenizer, max_tokens_per_batch=40)
    want, mean_log_pi = [], []
    for response in RESPONSES:
        pair = rm.encoder.encode(PROMPT, response)
        rewards, log_pi, _ = reference_rewards(model, pair.prompt_ids, pair.action_ids)
        want.append(sum(rewards))
        mean_log_pi.append(sum(log_pi) / len(log_pi))
    assert rm.score(PROMPT, RESPONSES) == pytest.approx(want, abs=1e-4)
    prompts = [PROMPT, "Other prompt", PROMPT, MESSAGES, PROMPT, PROMPT]
    responses = [RESPONSES[0], "x", RESPONSES[1], "y y", RESPONSES[2], RESPONSES[3]]
    many = rm.score_many(prompts, responses)
    assert [many[i] for i in (0, 2, 4, 5)] == pytest.approx(want, abs=1e-4)
    # "mean" is the length-normalised log-likelihood, not the sum of r_t over T
    assert rm.score(PROMPT, RESPONSES, aggregate="mean") == pytest.approx(mean_log_pi, abs=1e-4)


@pytest.mark.parametrize("own_terminal", ["zero", "value"])
def test_score_variants_equal_rewards_built_with_each_variant(model, tokenizer, own_terminal):
    """Several (aggregate, terminal) rewards from one forward pass are what a reward built with
    each of them gives alone, whatever terminal the scoring reward itself has; bad variants are
    refused before the model runs."""
    prompts = [PROMPT, MESSAGES[1:], PROMPT, "Other prompt"]
    responses = [RESPONSES[0], "1 1 3 4 5", RESPONSES[2], "x"]
    variants = [("sum", "zero"), ("sum", "value"), ("mean", "zero"), ("mean", "value")]
    rm = EndogenousReward(model, tokenizer, alpha=0.5, terminal=own_terminal)
    got = rm.score_variants(prompts, responses, variants, system="Be terse.")
    for (how, terminal), column in zip(variants, got, strict=True):
        alone = EndogenousReward(model, tokenizer, alpha=0.5, terminal=terminal, aggregate=how)
        assert column == pytest.approx(alone.score_many(prompts, responses, system="Be terse."),
                                       abs=1e-5)
    assert got[0] != pytest.approx(got[1], abs=1e-3)  # the terminal value moved the sums
    for bad, match in (([], "non-empty"), ("sum", "non-empty"), ([("sum",)], "not an"),
                       ([("max", "zero")], "aggregate"), ([("sum", "last")], "terminal")):
        with pytest.raises(ValueError, match=match):
            rm.score_variants(prompts, responses, bad)


def test_the_mean_does_not_divide_the_prompts_value_by_the_length(model, tokenizer):
    """The mean of r_t would be (log pi(y|x) + V(s_1)) / T: the empty response (T = 1, the
    end-of-turn token alone) would collect all of V(s_1) and outrank every answer by the
    division. The mean log-likelihood carries no V(s_1) at all."""
    rm = EndogenousReward(model, tokenizer, alpha=0.7)
    for response in ("", "4", "It is 4 because 2 and 2 make 4."):
        tr = rm.token_rewards(PROMPT, response)
        [mean] = rm.score(PROMPT, [response], aggregate="mean")
        assert mean == pytest.approx(0.7 * sum(tr.logprobs) / len(tr.logprobs), abs=1e-5)
        old = tr.total / len(tr.rewards)  # what "mean" was
        assert old - mean == pytest.approx(tr.values[0] / len(tr.rewards), abs=1e-4)


def test_telescoping_identity(model, tokenizer):
    for alpha in (1.0, 0.7):
        for terminal in ("zero", "value"):
            rm = EndogenousReward(model, tokenizer, alpha=alpha, terminal=terminal)
            tr = rm.token_rewards(MESSAGES, "In reverse: 5 4 3 1 1")
            # sum_t r_t = alpha * log pi(y|x) + V(s_1) - V(s_{T+1})
            telescoped = alpha * sum(tr.logprobs) + tr.values[0] - tr.terminal_value
            assert tr.total == pytest.approx(telescoped, abs=1e-4)


def test_terminal_value_differs_by_final_state_value(model, tokenizer):
    zero = EndogenousReward(model, tokenizer, terminal="zero")
    value = EndogenousReward(model, tokenizer, terminal="value")
    a, b = zero.token_rewards(PROMPT, "It is 4."), value.token_rewards(PROMPT, "It is 4.")
    assert b.terminal_value != 0.0
    assert a.rewards[:-1] == pytest.approx(b.rewards[:-1], abs=1e-6)
    assert a.total - b.total == pytest.approx(b.terminal_value, abs=1e-4)


def test_batch_padding_and_order_invariance(model, tokenizer):
    prompts = [PROMPT, MESSAGES, "Short.", PROMPT, "A much longer prompt " * 6, PROMPT]
    responses = ["4", "5 4 3 1 1", "", "It is four, which is the sum of two and two.", "ok", "4"]
    alone = [EndogenousReward(model, tokenizer).score(p, [r])[0]
             for p, r in zip(prompts, responses, strict=True)]
    for budget in (1, 16, 64, 10_000):
        for reuse in (True, False):
            rm = EndogenousReward(model, tokenizer, max_tokens_per_batch=budget,
                                  reuse_prompt_cache=reuse, min_cache_saving=0)
            assert rm.score_many(prompts, responses) == pytest.approx(alone, abs=1e-4)
            order = [5, 3, 1, 0, 4, 2]
            shuffled = rm.score_many([prompts[i] for i in order], [responses[i] for i in order])
            assert shuffled == pytest.approx([alone[i] for i in order], abs=1e-4)


def test_shared_prompt_cache_equals_no_reuse_per_token(model, tokenizer):
    responses = ["1 1 3 4 5", "5 4 3 1 1", "", "no idea, sorry"]
    with_cache = EndogenousReward(model, tokenizer, reuse_prompt_cache=True, min_cache_saving=0)
    without = EndogenousReward(model, tokenizer, reuse_prompt_cache=False)
    for r in responses:
        a, b = with_cache.token_rewards(MESSAGES, r), without.token_rewards(MESSAGES, r)
        assert a.rewards == pytest.approx(b.rewards, abs=1e-4)
    assert with_cache.score(MESSAGES, responses) == pytest.approx(
        without.score(MESSAGES, responses), abs=1e-4)


def test_cache_path_is_taken_only_when_it_saves_enough_prompt(tokenizer):
    model = build_model("llama", len(tokenizer))
    calls = []
    model.base_model.register_forward_hook(lambda m, a, kw, out: calls.append(kw["input_ids"].shape),
                                           with_kwargs=True)
    prompt, responses = "Sort: 3 1 4 1 5", ["1 1 3 4 5", "5 4 3 1 1", "1 3 4 5"]
    n_prompt = len(EndogenousReward(model, tokenizer).encoder.encode(prompt, "").prompt_ids)
    for saving, shapes in ((2 * n_prompt, 2), (2 * n_prompt + 1, 1)):
        rm = EndogenousReward(model, tokenizer, min_cache_saving=saving, check_head=False)
        calls.clear()
        rm.score(prompt, responses)
        assert len(calls) == shapes  # cache: the prompt, then the responses; else one batch
        if shapes == 2:
            assert tuple(calls[0]) == (1, n_prompt) and calls[1][0] == 3


def test_shared_prompt_longer_than_sliding_window(tokenizer):
    model = build_model("gemma2", len(tokenizer), seed=3, sliding_window=8)
    prompt = "A prompt that is much longer than the sliding window of eight tokens, surely."
    responses = ["It is 4, and here is why: two and two make four.", "5"]
    rm = EndogenousReward(model, tokenizer, min_cache_saving=0)
    pairs = [rm.encoder.encode(prompt, r) for r in responses]
    want = [sum(reference_rewards(model, p.prompt_ids, p.action_ids)[0]) for p in pairs]
    assert rm.score(prompt, responses) == pytest.approx(want, abs=1e-4)


def test_deterministic_run_to_run(model, tokenizer):
    rm = EndogenousReward(model, tokenizer)
    assert rm.score(PROMPT, RESPONSES) == rm.score(PROMPT, RESPONSES)


def test_system_prompt_steers_and_is_part_of_the_state(model, tokenizer):
    rm = EndogenousReward(model, tokenizer)
    plain = rm.score(PROMPT, ["4"])[0]
    steered = rm.score(PROMPT, ["4"], system="Answer like a pirate.")[0]
    explicit = rm.score([{"role": "system", "content": "Answer like a pirate."},
                         {"role": "user", "content": PROMPT}], ["4"])[0]
    assert steered == pytest.approx(explicit, abs=1e-6)
    assert steered != pytest.approx(plain, abs=1e-6)
    with pytest.raises(ValueError, match="already starts with a system message"):
        rm.score(MESSAGES, ["4"], system="Another one.")


def test_context_length_error_names_item(tokenizer):
    model = build_model("llama", len(tokenizer), max_position_embeddings=48)
    rm = EndogenousReward(model, tokenizer)
    long_response = "this is far too long " * 10
    with pytest.raises(ContextLengthError, match=r"item 1 is \d+ tokens") as info:
        rm.score_many([PROMPT, PROMPT], ["4", long_response])
    assert info.value.index == 1 and info.value.limit == 48 and info.value.length > 48


def test_bad_input_errors(model, tokenizer):
    rm = EndogenousReward(model, tokenizer)
    with pytest.raises(ValueError, match="role 'bot'"):
        rm.score([{"role": "bot", "content": "hi"}], ["x"])
    with pytest.raises(ValueError, match="ends with an assistant message"):
        rm.score([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}], ["y"])
    with pytest.raises(ValueError, match="content of type int"):
        rm.score([{"role": "user", "content": 3}], ["y"])
    with pytest.raises(ValueError, match="empty list"):
        rm.score([], ["y"])
    with pytest.raises(TypeError, match="wrap a single response"):
        rm.score(PROMPT, "a bare string")
    with pytest.raises(TypeError, match="response must be a string"):
        rm.score(PROMPT, [None])
    with pytest.raises(ValueError, match="item 1: message 0"):
        rm.score_many([PROMPT, [{"content": "no role"}]], ["a", "b"])
    with pytest.raises(ValueError, match="parallel lists"):
        rm.score_many([PROMPT], ["a", "b"])
    with pytest.raises(ValueError, match="terminal"):
        EndogenousReward(model, tokenizer, terminal="end")


def test_empty_response_is_the_end_of_turn_action(model, tokenizer):
    rm = EndogenousReward(model, tokenizer)
    tr = rm.token_rewards(PROMPT, "")
    assert tr.tokens == ["<|im_end|>"]
    assert rm.score(PROMPT, [""])[0] == pytest.approx(tr.rewards[0], abs=1e-6)
    no_eot = EndogenousReward(model, tokenizer, include_end_of_turn=False)
    assert no_eot.token_rewards(PROMPT, "").token_ids == []
    assert no_eot.score(PROMPT, [""]) == [0.0]
    with_eot, without = rm.token_rewards(PROMPT, "4"), no_eot.token_rewards(PROMPT, "4")
    assert with_eot.token_ids[:-1] == without.token_ids


def test_head_check_refuses_an_unknown_logit_transform(tokenizer):
    import transformers

    class ScaledLlama(transformers.LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 3.0
            return out

    model = build_model("llama", len(tokenizer))
    weird = ScaledLlama(model.config).eval()
    weird.load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="final-logit transform"):
        EndogenousReward(weird, tokenizer)


def test_head_applies_softcap_like_the_model(tokenizer):
    model = build_model("gemma2", len(tokenizer), final_logit_softcapping=0.5)
    head = OutputHead.from_model(model)
    assert head.softcap == 0.5
    head.check(model, torch.arange(10)[None])  # passes: same transform as the forward
    head.softcap = None
    with pytest.raises(ValueError):
        head.check(model, torch.arange(10)[None])


def test_from_pretrained_loads_saved_model(saved_model, tokenizer):
    rm = EndogenousReward.from_pretrained(str(saved_model), device="cpu", dtype="float32")
    model = build_model("qwen2", len(tokenizer), seed=2)
    pair = rm.encoder.encode(PROMPT, "It is 4.")
    want = sum(reference_rewards(model, pair.prompt_ids, pair.action_ids)[0])
    assert rm.score(PROMPT, ["It is 4."])[0] == pytest.approx(want, abs=1e-4)
    # "auto" on a CPU: this fp32 checkpoint runs in fp32 on every CPU
    auto = EndogenousReward.from_pretrained(str(saved_model), device="cpu")
    assert next(auto.model.parameters()).dtype == resolve_dtype("auto", "cpu", torch.float32)
    bf16 = EndogenousReward.from_pretrained(str(saved_model), device="cpu", dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    assert bf16.score(PROMPT, ["It is 4."])[0] == pytest.approx(want, abs=0.5)


def test_score_ids_equals_score_on_the_same_tokens(model, tokenizer):
    rm = EndogenousReward(model, tokenizer)
    pairs = [rm.encoder.encode(PROMPT, r) for r in RESPONSES]
    by_ids = rm.score_ids([p.prompt_ids for p in pairs], [p.action_ids for p in pairs])
    assert by_ids == pytest.approx(rm.score(PROMPT, RESPONSES), abs=1e-6)
    with pytest.raises(ValueError, match="item 0: a token id is outside"):
        rm.score_ids([[1, 2]], [[10**6]])
    with pytest.raises(ValueError, match="item 1: prompt_ids is empty"):
        rm.score_ids([[1], []], [[2], [3]])
