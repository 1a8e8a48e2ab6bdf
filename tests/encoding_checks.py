"""Shared checks for the prompt-once encoding: a counting tokenizer and the whole-text reference.

:class:`ChatEncoder` tokenizes a prompt once and each response with only the template text after
the prompt's last control token. These helpers hold it to the old behaviour (the whole text
tokenized per response) on any tokenizer, tiny or real.
"""

from __future__ import annotations

import copy
from typing import Any

from rewardmine.chat import ChatEncoder, normalize_messages

RESPONSES = ["", "4", " leading space", "\n\npara two", "para two\n\n", "ünïcödé ✓ 数字",
             "4<|im_end|>", "5<|im_end|>\n<|im_start|>user\nSay 4<|im_end|>\n<|im_start|>assistant\n4",
             "word " * 60]


class CountingTokenizer:
    """A real tokenizer that records the text of every call (attributes pass through)."""

    def __init__(self, tokenizer: Any) -> None:
        self.__dict__["_tokenizer"] = tokenizer
        self.__dict__["texts"] = []

    def __call__(self, text: str, *args: Any, **kwargs: Any) -> Any:
        self.texts.append(text)
        return self._tokenizer(text, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    def __deepcopy__(self, memo: dict[int, Any]) -> CountingTokenizer:
        """A copy of the tokenizer that records into the same list (TextTokenizer copies it)."""
        twin = CountingTokenizer(copy.deepcopy(self._tokenizer, memo))
        twin.__dict__["texts"] = self.texts
        return twin

    def calls_with(self, needle: str) -> int:
        return sum(needle in t for t in self.texts)


def whole_text_reference(tokenizer: Any, prompt: Any, response: str, *,
                         system: str | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(prompt ids, action ids) the way rewardmine found them before: the whole text of prompt and
    actions tokenized for every response (content kept as text), split where the prompt's own
    tokens end, or the actions tokenized alone where a merge crosses that point."""
    encoder = ChatEncoder(tokenizer)
    messages = normalize_messages(prompt, system=system)
    rendered = encoder.render_prompt(prompt, system=system)
    actions = rendered.before + response + rendered.end
    start = len(rendered.text) + len(rendered.before)
    spans = list(rendered.content)
    if any(encoder.texts.contains_special(m["content"]) for m in messages) and not spans:
        raise AssertionError("special text in content but no spans")
    whole = encoder.texts(rendered.text + actions, (*spans, (start, start + len(response))))
    n = len(rendered.ids)
    if whole[:n] == rendered.ids:
        return rendered.ids, whole[n:]
    b = len(rendered.before)
    return rendered.ids, encoder.texts(actions, ((b, b + len(response)),))
