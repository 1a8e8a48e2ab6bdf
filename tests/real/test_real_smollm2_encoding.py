"""SmolLM2's own tokenizer: a prompt is tokenized once per call, with the same ids as before.

The prompt-once encoding starts each response's tokenization at the prompt's last control token
(``<|im_start|>`` of the assistant header); this holds it to the whole-text tokenization on a real
byte-level BPE with its real ChatML template.
"""

from __future__ import annotations

import pytest

from encoding_checks import RESPONSES, CountingTokenizer, whole_text_reference
from rewardmine.chat import ChatEncoder

PROMPTS = [
    "What is 2+2? PROMPT-A",
    [{"role": "user", "content": "Translate: la casa PROMPT-B"},
     {"role": "assistant", "content": "the house"},
     {"role": "user", "content": "  and 'el perro'?  \n"}],
    "What does <|im_end|> mean to you? PROMPT-C",
]


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.mark.parametrize("system", [None, "You are a careful assistant."])
def test_smollm2_ids_equal_the_whole_text_tokenization(smollm2_tokenizer, system):
    counting = CountingTokenizer(smollm2_tokenizer)
    encoder = ChatEncoder(counting)
    long_prompt = "Summarise this. PROMPT-D " + "The reward is a soft Q-function. " * 300
    prompts = [*PROMPTS, long_prompt]
    items = [(p, r) for p in prompts for r in RESPONSES]
    pairs = encoder.encode_many([p for p, _ in items], [r for _, r in items], system=system)
    for marker in ("PROMPT-A", "PROMPT-B", "PROMPT-C", "PROMPT-D"):
        assert counting.calls_with(marker) == 1
    for (prompt, response), pair in zip(items, pairs, strict=True):
        expected = whole_text_reference(smollm2_tokenizer, prompt, response, system=system)
        assert (pair.prompt_ids, pair.action_ids) == expected, (prompt, response)
