"""OpenRLHF: its reward protocol (queries = decoded prompt + response) and Python-file mode.

OpenRLHF 0.11's ``SingleTurnAgentExecutor`` sends, per rollout, ``query`` = the prompt's and the
generated response's token ids decoded *with* special tokens (no padding: an end-of-turn the
policy generated is the query's last text, a truncated response has none), ``prompts`` = the
prompt text as the policy saw it (template applied) and ``labels``, and expects
``{"rewards", "scores", "extra_logs"}``. :func:`rewardmine.rollouts.split_queries` recovers each
response as the text after its prompt. Only text crosses this protocol, so the response is
re-tokenized by the reward model: where a BPE merge differs from what the policy generated, other
tokens are scored (docs/rl.md measures how often). The prompt is used as rendered text, so the
reward model should share the policy's template family (its frozen copy does).

Python-file mode: ``--reward.remote_url /path/to/rewardmine/rl/openrlhf_reward_func.py`` with the
reward spec in the ``REWARDMINE_REWARD`` environment variable (OpenRLHF passes no options).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rewardmine.rl.common import score_text_pairs
from rewardmine.rollouts import pad_tokens_of, split_queries


def endogenous_openrlhf_rewards(reward: Any, queries: Sequence[str], prompts: Sequence[str]
                                ) -> dict[str, Any]:
    """Endogenous rewards in OpenRLHF's response format (lists of floats)."""
    responses = split_queries(queries, prompts, pad_tokens=pad_tokens_of(reward.tokenizer),
                              end_tokens=reward.encoder.texts.end_tokens)
    rewards = score_text_pairs(reward, prompts, responses)
    return {"rewards": rewards, "scores": rewards,
            "extra_logs": {"endogenous_reward": rewards}}


def make_reward_func(reward: Any) -> Callable[..., dict[str, Any]]:
    """A ``reward_func(queries, prompts, labels)`` for OpenRLHF's Python-file mode."""

    def reward_func(queries: list[str], prompts: list[str], labels: list[Any] | None = None,
                    **kwargs: Any) -> dict[str, Any]:
        import torch

        out = endogenous_openrlhf_rewards(reward, queries, prompts)
        tensor = torch.tensor(out["rewards"], dtype=torch.float32)
        return {"rewards": tensor, "scores": tensor, "extra_logs": {"endogenous_reward": tensor}}

    return reward_func
