"""OpenRLHF Python-file reward: ``--reward.remote_url <path of this file>``.

OpenRLHF imports this file by path and calls ``reward_func(queries, prompts, labels)`` in each
reward worker. Configure it with environment variables (for Ray, in ``--runtime-env-json``):
``REWARDMINE_REWARD`` (required) is the reward's spec (:mod:`rewardmine.specs`): a model id or
path (``endogenous:PATH``), or ``logprobs:MODEL@BASE_URL`` for a vLLM/SGLang server's
log-probabilities (the reward minus V(s_1); key from ``OPENAI_API_KEY``);
``REWARDMINE_REWARD_OPTIONS`` is a JSON object of its settings, e.g.
``{"dtype": "bfloat16", "aggregate": "mean"}``. The reward loads once per worker process.
"""

from __future__ import annotations

import json
import os
from typing import Any

from rewardmine.rl.openrlhf import make_reward_func
from rewardmine.specs import load_scorer


def reward_func(queries: list[str], prompts: list[str], labels: list[Any] | None = None,
                **kwargs: Any) -> dict[str, Any]:
    spec = os.environ.get("REWARDMINE_REWARD")
    if not spec:
        raise RuntimeError("set REWARDMINE_REWARD to the reward's spec: the reward model's id or "
                           "path, or logprobs:MODEL@BASE_URL")
    text = os.environ.get("REWARDMINE_REWARD_OPTIONS") or "{}"
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"REWARDMINE_REWARD_OPTIONS is not JSON ({error}): {text!r}") from None
    if not isinstance(options, dict):
        raise ValueError(f"REWARDMINE_REWARD_OPTIONS must be a JSON object, got {text!r}")
    reward = load_scorer(spec, defaults={"progress": False}, **options)
    return make_reward_func(reward)(queries, prompts, labels)
