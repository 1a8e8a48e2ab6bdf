"""What every RL adapter shares: completion texts and text-mode scoring.

Judging groups of completions lives in :mod:`rewardmine.grouping`; loading a reward, once per
process, in :func:`rewardmine.specs.load_reward`.
:func:`score_text_pairs` scores prompts that are already rendered text (OpenRLHF's decoded
queries, base-model prompts) token by token, without applying a template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardmine.protocols import TokenScorer
from rewardmine.rollouts import split_rendered


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


def score_text_pairs(reward: TokenScorer, prompt_texts: Sequence[str], response_texts: Sequence[str]
                     ) -> list[float]:
    """Endogenous rewards of responses to prompts given as rendered text (no template applied)."""
    states, actions = [], []
    for i, (p, r) in enumerate(zip(prompt_texts, response_texts, strict=True)):
        state, action = split_rendered(reward.encoder.texts, p, r)
        if not state:
            raise ValueError(f"item {i}: the prompt text encodes to zero tokens")
        states.append(state)
        actions.append(action)
    return reward.score_ids(states, actions)
