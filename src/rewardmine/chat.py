"""Prompts as chat messages, rendered with the tokenizer's own template, split into state and actions.

A prompt is a string (one user turn) or a list of ``{"role", "content"}`` messages, as in
transformers chat templates and TRL's conversational format. :class:`ChatEncoder` turns a prompt
and a response into ``prompt_ids`` (the state the model starts from: system prompt, turns and the
assistant header) and ``action_ids`` (exactly the tokens the model would generate to write the
response, its end-of-turn token included by default).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rewardmine.errors import ContextLengthError

Message = dict[str, str]
Prompt = str | Sequence[Mapping[str, Any]]

ROLES = frozenset({"system", "user", "assistant", "tool"})

# ChatML, the turn format of Qwen and many other chat models (the toy world and test models use it).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# A string no template alters and no tokenizer merges with its neighbours in a way that matters:
# it only marks where an assistant turn's content sits in the rendered text.
_SENTINEL = "\u2063RK_RESPONSE_SENTINEL\u2063"


def normalize_messages(prompt: Prompt, *, system: str | None = None) -> list[Message]:
    """Return ``prompt`` as a validated list of messages, with ``system`` prepended if given.

    Raises ``TypeError`` for a prompt that is neither a string nor a list of messages and
    ``ValueError`` for malformed messages, naming the message and what is wrong with it.
    """
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, Sequence):
        if len(prompt) == 0:
            raise ValueError("prompt is an empty list of messages; give at least one user turn")
        messages = []
        for i, message in enumerate(prompt):
            if not isinstance(message, Mapping):
                raise ValueError(
                    f"message {i} is a {type(message).__name__}; each message must be a dict "
                    "with 'role' and 'content'"
                )
            role, content = message.get("role"), message.get("content")
            if role not in ROLES:
                raise ValueError(
                    f"message {i} has role {role!r}; expected one of {sorted(ROLES)}"
                )
            if not isinstance(content, str):
                raise ValueError(
                    f"message {i} ({role}) has content of type {type(content).__name__}; "
                    "only text content (a string) is supported"
                )
            messages.append({"role": role, "content": content})
        if messages[-1]["role"] == "assistant":
            raise ValueError(
                "the prompt ends with an assistant message; pass the response to score "
                "separately and end the prompt with the turn it answers"
            )
    else:
        raise TypeError(
            f"prompt must be a string or a list of messages, not {type(prompt).__name__}"
        )
    if system is not None:
        if not isinstance(system, str):
            raise TypeError(f"system must be a string, not {type(system).__name__}")
        if messages[0]["role"] == "system":
            raise ValueError(
                "the prompt already starts with a system message and system= was given too; "
                "keep one of them"
            )
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def prompt_key(prompt: Prompt, *, system: str | None = None, reference: Any = None) -> str:
    """A prompt's identity, for every cache and every grouping: equal only for equal inputs.

    Injective: the prompt, the system text and a reference answer are encoded as one JSON array,
    so a string prompt never shares a key with a chat prompt (not even with the JSON text of
    one), and a prompt never merges with its reference or system text.
    """
    return json.dumps([prompt, system, reference], sort_keys=True, ensure_ascii=False,
                      default=repr)


def end_ids(tokenizer: Any) -> set[int]:
    """Ids that end a turn: the tokenizer's EOS and the chat template's end-of-turn token."""
    out = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        out.add(eos)
    elif isinstance(eos, Sequence):
        out.update(int(e) for e in eos)
    for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
        tid = tokenizer.convert_tokens_to_ids(name) if name in tokenizer.get_vocab() else None
        if isinstance(tid, int) and tid != getattr(tokenizer, "unk_token_id", None):
            out.add(tid)
    return out


def special_tokens(tokenizer: Any) -> list[str]:
    """The tokenizer's special-token strings (control tokens), longest first."""
    specials = set(getattr(tokenizer, "all_special_tokens", []) or [])
    for added in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(added, "special", False):
            specials.add(added.content)
    return sorted((s for s in specials if s), key=len, reverse=True)


Span = tuple[int, int]

