"""The token boundary between a prompt and its response, with real tokenizers built offline."""

from __future__ import annotations

import pytest

from rewardmine.chat import ChatEncoder, normalize_messages
from rewardmine.testing import build_tokenizer

# Trained on text full of blank lines, so "\n\n" is one token and can merge across the boundary.
NEWLINE_CORPUS = ["para one\n\npara two\n\npara three\n\n" * 20, "assistant user system\n\n" * 20]


def test_actions_are_the_response_then_end_of_turn(tokenizer):
    encoder = ChatEncoder(tokenizer)
    pair = encoder.encode("What is 2+2?", "It is 4.")
    assert pair.boundary == "in_context"
    assert tokenizer.decode(pair.action_ids) == "It is 4.<|im_end|>"
    assert pair.action_ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    prompt_text = tokenizer.decode(pair.prompt_ids)
    assert prompt_text == tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True)
    # the trailing "\n" the template writes after <|im_end|> is not an action
    assert not tokenizer.decode(pair.action_ids).endswith("\n")


def test_whole_text_tokenization_is_used_when_the_prompt_is_a_prefix(tokenizer):
    encoder = ChatEncoder(tokenizer)
    pair = encoder.encode("Sort: 3 1 4", "1 3 4")
    whole = tokenizer(tokenizer.decode(pair.prompt_ids) + "1 3 4<|im_end|>",
                      add_special_tokens=False)["input_ids"]
    assert list(pair.prompt_ids) + list(pair.action_ids) == whole


def test_merge_across_the_boundary_falls_back_to_separate_tokenization():
    tokenizer = build_tokenizer(NEWLINE_CORPUS, vocab_size=300)
    newline_pair = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    assert len(newline_pair) == 1, "the fixture needs a merged double newline"
    encoder = ChatEncoder(tokenizer)
    # the header ends in "\n"; before the response's "\n\n" the whole text merges differently
    pair = encoder.encode("hi", "\n\npara two")
    assert pair.boundary == "separate"
    separate = tokenizer("\n\npara two<|im_end|>", add_special_tokens=False)["input_ids"]
    assert list(pair.action_ids) == separate
    assert tokenizer.decode(pair.prompt_ids).endswith("<|im_start|>assistant\n")


def test_template_that_strips_content_does_not_change_the_scored_text(tokenizer):
    tok = build_tokenizer()
    tok.chat_template = tokenizer.chat_template.replace(
        "message['content']", "message['content'] | trim")
    pair = ChatEncoder(tok).encode("hi", "  padded answer  ")
    assert tok.decode(pair.action_ids) == "  padded answer  <|im_end|>"


def test_llama3_style_template_header_and_eot():
    tok = build_tokenizer(chat_template=None)
    tok.add_special_tokens({"additional_special_tokens": [
        "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|begin_of_text|>"]})
    tok.chat_template = (
        "{{- '<|begin_of_text|>' }}{%- for m in messages %}"
        "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim"
        " + '<|eot_id|>' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
        "{%- endif %}"
    )
    pair = ChatEncoder(tok).encode("hi", "hello")
    assert tok.decode(pair.action_ids) == "hello<|eot_id|>"
    assert tok.decode(pair.prompt_ids).startswith("<|begin_of_text|>")


def test_no_chat_template_uses_prompt_text_response_and_eos():
    tok = build_tokenizer(chat_template=None)
    encoder = ChatEncoder(tok)
    pair = encoder.encode("The capital of France is", " Paris.")
    assert tok.decode(pair.prompt_ids) == "The capital of France is"
    assert tok.decode(pair.action_ids) == " Paris.<|endoftext|>"
    joined = encoder.encode([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "c")
    assert tok.decode(joined.prompt_ids) == "a\n\nb"
    without = ChatEncoder(tok, include_end_of_turn=False).encode("The capital", " Paris")
    assert tok.decode(without.action_ids) == " Paris"


def test_template_without_assistant_turn_is_refused(tokenizer):
    tok = build_tokenizer()
    tok.chat_template = (  # drops assistant turns altogether
        "{%- for m in messages %}{%- if m['role'] == 'user' %}{{ m['content'] }}{%- endif %}"
        "{%- endfor %}"
    )
    with pytest.raises(ValueError, match="cannot tell where the response starts"):
        ChatEncoder(tok).encode("hi", "x")


def test_normalize_messages():
    assert normalize_messages("hi") == [{"role": "user", "content": "hi"}]
    assert normalize_messages("hi", system="be brief") == [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    extra = [{"role": "user", "content": "hi", "name": "ann"}]
    assert normalize_messages(extra) == [{"role": "user", "content": "hi"}]
    with pytest.raises(TypeError, match="not int"):
        normalize_messages(3)
    with pytest.raises(ValueError, match="message 1 is a str"):
        normalize_messages([{"role": "user", "content": "a"}, "b"])
    with pytest.raises(TypeError, match="system must be a string"):
        normalize_messages("hi", system=1)


HARD_TEXTS = ["", "a", "4<|im_end|>", "e\u0301" * 50, "\u1100\u1161\u11a8" * 30, " " * 300,
              "\n\n\t" * 40, "word " * 200, "\U0001F600" * 40, "\u6570\u5b57" * 100,
              "\ufb01\ufb02" * 50, "\uff46\uff55\uff4c\uff4c \uff21\uff22\uff23" * 20]


@pytest.mark.parametrize("which", ["tiny", "smollm2"])
def test_fewest_tokens_is_a_lower_bound(which):
    """The byte-length bound used to refuse over-long items before tokenizing them never exceeds
    the real count (else a request that fits would be refused)."""
    from rewardmine.chat import TextTokenizer

    if which == "smollm2":
        from smollm2 import smollm2_tokenizer

        tok = smollm2_tokenizer()
    else:
        tok = build_tokenizer()
    texts = TextTokenizer(tok)
    assert texts.max_token_bytes and texts.max_token_bytes >= 2
    for text in HARD_TEXTS:
        assert texts.fewest_tokens(text) <= len(texts(text, ((0, len(text)),)))
    long = "word " * 10_000
    assert texts.fewest_tokens(long) > 0  # it bounds something


def test_a_normalizer_that_may_delete_text_claims_no_bound():
    from tokenizers import normalizers

    from rewardmine.chat import TextTokenizer

    tok = build_tokenizer()
    tok.backend_tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(),
                                                              normalizers.StripAccents()])
    assert TextTokenizer(tok).fewest_tokens("x" * 100_000) == 0
    tok.backend_tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC()])
    assert TextTokenizer(tok).fewest_tokens("x" * 100_000) > 0
