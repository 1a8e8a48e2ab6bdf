"""A minimal client of ``rewardmine serve`` for reward functions that run far from a GPU.

verl's and OpenRLHF's reward functions run in CPU worker processes; with ``server_url`` they send
the work to a reward server on a GPU instead of loading the model themselves. Standard library
only (urllib), so the workers need nothing extra.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any


class RemoteEndogenous:
    """``score_many`` of an EndogenousReward served at ``url`` (sums over tokens, as served)."""

    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 600.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def score_many(self, prompts: Sequence[Any], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        return self._post("/v1/score_many", {"prompts": list(prompts),
                                             "responses": list(responses), "system": system},
                          len(responses))

    def score_actions(self, prompts: Sequence[Any], action_ids: Sequence[Sequence[int]], *,
                      system: str | None = None) -> list[float]:
        """Rewards of generated token ids after each prompt (the server's template renders the
        prompt; the ids are scored as they are, for a policy that shares its tokenizer)."""
        return self._post("/v1/score_actions",
                          {"prompts": list(prompts), "system": system,
                           "action_ids": [[int(t) for t in a] for a in action_ids]},
                          len(action_ids))

    def _post(self, route: str, payload: dict[str, Any], count: int) -> list[float]:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url + route, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                rewards = json.loads(reply.read())["rewards"]
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise RuntimeError(f"reward server {self.url} answered {error.code}: {detail}") \
                from None
        if len(rewards) != count:
            raise RuntimeError(f"reward server returned {len(rewards)} rewards for "
                               f"{count} responses")
        return [float(r) for r in rewards]