# Normalizers that never shorten text by more than UTF-8's 4 bytes per character allow (Unicode
# normal forms; prepending; replacing a pattern by content at least as long); with any other,
# or one rewardmine cannot read, no lower bound on a text's tokens is claimed.
_BOUNDED_NORMALIZERS = {"NFC", "NFD", "NFKC", "NFKD", "Prepend"}


def _normalizer_keeps_length(spec: Any) -> bool:
    if spec is None:
        return True
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "Sequence":
        return all(_normalizer_keeps_length(s) for s in spec.get("normalizers", []))
    if kind == "Replace":
        pattern = spec.get("pattern", {})
        return "String" in pattern and len(spec.get("content", "")) >= len(pattern["String"])
    return kind in _BOUNDED_NORMALIZERS


def max_token_bytes(tokenizer: Any) -> int | None:
    """The most UTF-8 bytes of text one token can stand for, or None where rewardmine cannot
    bound it (a slow tokenizer, or a normalizer that may delete text).

    Read from the vocabulary: a byte-level token's characters are one byte each, and a
    SentencePiece piece's UTF-8 length is at least the bytes it stands for (``▁`` is 3 bytes
    for one space, ``<0x41>`` 6 for one byte), so the longest entry bounds every token.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    try:
        normalizer = backend.normalizer
        spec = None if normalizer is None else json.loads(normalizer.__getstate__())
        vocab = tokenizer.get_vocab()
    except (AttributeError, ValueError, TypeError):
        return None
    if not _normalizer_keeps_length(spec) or not vocab:
        return None
    return max(len(token.encode("utf-8", "surrogatepass")) for token in vocab)


class TextTokenizer:
    """Tokenizes rendered text in which only the template's special tokens are control tokens.

    A message or response may contain the characters of a special token (``<|im_end|>``): a
    policy can write them, and a user can ask what they mean. Tokenized as they stand they
    would become the control token itself, ending the turn or opening a fake one. Given the
    character spans of the content, :meth:`__call__` keeps each special-token string inside
    content as ordinary text (split into its plain tokens) and only those outside it as control
    tokens. Text whose content holds no special-token string is tokenized exactly as the
    tokenizer would tokenize it whole.

    Safe to share across threads. A transformers fast tokenizer keeps "split special tokens" as a
    flag on its backend and sets it on every call, so one tokenizer asked for both readings by
    concurrent threads races: a call can run with the other's setting. Each reading therefore has
    a tokenizer of its own: the caller's, only ever asked for the control-token reading, and a
    private copy, only ever asked for the plain-text one.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.specials = special_tokens(tokenizer)
        self._pattern = (re.compile("|".join(map(re.escape, self.specials)))
                         if self.specials else None)
        self._plain_tokenizer = copy.deepcopy(tokenizer) if self.specials else tokenizer
        # facts a request needs, read once per tokenizer (``get_vocab`` builds a dict each call)
        self.end_ids = frozenset(end_ids(tokenizer))
        self.end_tokens = tuple(sorted({tokenizer.convert_ids_to_tokens(i) for i in self.end_ids},
                                       key=len, reverse=True))
        self.max_token_bytes = max_token_bytes(tokenizer)

    def fewest_tokens(self, text: str) -> int:
        """A lower bound on the tokens of ``text``, read from its length alone (0 when the
        tokenizer gives no bound): an item whose bound exceeds the context is refused before
        megabytes of it are tokenized. A normalizer may shorten text up to 4x (a fullwidth
        letter, 3 bytes, becomes 1), which the bound allows for."""
        if not self.max_token_bytes:
            return 0
        return len(text.encode("utf-8", "surrogatepass")) // (4 * self.max_token_bytes)

    def contains_special(self, text: str) -> bool:
        return bool(self._pattern and self._pattern.search(text))

    def matches(self, text: str) -> list[re.Match[str]]:
        """The special-token strings in ``text``, in order."""
        return list(self._pattern.finditer(text)) if self._pattern else []

    def __call__(self, text: str, content: Sequence[Span] = (), *,
                 add_special_tokens: bool = False) -> tuple[int, ...]:
        """Token ids of ``text``; special-token strings overlapping a ``content`` span are text."""
        tokenizer = self.tokenizer
        matches = self.matches(text)
        inside = [m for m in matches if any(m.start() < b and a < m.end() for a, b in content)]
        if not inside:
            return tuple(tokenizer(text, add_special_tokens=add_special_tokens,
                                   split_special_tokens=False)["input_ids"])
        ids: list[int] = []
        start = 0
        for m in (m for m in matches if m not in inside):
            ids += self._plain(text[start:m.start()], first=not ids and start == 0,
                               add_special_tokens=add_special_tokens)
            ids.append(tokenizer.convert_tokens_to_ids(m.group()))
            start = m.end()
        ids += self._plain(text[start:], first=start == 0, add_special_tokens=add_special_tokens)
        return tuple(ids)

    def _plain(self, piece: str, *, first: bool, add_special_tokens: bool) -> list[int]:
        if not piece and not (first and add_special_tokens):
            return []
        return list(self._plain_tokenizer(piece, add_special_tokens=first and add_special_tokens,
                                          split_special_tokens=True)["input_ids"])


