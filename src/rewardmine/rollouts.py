"""Rollouts as RL engines hand them to a reward: text or token ids, split back into the prompt's
state and the response's actions.

The RL adapters (:mod:`rewardmine.rl`) and the reward server (which serves the same engines'
protocols over HTTP) both need these, so they live below both and neither imports the other.
OpenRLHF sends ``query`` = prompt + response decoded with special tokens (:func:`split_queries`);
a text-mode trainer sends a rendered prompt and the response text (:func:`split_rendered`); a
policy that shares the reward model's tokenizer sends its generated ids, scored after the
prompt's state ids (:func:`prompt_state_ids`). :func:`end_ids` names the tokens that end a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardmine.chat import prompt_key


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


def pad_tokens_of(tokenizer: Any) -> list[str]:
    """The padding token text(s) of a tokenizer (the pad token, or EOS when it pads with EOS)."""
    pad = getattr(tokenizer, "pad_token", None)
    return [pad] if pad else []


def end_tokens_of(tokenizer: Any) -> list[str]:
    """The texts of the tokens that end a response: EOS and the template's end-of-turn tokens."""
    if tokenizer is None:
        return []
    return sorted({tokenizer.convert_ids_to_tokens(i) for i in end_ids(tokenizer)})


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


def split_rendered(tokenizer: Any, prompt_text: str, response_text: str
                   ) -> tuple[list[int], list[int]]:
    """Token ids of an already rendered prompt and of the response text that follows it.

    Special tokens written in the text (``<|im_end|>``) are parsed as such, no BOS/EOS is added.
    The response's ids come from tokenizing the whole text when the prompt's ids are a prefix of
    it (what the model saw), else from tokenizing the response alone (what it generated).
    """
    state = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    whole = tokenizer(prompt_text + response_text, add_special_tokens=False)["input_ids"]
    if whole[: len(state)] == state:
        return list(state), list(whole[len(state):])
    return list(state), list(tokenizer(response_text, add_special_tokens=False)["input_ids"])


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
