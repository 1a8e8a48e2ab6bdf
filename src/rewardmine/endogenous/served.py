"""The endogenous reward served by ``rewardmine serve``: a client, for code far from a GPU.

verl's and OpenRLHF's reward functions run in CPU worker processes; with ``server_url`` they send
the work to a reward server on a GPU instead of loading the model themselves. Requests go through
:mod:`rewardmine.upstream` (standard library only, so the workers need nothing extra): a 503 from
a busy or restarting server is retried with backoff within one total deadline, and a refusal is
raised with the server's own message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rewardmine.upstream import RetryPolicy, UpstreamError, post_json


class ServedReward:
    """``score_many`` of the EndogenousReward a ``rewardmine serve`` holds at ``url``.

    The server sums token rewards; ``aggregate`` is accepted so that every scorer takes the same
    options, and anything but "sum" is refused.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"api_key", "timeout_s", "retries", "aggregate"})

    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 600.0,
                 retries: int = 3, aggregate: str = "sum") -> None:
        if aggregate != "sum":
            raise ValueError(f"a rewardmine server sums token rewards; aggregate={aggregate!r} "
                             "needs a local endogenous:PATH or a logprobs:MODEL@URL reward")
        self.aggregate = aggregate
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.policy = RetryPolicy(retries=retries, backoff_s=1.0, deadline_s=timeout_s)

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
        url = self.url + route
        answer = post_json(url, payload, api_key=self.api_key, policy=self.policy)
        rewards = answer.get("rewards")
        if not isinstance(rewards, list) or len(rewards) != count or not all(
                isinstance(r, int | float) and not isinstance(r, bool) for r in rewards):
            raise UpstreamError(f"{url} answered {str(rewards)[:200]} for {count} responses; "
                                "expected one number each", url=url)
        return [float(r) for r in rewards]
