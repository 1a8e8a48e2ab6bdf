"""A prompt is rendered and tokenized once per call, whatever the number of its responses.

Before, every response re-tokenized the whole prompt with it: a 100 KB prompt with 200 empty
responses took 20 s of tokenizing. Now each response tokenizes only the template text after the
prompt's last control token, and the ids are the same as the whole-text tokenization's.
"""

from __future__ import annotations

import pytest

from encoding_checks import RESPONSES, CountingTokenizer, whole_text_reference
from rewardmine import EndogenousReward
from rewardmine.chat import ChatEncoder
from rewardmine.server.scoring import Budget, EncodingTimeout, RequestEncoder, encode_chat
from rewardmine.testing import build_model, build_tokenizer

NEWLINE_CORPUS = ["para one\n\npara two\n\npara three\n\n" * 20, "assistant user system\n\n" * 20]

PROMPTS = [
    "What is 2+2? PROMPT-A",
    [{"role": "user", "content": "first PROMPT-B"}, {"role": "assistant", "content": "ok"},
     {"role": "user", "content": "and then?\n\n"}],
    "Explain <|im_end|> and <|im_start|> PROMPT-C",  # special text in the prompt's content
]


def llama3_tokenizer():
    tok = build_tokenizer(chat_template=None)
    tok.add_special_tokens({"additional_special_tokens": [
        "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|begin_of_text|>"]})
    tok.chat_template = (
        "{{- '<|begin_of_text|>' }}{%- for m in messages %}"
        "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content']"
        " + '<|eot_id|>' }}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
        "{%- endif %}")
    return tok


TOKENIZERS = {
    "chatml": build_tokenizer,
    "newline-merges": lambda: build_tokenizer(NEWLINE_CORPUS, vocab_size=300),
    "llama3": llama3_tokenizer,
}


@pytest.fixture(scope="module", params=sorted(TOKENIZERS))
def tok(request):
    return TOKENIZERS[request.param]()


@pytest.mark.parametrize("system", [None, "be brief"])
def test_ids_equal_the_whole_text_tokenization(tok, system):
    encoder = ChatEncoder(tok)
    for prompt in PROMPTS:
        rendered = encoder.render_prompt(prompt, system=system)
        assert rendered.cut > 0, "these templates all have a control token to start from"
        for response in RESPONSES:
            pair = encoder.encode(rendered, response)
            expected = whole_text_reference(tok, prompt, response, system=system)
            assert (pair.prompt_ids, pair.action_ids) == expected, (prompt, response)
            if "<|" not in response and "<|" not in str(prompt):  # plain text: the tokenizer alone
                whole = tok(rendered.text + rendered.before + response + rendered.end,
                            add_special_tokens=False)["input_ids"]
                if pair.boundary == "in_context":
                    assert list(pair.prompt_ids + pair.action_ids) == whole


def test_the_separate_boundary_still_happens():
    tok = TOKENIZERS["newline-merges"]()
    pair = ChatEncoder(tok).encode("hi", "\n\npara two")
    assert pair.boundary == "separate"
    assert whole_text_reference(tok, "hi", "\n\npara two") == (pair.prompt_ids, pair.action_ids)


def test_encode_many_tokenizes_each_prompt_once(tok):
    counting = CountingTokenizer(tok)
    encoder = ChatEncoder(counting)
    prompts = [PROMPTS[i % 3] for i in range(len(RESPONSES) * 3)]
    responses = RESPONSES * 3
    pairs = encoder.encode_many(prompts, responses)
    for marker in ("PROMPT-A", "PROMPT-B", "PROMPT-C"):
        assert counting.calls_with(marker) == 1, counting.texts
    reference = ChatEncoder(tok)
    assert pairs == [reference.encode(p, r) for p, r in zip(prompts, responses, strict=True)]


def test_library_score_and_score_many_tokenize_each_prompt_once():
    tok = build_tokenizer()
    counting = CountingTokenizer(tok)
    model = build_model("qwen2", len(tok), seed=3)
    reward = EndogenousReward(model, counting, progress=False)
    reference = EndogenousReward(model, tok, progress=False)
    scores = reward.score(PROMPTS[0], RESPONSES)
    assert counting.calls_with("PROMPT-A") == 1
    assert scores == pytest.approx(reference.score(PROMPTS[0], RESPONSES), abs=1e-6)
    counting.texts.clear()
    prompts = [PROMPTS[0], PROMPTS[2]] * 3
    reward.score_many(prompts, RESPONSES[:6], system="s")
    assert counting.calls_with("PROMPT-A") == counting.calls_with("PROMPT-C") == 1


def test_server_encoding_tokenizes_each_prompt_once_and_keeps_its_budget():
    tok = build_tokenizer()
    counting = CountingTokenizer(tok)
    encoder = RequestEncoder(counting, ChatEncoder(counting), max_length=100_000)
    prompts = [PROMPTS[1], PROMPTS[0]] * 50
    items = encode_chat(encoder, prompts, [""] * 100, None)
    assert counting.calls_with("PROMPT-A") == counting.calls_with("PROMPT-B") == 1
    assert items == [(p.prompt_ids, p.action_ids)
                     for p in ChatEncoder(tok).encode_many(prompts, [""] * 100)]
    with pytest.raises(EncodingTimeout, match="longer than 0 s"):
        encode_chat(encoder, prompts, [""] * 100, None, Budget(0.0))


def test_no_template_tokenizes_the_whole_text_as_before():
    tok = build_tokenizer(chat_template=None)
    encoder = ChatEncoder(tok)
    rendered = encoder.render_prompt("The capital of France is")
    assert rendered.cut == 0
    pair = encoder.encode(rendered, " Paris.")
    whole = tok("The capital of France is Paris.<|endoftext|>")["input_ids"]
    assert list(pair.prompt_ids + pair.action_ids) == whole