def _shift(spans: Sequence[Span], cut: int) -> tuple[Span, ...]:
    """``spans`` in ``text[cut:]``: those that end after ``cut``, moved back by it."""
    return tuple((max(a - cut, 0), b - cut) for a, b in spans if b > cut)


def content_spans(render: Any, messages: list[Message], text: str,
                  texts: TextTokenizer) -> list[Span]:
    """Where each message's content sits in ``text``, the template's rendering of ``messages``.

    Only needed when some content holds a special-token string; found by rendering markers in
    place of the contents. A template that alters content (strips it, drops parts) cannot be
    mapped back, and then such content is refused rather than tokenized as control tokens.
    """
    if not any(texts.contains_special(m["content"]) for m in messages):
        return []
    markers = [f"\u2063RK_CONTENT_{i}\u2063" for i in range(len(messages))]
    marked = render([{**m, "content": k} for m, k in zip(messages, markers, strict=True)])
    spans: list[Span] = []
    rebuilt, at = "", 0
    for message, marker in zip(messages, markers, strict=True):
        where = marked.find(marker, at)
        if where < 0 or marked.count(marker) != 1:
            spans = []
            break
        rebuilt += marked[at:where]
        spans.append((len(rebuilt), len(rebuilt) + len(message["content"])))
        rebuilt += message["content"]
        at = where + len(marker)
    rebuilt += marked[at:]
    if not spans or rebuilt != text:
        i, found = next((i, t) for i, m in enumerate(messages) for t in texts.specials
                        if t in m["content"])
        raise ValueError(
            f"message {i} contains the special-token text {found!r} and this chat template "
            "changes message content, so rewardmine cannot keep it apart from the template's "
            "own control tokens; remove that text or use a template that renders content as is"
        )
    return spans


def encode_rendered(texts: TextTokenizer, render: Any, messages: list[Message]) -> tuple[int, ...]:
    """Token ids of ``render(messages)`` (a chat-template rendering), content kept as text."""
    text = render(messages)
    return texts(text, content_spans(render, messages, text, texts))


@dataclass(frozen=True)
class EncodedPair:
    """A prompt and response as token ids: the state ``prompt_ids`` and the ``action_ids``.

    ``boundary`` records how the split was made: "in_context" when the prompt's tokens are a
    prefix of the tokens of the whole text, "separate" when they are not and the response was
    tokenized on its own (see :meth:`ChatEncoder.encode`).
    """

    prompt_ids: tuple[int, ...]
    action_ids: tuple[int, ...]
    boundary: Literal["in_context", "separate"]

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.action_ids)


