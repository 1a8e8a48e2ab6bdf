"""Rollouts as RL engines hand them to a reward: text or token ids, split back into the prompt's
state and the response's actions.

The RL adapters (:mod:`rewardmine.rl`) and the reward server (which serves the same engines'
protocols over HTTP) both need these, so they live below both and neither imports the other.
OpenRLHF sends ``query`` = prompt + response decoded with special tokens (:func:`split_queries`);
a text-mode trainer sends a rendered prompt and the response text (:func:`split_rendered`); a
policy that shares the reward model's tokenizer sends its generated ids, scored after the
prompt's state ids (:func:`prompt_state_ids`). The tokens that end a turn are a tokenizer's fact,
read once per tokenizer (:class:`rewardmine.chat.TextTokenizer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardmine.chat import TextTokenizer, prompt_key


def pad_tokens_of(tokenizer: Any) -> list[str]:
    """The padding token text(s) of a tokenizer (the pad token, or EOS when it pads with EOS)."""
    pad = getattr(tokenizer, "pad_token", None)
    return [pad] if pad else []


def split_queries(queries: Sequence[str], prompts: Sequence[str], *,
                  pad_tokens: Sequence[str] = (), end_tokens: Sequence[str] = ()) -> list[str]:
    """The response part of each query: the text after its prompt.

    For older OpenRLHF releases, which decoded padded batches, padding text before the prompt and
    after the response is removed; a pad token that is also an end token (``end_tokens``: EOS or
    end-of-turn; SmolLM2 pads with its ``<|im_end|>``) keeps one copy at the end, because a
    padded response ended on its own and that end-of-turn is an action the policy took. A query
    that does not contain its prompt at the start raises, naming the item.
    """
    if len(queries) != len(prompts):
        raise ValueError(f"got {len(queries)} queries but {len(prompts)} prompts; OpenRLHF sends "
                         "parallel lists")
    pads = [p for p in pad_tokens if p]
    ends = {e for e in end_tokens if e}
    responses = []
    for i, (query, prompt) in enumerate(zip(queries, prompts, strict=True)):
        if not isinstance(query, str) or not isinstance(prompt, str):
            raise TypeError(f"item {i}: query and prompt must be strings")
        text = query
        stripped = True
        while stripped and not text.startswith(prompt):
            stripped = False
            for pad in pads:
                if text.startswith(pad):
                    text, stripped = text[len(pad):], True
        if not text.startswith(prompt):
            raise ValueError(
                f"item {i}: the query does not start with its prompt (query begins "
                f"{query[:60]!r}, prompt begins {prompt[:60]!r}); send prompts exactly as the "
                "policy saw them"
            )
        response = text[len(prompt):]
        kept = ""
        stripped = True
        while stripped:
            stripped = False
            for pad in pads:
                if response.endswith(pad):
                    response, stripped = response[: -len(pad)], True
                    kept = pad if pad in ends else kept
        responses.append(response + kept)
    return responses


def split_rendered(texts: TextTokenizer, prompt_text: str, response_text: str
                   ) -> tuple[list[int], list[int]]:
    """Token ids of an already rendered prompt and of the response text that follows it.

    Special tokens written in the prompt (the template's ``<|im_start|>``) are parsed as such. In
    the response only a trailing end-of-turn token (:attr:`TextTokenizer.end_tokens`), the one
    the policy generated to stop, is a control token; special-token text before it is text, as on
    every other route (a policy that writes ``<|im_end|>`` mid-response wrote characters). No
    BOS/EOS is added. The response's ids come from tokenizing the whole text when the prompt's
    ids are a prefix of it (what the model saw), else from tokenizing the response alone.
    """
    body = next((response_text[:-len(end)] for end in texts.end_tokens
                 if response_text.endswith(end)), response_text)
    at = len(prompt_text)
    state = texts(prompt_text)
    whole = texts(prompt_text + response_text, ((at, at + len(body)),))
    if whole[: len(state)] == state:
        return list(state), list(whole[len(state):])
    return list(state), list(texts(response_text, ((0, len(body)),)))


def prompt_state_ids(reward: Any, prompts: Sequence[Any], *, system: str | None = None
                     ) -> list[tuple[int, ...]]:
    """The state ids of each prompt under the reward model's chat template (generation prompt
    included), each distinct prompt rendered once: what a frozen copy of the policy saw."""
    rendered: dict[str, tuple[int, ...]] = {}
    out = []
    for i, prompt in enumerate(prompts):
        key = prompt_key(prompt)
        if key not in rendered:
            try:
                rendered[key] = tuple(reward.encoder.render_prompt(prompt, system=system).ids)
            except (TypeError, ValueError) as error:
                raise type(error)(f"prompt {i}: {error}") from None
        out.append(rendered[key])
    return out
