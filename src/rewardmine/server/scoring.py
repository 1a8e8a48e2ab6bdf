"""The server's endogenous-reward work: encoding requests into token ids and merged model calls.

Encoding (chat template, tokenizer) runs on the server's threads while the model scores earlier
requests, in its own process under ``rewardmine serve`` (see :mod:`rewardmine.server.worker`); a
merged call then scores every request's token ids at once.

Encoding is bounded: each distinct prompt is rendered and tokenized once per request, an item
longer than the model's context is refused as soon as it is encoded (a prompt alone that fills
the context before any response is), so it never reaches a merged call, and a request whose
encoding outlives its :class:`Budget` stops between items.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardmine.chat import ChatEncoder, check_fits, prompt_key
from rewardmine.errors import ContextLengthError
from rewardmine.rollouts import prompt_state_ids, split_rendered

PromptCache = Literal["auto", "always", "never"]
Tokens = tuple[tuple[int, ...], tuple[int, ...]]  # (state ids, action ids) of one item


@dataclass(frozen=True)
class RequestEncoder:
    """The tokenizer side of an endogenous reward model, for a server whose model runs elsewhere
    (a :class:`~rewardmine.server.worker.ModelWorker`): what the encoding functions below need."""

    tokenizer: Any
    encoder: ChatEncoder
    max_length: int | None = None  # the model's context, checked before an item is batched

    @classmethod
    def from_pretrained(cls, name_or_path: str, load: Any = None) -> RequestEncoder:
        """The same tokenizer, chat encoder and context limit as
        ``EndogenousReward.from_pretrained`` (a hub id, a folder or a GGUF file; ``load`` a
        :class:`~rewardmine.models.LoadOptions`), from the one loader, without the weights."""
        from rewardmine.models import context_length, load_config, load_tokenizer

        tokenizer = load_tokenizer(name_or_path, load)
        limit = context_length(load_config(name_or_path, load))
        return cls(tokenizer, ChatEncoder(tokenizer), limit)


class EncodingTimeout(TimeoutError):
    """A request's encoding ran past its budget (the server answers 504)."""


class EncodingCancelled(RuntimeError):
    """The server is shutting down; the request's encoding stopped (the server answers 503)."""


