"""What every RL adapter shares: text-mode scoring.

A completion's text is :func:`rewardmine.chat.completion_text`; judging groups of completions
lives in :mod:`rewardmine.grouping`; loading a reward, once per process, in
:func:`rewardmine.specs.load_reward`.
:func:`score_text_pairs` scores prompts that are already rendered text (OpenRLHF's decoded
queries, base-model prompts) token by token, without applying a template.
"""

from __future__ import annotations

from collections.abc import Sequence

from rewardmine.protocols import TokenScorer
from rewardmine.rollouts import split_rendered


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
