"""A deterministic judge for the peer environments (longer responses rank higher), importable by
``judge_factory="peer_judges:make"``; it records every request it gets."""

from __future__ import annotations

from rewardmine.types import Judgement

REQUESTS: list[dict] = []


class LengthJudge:
    def judge_many(self, requests):
        REQUESTS.extend(requests)
        out = []
        for request in requests:
            responses = request["responses"]
            ranking = sorted(responses, key=lambda i: (-len(responses[i]), i))
            out.append(Judgement(scores={i: float(len(t)) for i, t in responses.items()},
                                 ranking=ranking))
        return out


def make() -> LengthJudge:
    return LengthJudge()
