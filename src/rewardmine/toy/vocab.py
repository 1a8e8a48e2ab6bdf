"""The sorting world's tokenizer: a real ``PreTrainedTokenizerFast`` with a word-level vocabulary.

Every digit is one token, written with the space before it as in GPT-style vocabularies, so the
answer ``"1 3 4"`` is the actions ``1``, `` 3``, `` 4``, ``<|im_end|>``: one token per element and
a corrupted digit is exactly one token. The chat
template is ChatML (system, user and assistant turns; ``<|im_end|>`` ends a turn), the format of
Qwen and many other chat models, so rewardmine's chat code runs on it unchanged. Text outside the
world's words becomes ``<|unk|>``.
"""

from __future__ import annotations

from typing import Any

from rewardmine.chat import CHATML_TEMPLATE

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|unk|>")
WORDS = ("system", "user", "assistant", "sort:", "\n", " ",
         *(str(d) for d in range(10)), *(f" {d}" for d in range(10)))

# A word (with an optional leading space and trailing colon), a digit (with an optional leading
# space), any other whitespace character, and any other character alone (unknown, it must not
# swallow its neighbours).
_SPLIT = r" ?[A-Za-z]+:?| ?\d|\s|[^A-Za-z\d\s]"


def build_sort_tokenizer() -> Any:
    """The tokenizer of the sorting world, built offline in milliseconds."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token="<|unk|>", additional_special_tokens=list(SPECIAL_TOKENS[1:3]),
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer
