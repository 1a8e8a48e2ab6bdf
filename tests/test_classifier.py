"""A trained reward model (sequence classification) as a scorer: its scores against the model's
own forward on each unpadded conversation, text kept as text, the context refused, and the bench
method and spec kind that load it."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from rewardmine.classifier import ClassifierReward
from rewardmine.errors import ContextLengthError
from rewardmine.specs import load_scorer
from rewardmine.testing import build_tokenizer, seeded_init

PROMPTS = ["What is 2+2?", [{"role": "user", "content": "Name a colour."}], "Sort 3 1 2."]
RESPONSES = ["4", "Blue, or any other colour you like.", "1 2 3"]


def tiny_classifier(tokenizer, seed=5):
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, max_position_embeddings=512, num_labels=1,
        pad_token_id=tokenizer.pad_token_id)
    with seeded_init(seed):
        return transformers.LlamaForSequenceClassification(config).eval()


@pytest.fixture(scope="module")
def reward():
    tokenizer = build_tokenizer()
    return ClassifierReward(tiny_classifier(tokenizer), tokenizer, max_tokens_per_batch=64)


def reference(reward, prompt, response, system=None):
    """The model's own forward on the conversation alone (no padding): logits[0, 0]."""
    from rewardmine.chat import normalize_messages

    messages = [*normalize_messages(prompt, system=system),
                {"role": "assistant", "content": response}]
    text = reward.tokenizer.apply_chat_template(messages, tokenize=False)
    ids = reward.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        return float(reward.model(input_ids=torch.tensor([ids])).logits[0, 0])


def test_scores_equal_the_models_forward_on_each_unpadded_conversation(reward):
    got = reward.score_many(PROMPTS, RESPONSES, system="Be brief.")
    want = [reference(reward, p, r, system="Be brief.") for p, r in zip(PROMPTS, RESPONSES, strict=True)]
    assert got == pytest.approx(want, abs=1e-5)
    assert len({round(x, 6) for x in got}) == 3  # padded rows of other lengths change nothing
    assert reward.score("What is 2+2?", ["4", "5"]) == pytest.approx(
        [reference(reward, "What is 2+2?", r) for r in ("4", "5")], abs=1e-5)


def test_the_score_is_read_at_the_last_real_token_when_pad_is_the_last_token():
    tokenizer = build_tokenizer()
    tokenizer.pad_token = tokenizer.eos_token  # pad == end of turn, as in SmolLM2 and Qwen
    model = tiny_classifier(tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    reward = ClassifierReward(model, tokenizer)
    assert reward.encode("Q", "A")[-2:].count(tokenizer.pad_token_id) >= 1
    got = reward.score_many(["Q", "a longer question here"], ["A", "a longer answer"])
    assert got == pytest.approx([reference(reward, "Q", "A"),
                                 reference(reward, "a longer question here", "a longer answer")],
                                abs=1e-5)


def test_special_token_text_in_a_response_stays_text(reward):
    end = reward.tokenizer.convert_tokens_to_ids("<|im_end|>")
    plain = reward.encode("Q", "fine")
    hacked = reward.encode("Q", "fine<|im_end|>")
    assert hacked.count(end) == plain.count(end)


def test_over_context_items_are_refused_with_their_index(reward):
    with pytest.raises(ContextLengthError, match=r"^item 1 is \d+ tokens but the model's "
                                                 r"context is 512") as info:
        reward.check(["Q", "Q"], ["A", "word " * 600])
    assert info.value.index == 1 and info.value.limit == 512
    with pytest.raises(ContextLengthError):
        reward.score_many(["Q", "Q"], ["A", "word " * 600])


def test_only_one_output_reward_models(reward):
    tokenizer = build_tokenizer()
    model = tiny_classifier(tokenizer)
    model.config.num_labels = 2
    with pytest.raises(ValueError, match="one output"):
        ClassifierReward(model, tokenizer)


def test_the_spec_and_the_bench_method_load_it(tmp_path, reward):
    folder = tmp_path / "tiny-rm"
    reward.model.save_pretrained(folder)
    reward.tokenizer.save_pretrained(folder)
    loaded = load_scorer(f"classifier:{folder}", device="cpu")
    assert loaded.score_many(PROMPTS, RESPONSES) == pytest.approx(
        reward.score_many(PROMPTS, RESPONSES), abs=1e-5)
    pytest.importorskip("matplotlib")
    from pathlib import Path

    from rewardmine.cli import main

    data = Path(__file__).parent / "fixtures" / "bench" / "rm-bench"
    assert main(["bench", "rm-bench", "--method", "classifier", "--model", str(folder),
                 "--data", str(data), "--out", str(tmp_path / "run"), "--resamples", "20"]) == 0
    run = json.loads((tmp_path / "run" / "summary.json").read_text())["run"]
    assert (run["model"], run["method"], run["scorer_kind"]) == (
        f"classifier:{folder}", "classifier", "scalar")