def completion_text(completion: Any, index: int) -> str:
    """The text of a TRL completion: a string, or a conversational list of one assistant message."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and len(completion) == 1 \
            and isinstance(completion[0], Mapping):
        message = completion[0]
        if message.get("role", "assistant") != "assistant" or not isinstance(
                message.get("content"), str):
            raise ValueError(f"completion {index} must be one assistant message with text "
                             f"content; got {message!r}")
        return message["content"]
    raise ValueError(
        f"completion {index} is neither a string nor a list of one assistant message "
        f"(tool calls and multi-message completions are not supported); got {completion!r}"
    )


def check_fits(index: int, prompt_len: int, action_len: int, limit: int | None, *,
               label: str | None = None, where: str = "the model's context") -> None:
    """The one fit check: raise :class:`~rewardmine.errors.ContextLengthError` (with the item's
    index, length and the limit) when ``prompt_len + action_len`` tokens exceed ``limit``; None
    is no limit. ``label`` names the item in the message (default "item INDEX"); the error's
    ``detail`` is the message without it."""
    if limit is None or prompt_len + action_len <= limit:
        return
    if action_len and prompt_len:
        detail = (f"is {prompt_len + action_len} tokens ({prompt_len} prompt + {action_len} "
                  f"response) but {where} is {limit}")
    elif action_len:  # an item read whole (a rendered conversation)
        detail = f"is {action_len} tokens but {where} is {limit}"
    else:
        detail = f"has a prompt of {prompt_len} tokens alone but {where} is {limit}"
    detail += "; shorten it (rewardmine never truncates)"
    raise ContextLengthError(f"{label or f'item {index}'} {detail}", index=index,
                             length=prompt_len + action_len, limit=limit, detail=detail)


@dataclass(frozen=True)
class _RenderedPrompt:
    text: str
    ids: tuple[int, ...]
    before: str  # template text between the generation prompt and the response
    end: str  # template text after the response, up to and including the end-of-turn token
    content: tuple[Span, ...] = ()  # where message contents sit in ``text``, when it matters
    # a response's tokens come from tokenizing ``text[cut:]`` + the actions alone: the prompt's
    # first ``fixed`` tokens are those of ``text[:cut]`` whatever follows (0, 0: the whole text)
    cut: int = 0
    fixed: int = 0


class ChatEncoder:
    """Renders prompts with a tokenizer's chat template and finds the response's tokens.

    With a chat template, the state is the conversation rendered with the generation prompt, and
    the actions are the tokens of ``before + response + end``, where ``before`` and ``end`` are the
    template's own text around an assistant turn's content (found by rendering a marker), and
    ``end`` stops after the first special token (the end-of-turn token, such as ``<|im_end|>``,
    ``<|eot_id|>`` or ``<end_of_turn>``). Templates that alter content (strip it, drop thinking)
    therefore never change what is scored: the actions are the response as given.

    Tokens are taken from the tokenization of the whole text when the prompt's own tokens are a
    prefix of it, which is what the model saw in training. With byte-level BPE that is the usual
    case; where a merge crosses the boundary it is not, and the prompt and the actions are
    tokenized separately and joined, which is what the model sees when it generates the response
    itself after the prompt (generation never re-tokenizes the prompt).

    Without a chat template, the state is the prompt text (messages joined by blank lines) with the
    tokenizer's special tokens, and the actions are the response followed by the EOS token.
    """

    def __init__(self, tokenizer: Any, *, include_end_of_turn: bool = True) -> None:
        self.tokenizer = tokenizer
        self.include_end_of_turn = include_end_of_turn
        self.has_template = bool(getattr(tokenizer, "chat_template", None))
        self.texts = TextTokenizer(tokenizer)
        self._special_tokens = self.texts.specials
        if include_end_of_turn and not self.has_template and tokenizer.eos_token is None:
            raise ValueError(
                "the tokenizer has neither a chat template nor an EOS token, so there is no "
                "end-of-turn action; pass include_end_of_turn=False"
            )

    def _render(self, messages: list[Message], *, generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )

    def render_prompt(self, prompt: Prompt, *, system: str | None = None) -> _RenderedPrompt:
        """Render and tokenize the state for ``prompt``; shared by all its responses."""
        messages = normalize_messages(prompt, system=system)
        if not self.has_template:
            text = "\n\n".join(m["content"] for m in messages)
            end = self.tokenizer.eos_token if self.include_end_of_turn else ""
            content = ((0, len(text)),)  # all of it is content
            ids = self.texts(text, content, add_special_tokens=True)
            rendered = _RenderedPrompt(text=text, ids=ids, before="", end=end, content=content)
        else:
            text = self._render(messages, generation_prompt=True)
            marked = self._render(
                [*messages, {"role": "assistant", "content": _SENTINEL}], generation_prompt=False
            )
            tail = marked[len(text):] if marked.startswith(text) else None
            if tail is None or tail.count(_SENTINEL) != 1:
                raise ValueError(
                    "the chat template does not render an assistant turn as the generation "
                    "prompt followed by the content; rewardmine cannot tell where the response "
                    "starts. Pass a tokenizer with a standard template"
                )
            before, after = tail.split(_SENTINEL)
            end = self._end_of_turn(after) if self.include_end_of_turn else ""
            content = tuple(content_spans(
                lambda ms: self._render(ms, generation_prompt=True), messages, text, self.texts))
            ids = self.texts(text, content)
            cut, fixed = self._cut(text, content, ids)
            rendered = _RenderedPrompt(text=text, ids=ids, before=before, end=end,
                                       content=content, cut=cut, fixed=fixed)
        if not rendered.ids:
            raise ValueError(
                "the prompt encodes to zero tokens, so the first action has no state to start "
                "from; give a non-empty prompt or a tokenizer that adds a BOS token"
            )
        return rendered

    def _cut(self, text: str, content: Sequence[Span], ids: tuple[int, ...]) -> tuple[int, int]:
        """Where per-response tokenization can start: the last control token of the template's
        own text (outside all content), so a long prompt is tokenized once, not per response.

        Tokenizers split text at special tokens before anything else, so the tokens before that
        point do not depend on what follows it. That is checked here, once per prompt: the
        prompt's own tokens must end with the tokens of ``text[cut:]`` alone (a tokenizer that
        strips or prefixes around special tokens fails it). Returns ``cut`` and the number of
        prompt tokens before it; (0, 0), the whole text per response, when there is no such
        token or the check fails.
        """
        cut = 0
        for m in self.texts.matches(text):
            if not any(m.start() < b and a < m.end() for a, b in content):
                cut = m.start()
        if cut == 0:
            return 0, 0
        tail = self.texts(text[cut:], _shift(content, cut))
        if len(tail) < len(ids) and ids[len(ids) - len(tail):] == tail:
            return cut, len(ids) - len(tail)
        return 0, 0

    def _end_of_turn(self, after: str) -> str:
        """The template text after an assistant turn's content, up to the end-of-turn token."""
        hits = [(after.find(s), s) for s in self._special_tokens if s in after]
        if hits:
            start, token = min(hits, key=lambda h: (h[0], -len(h[1])))
            return after[: start + len(token)]
        eos = self.tokenizer.eos_token
        if eos is None:
            raise ValueError(
                "the chat template closes an assistant turn without a special token and the "
                "tokenizer has no EOS token; pass include_end_of_turn=False"
            )
        return eos

    def encode_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                    system: str | None = None) -> list[EncodedPair]:
        """:meth:`encode` of parallel lists; a prompt repeated across items is rendered once,
        and an error names its item."""
        pairs, rendered = [], {}
        for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
            try:
                key = prompt_key(prompt)
                if key not in rendered:
                    rendered[key] = self.render_prompt(prompt, system=system)
                pairs.append(self.encode(rendered[key], response))
            except (TypeError, ValueError) as error:
                raise type(error)(f"item {i}: {error}") from None
        return pairs

    def encode(self, prompt: Prompt | _RenderedPrompt, response: str, *,
               system: str | None = None) -> EncodedPair:
        """Split ``prompt`` + ``response`` into state tokens and action tokens."""
        if not isinstance(response, str):
            raise TypeError(f"a response must be a string, not {type(response).__name__}")
        rendered = (
            prompt if isinstance(prompt, _RenderedPrompt)
            else self.render_prompt(prompt, system=system)
        )
        actions_text = rendered.before + response + rendered.end
        start = len(rendered.before)
        # the whole text's tokens from ``cut`` on: the prompt's tokens before it are fixed
        cut = rendered.cut
        tail_text = rendered.text[cut:]
        response_span = (len(tail_text) + start, len(tail_text) + start + len(response))
        tail = self.texts(tail_text + actions_text,
                          (*_shift(rendered.content, cut), response_span),
                          add_special_tokens=not self.has_template and cut == 0)
        n, fixed = len(rendered.ids), rendered.fixed
        if tail[:n - fixed] == rendered.ids[fixed:]:
            return EncodedPair(rendered.ids, tail[n - fixed:], "in_context")
        return EncodedPair(
            rendered.ids, self.texts(actions_text, ((start, start + len(response)),)), "separate"
        )
