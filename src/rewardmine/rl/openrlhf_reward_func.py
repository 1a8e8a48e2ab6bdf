"""OpenRLHF Python-file reward: ``--reward.remote_url <path of this file>``.

OpenRLHF imports this file by path and calls ``reward_func(queries, prompts, labels)`` in each
reward worker. Configure it with environment variables (for Ray, in ``--runtime-env-json``):
``REWARDMINE_ENDOGENOUS_MODEL`` (required: the frozen reward model's id or path),
``REWARDMINE_DTYPE`` and ``REWARDMINE_DEVICE`` (default "auto"), ``REWARDMINE_AGGREGATE``
("sum" or "mean"). The model loads once per worker process. With
``REWARDMINE_ENDOGENOUS_BASE_URL`` the model is the one a vLLM/SGLang server serves there (its
log-probabilities: the reward minus V(s_1); key from ``OPENAI_API_KEY``; "sum" only).
"""

from __future__ import annotations

import os
from typing import Any

from rewardmine.rl.common import cached_endogenous, cached_remote
from rewardmine.rl.openrlhf import make_reward_func


def reward_func(queries: list[str], prompts: list[str], labels: list[Any] | None = None,
                **kwargs: Any) -> dict[str, Any]:
    path = os.environ.get("REWARDMINE_ENDOGENOUS_MODEL")
    if not path:
        raise RuntimeError("set REWARDMINE_ENDOGENOUS_MODEL to the reward model's id or path")
    aggregate = os.environ.get("REWARDMINE_AGGREGATE", "sum")
    if aggregate not in ("sum", "mean"):
        raise ValueError(f"REWARDMINE_AGGREGATE must be 'sum' or 'mean', not {aggregate!r}")
    base_url = os.environ.get("REWARDMINE_ENDOGENOUS_BASE_URL")
    if base_url:
        reward = cached_remote(base_url, path)
    else:
        reward = cached_endogenous(path, dtype=os.environ.get("REWARDMINE_DTYPE", "auto"),
                                   device=os.environ.get("REWARDMINE_DEVICE", "auto"))
    return make_reward_func(reward, aggregate=aggregate)(queries, prompts, labels)
