"""The server's endogenous-reward work: encoding requests into token ids and merged model calls.

Encoding (chat template, tokenizer) runs on the server's threads while the model scores earlier
requests, in its own process under ``rewardkit serve`` (see :mod:`rewardkit.server.worker`); a
merged call then scores every request's token ids at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rewardkit.chat import ChatEncoder
from rewardkit.judge.grouping import prompt_key
from rewardkit.rl.actions import prompt_state_ids
from rewardkit.rl.common import split_rendered

PromptCache = Literal["auto", "always", "never"]
Tokens = tuple[tuple[int, ...], tuple[int, ...]]  # (state ids, action ids) of one item


@dataclass(frozen=True)
class RequestEncoder:
    """The tokenizer side of an endogenous reward model, for a server whose model runs elsewhere
    (a :class:`~rewardkit.server.worker.ModelWorker`): what the encoding functions below need."""

    tokenizer: Any
    encoder: ChatEncoder

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, revision: str | None = None) -> RequestEncoder:
        """The same tokenizer and chat encoder as ``EndogenousReward.from_pretrained``."""
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision)
        return cls(tokenizer, ChatEncoder(tokenizer))


def encode_chat(reward: Any, prompts: Sequence[Any], responses: Sequence[str],
                system: str | None) -> list[Tokens]:
    """Token ids of chat items under the reward model's template, each prompt rendered once.

    Runs on the encoding threads, so templating and tokenizing the next requests overlap the
    model's forward passes.
    """
    rendered: dict[str, Any] = {}
    out = []
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        key = prompt_key(prompt)
        try:
            if key not in rendered:
                rendered[key] = reward.encoder.render_prompt(prompt, system=system)
            pair = reward.encoder.encode(rendered[key], response)
        except (TypeError, ValueError) as error:
            raise type(error)(f"item {i}: {error}") from None
        out.append((pair.prompt_ids, pair.action_ids))
    return out


def encode_actions(reward: Any, prompts: Sequence[Any], action_ids: Sequence[Sequence[int]],
                   system: str | None) -> list[Tokens]:
    """State ids of chat prompts under the reward model's template, each followed by the given
    action ids as they are (a policy's generated tokens, for a reward model sharing its
    tokenizer): nothing re-tokenized, no end-of-turn appended."""
    states = prompt_state_ids(reward, prompts, system=system)
    return [(state, tuple(int(t) for t in actions))
            for state, actions in zip(states, action_ids, strict=True)]


def encode_text(reward: Any, prompts: Sequence[str], responses: Sequence[str]) -> list[Tokens]:
    """Token ids of items whose prompts are already rendered text (the OpenRLHF route)."""
    out = []
    for prompt, response in zip(prompts, responses, strict=True):
        state, actions = split_rendered(reward.tokenizer, prompt, response)
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
    the factory a :class:`~rewardkit.server.worker.ModelWorker` calls in its process."""
    from rewardkit.endogenous import EndogenousReward

    reward = EndogenousReward.from_pretrained(name_or_path, **options)
    return endogenous_runner(reward, prompt_cache=prompt_cache)
