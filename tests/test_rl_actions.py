"""The generated actions: padding removed by mask or length, the end-of-turn kept as an action."""

from __future__ import annotations

import pytest

from rewardmine.chat import TextTokenizer, end_ids
from rewardmine.rl.actions import finished, ids_match_texts, unpadded
from rewardmine.rollouts import pad_tokens_of, split_queries
from rewardmine.testing import build_tokenizer

EOS = 2  # SmolLM2: pad == EOS == 2


def test_padding_goes_by_mask_or_length_never_by_value():
    # a finished response whose last action is the EOS id that is also the pad id
    assert unpadded([7, 8, EOS, EOS, EOS], mask=[1, 1, 1, 0, 0]) == [7, 8, EOS]
    assert unpadded([EOS, EOS, 5, 6], mask=[0, 0, 1, 1], side="left") == [5, 6]
    assert unpadded([7, 8, EOS, EOS], length=2) == [7, 8]
    with pytest.raises(ValueError, match="row 3: the attention mask is not right-padded"):
        unpadded([1, 2, 3], mask=[1, 0, 1], index=3)
    with pytest.raises(ValueError, match="exactly one of mask or length"):
        unpadded([1], mask=[1], length=1)
    with pytest.raises(ValueError, match="length 4 is outside the row of 3 ids"):
        unpadded([1, 2, 3], length=4)


def test_finished_and_matching_ids():
    tokenizer = build_tokenizer()
    ends = end_ids(tokenizer)
    assert tokenizer.eos_token_id in ends and tokenizer.pad_token_id not in ends
    four = tokenizer("4", add_special_tokens=False)["input_ids"]
    assert finished([*four, tokenizer.eos_token_id], ends) and not finished(four, ends)
    assert not finished([], ends)
    assert ids_match_texts(tokenizer, [[*four, tokenizer.eos_token_id]], ["4"])
    assert not ids_match_texts(tokenizer, [four], ["5"])
    assert not ids_match_texts(tokenizer, [[10**6]], ["4"])


def test_openrlhf_queries_keep_a_generated_end_of_turn_when_pad_is_eos():
    tokenizer = build_tokenizer()
    tokenizer.pad_token = tokenizer.eos_token  # as SmolLM2's
    pads, ends = pad_tokens_of(tokenizer), TextTokenizer(tokenizer).end_tokens
    assert pads == ["<|im_end|>"] and "<|im_end|>" in ends
    prompt = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    queries = [prompt + "Four.<|im_end|>",                 # OpenRLHF 0.11: finished
               prompt + "Four.",                           # truncated: nothing to keep
               prompt + "Four.<|im_end|><|im_end|><|im_end|>"]  # an older padded batch
    assert split_queries(queries, [prompt] * 3, pad_tokens=pads, end_tokens=ends) == [
        "Four.<|im_end|>", "Four.", "Four.<|im_end|>"]
    # a pad token that is not an end token is padding only
    assert split_queries([prompt + "4<|endoftext|>"], [prompt], pad_tokens=["<|endoftext|>"],
                         end_tokens=ends) == ["4"]


def test_token_rewards_of_ids_match_the_text_path(saved_model):
    from rewardmine import EndogenousReward

    reward = EndogenousReward.from_pretrained(str(saved_model))
    by_text = reward.token_rewards("What is 2+2?", "4")
    state = reward.encoder.render_prompt("What is 2+2?").ids
    (by_ids,) = reward.token_rewards_ids([state], [by_text.token_ids])
    assert by_ids.token_ids == by_text.token_ids
    assert by_ids.rewards == pytest.approx(by_text.rewards, abs=1e-5)
    assert by_ids.total == pytest.approx(reward.score_ids([state], [by_text.token_ids])[0],
                                         abs=1e-5)