@dataclass
class Budget:
    """When a request's encoding must stop: a deadline, and a flag the server sets on shutdown."""

    seconds: float | None = None
    cancel: threading.Event | None = None
    started: float = field(default_factory=time.monotonic)

    def check(self, done: int, total: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise EncodingCancelled("the server is shutting down")
        if self.seconds is not None and time.monotonic() - self.started > self.seconds:
            raise EncodingTimeout(
                f"encoding the request took longer than {self.seconds:g} s ({done} of {total} "
                "items done); send fewer or shorter items per request")


def _check_size(index: int, texts: Any, prompt: Any, response: str | None,
                limit: int | None) -> None:
    """Refuse an item that cannot fit from its length in bytes alone, before tokenizing it
    (an 8 MiB response once cost a minute and gigabytes of tokens to be refused). ``prompt``
    or ``response`` None skips that side (a prompt shared by many items is checked once)."""
    if limit is None:
        return
    contents = prompt if isinstance(prompt, str) or prompt is None else "".join(
        str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    for what, text in (("prompt", contents), ("response", response)):
        floor = texts.fewest_tokens(text) if isinstance(text, str) else 0
        if floor > limit:
            raise ContextLengthError(
                f"item {index}: its {what} alone is at least {floor} tokens ({len(text)} "
                f"characters) but the model's context is {limit}; shorten it (rewardmine never "
                "truncates)", index=index, length=floor, limit=limit)


def encode_chat(reward: Any, prompts: Sequence[Any], responses: Sequence[str],
                system: str | None, budget: Budget | None = None) -> list[Tokens]:
    """Token ids of chat items under the reward model's template, each prompt rendered once.

    Runs on the encoding threads, so templating and tokenizing the next requests overlap the
    model's forward passes. Raises ``ContextLengthError`` for the first item over the context.
    """
    limit = getattr(reward, "max_length", None)
    rendered: dict[str, Any] = {}
    out = []
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        if budget is not None:
            budget.check(i, len(responses))
        key = prompt_key(prompt)
        _check_size(i, reward.encoder.texts, None if key in rendered else prompt, response,
                    limit)
        try:
            if key not in rendered:
                rendered[key] = reward.encoder.render_prompt(prompt, system=system)
                check_fits(i, len(rendered[key].ids), 0, limit)
            pair = reward.encoder.encode(rendered[key], response)
        except (TypeError, ValueError) as error:
            if isinstance(error, ContextLengthError):
                raise
            raise type(error)(f"item {i}: {error}") from None
        check_fits(i, len(pair.prompt_ids), len(pair.action_ids), limit)
        out.append((pair.prompt_ids, pair.action_ids))
    return out


def encode_actions(reward: Any, prompts: Sequence[Any], action_ids: Sequence[Sequence[int]],
                   system: str | None, budget: Budget | None = None) -> list[Tokens]:
    """State ids of chat prompts under the reward model's template, each followed by the given
    action ids as they are (a policy's generated tokens, for a reward model sharing its
    tokenizer): nothing re-tokenized, no end-of-turn appended. Lengths are checked here, before
    the items are batched."""
    if budget is not None:
        budget.check(0, len(prompts))
    states = prompt_state_ids(reward, prompts, system=system)
    limit = getattr(reward, "max_length", None)
    out = []
    for i, (state, actions) in enumerate(zip(states, action_ids, strict=True)):
        check_fits(i, len(state), len(actions), limit)
        out.append((tuple(state), tuple(actions)))
    return out


def encode_text(reward: Any, prompts: Sequence[str], responses: Sequence[str],
                budget: Budget | None = None) -> list[Tokens]:
    """Token ids of items whose prompts are already rendered text (the OpenRLHF route)."""
    limit = getattr(reward, "max_length", None)
    out = []
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        if budget is not None:
            budget.check(i, len(responses))
        _check_size(i, reward.encoder.texts, prompt, response, limit)
        state, actions = split_rendered(reward.encoder.texts, prompt, response)
        if not state:
            raise ValueError(f"item {i}: the prompt text encodes to zero tokens, so the first "
                             "action has no state; send the rendered prompt")
        check_fits(i, len(state), len(actions), limit)
        out.append((tuple(state), tuple(actions)))
    return out


def endogenous_runner(reward: Any, *, prompt_cache: PromptCache = "auto"
                      ) -> Callable[[list[Tokens]], list[float]]:
    """Scores a merged call of tokenized items with ``EndogenousReward.score_ids``.

    With "auto" the scorer decides per prompt group whether one prompt forward with a reused KV
    cache pays off (``EndogenousReward.min_cache_saving``); "always" reuses it for every group of
    two or more responses, "never" pads every item into whole-sequence batches.
    """

    def run(items: list[Tokens]) -> list[float]:
        states, actions = [s for s, _ in items], [a for _, a in items]
        if prompt_cache == "auto":
            return reward.score_ids(states, actions)
        saved = reward.reuse_prompt_cache, reward.min_cache_saving  # this thread alone uses it
        reward.reuse_prompt_cache, reward.min_cache_saving = prompt_cache == "always", 0
        try:
            return reward.score_ids(states, actions)
        finally:
            reward.reuse_prompt_cache, reward.min_cache_saving = saved

    return run


def load_endogenous_runner(name_or_path: str, *, prompt_cache: PromptCache = "auto",
                           **options: Any) -> Callable[[list[Tokens]], list[float]]:
    """Load an ``EndogenousReward`` (``options`` go to ``from_pretrained``) and return its runner:
    the factory a :class:`~rewardmine.server.worker.ModelWorker` calls in its process."""
    from rewardmine.endogenous import EndogenousReward

    reward = EndogenousReward.from_pretrained(name_or_path, **options)
    return endogenous_runner(reward, prompt_cache=prompt_cache)
