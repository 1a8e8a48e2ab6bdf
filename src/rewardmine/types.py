"""Small result types shared by every part of rewardmine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JudgementStatus = Literal["ok", "repaired", "invalid"]


@dataclass(frozen=True)
class TokenRewards:
    """Per-token view of the endogenous reward of one response.

    Entry t describes action a_t (a response token) taken in state s_t (everything before it):
    ``logprobs[t] = log pi(a_t|s_t)``, ``values[t] = V(s_t)`` and
    ``rewards[t] = Q(s_t, a_t) - V(s_{t+1})``. ``terminal_value`` is the V(s_{T+1}) that the last
    reward subtracts (0 with ``terminal="zero"``), and ``total`` is the sum of ``rewards``.
    """

    tokens: list[str]
    token_ids: list[int]
    logprobs: list[float]
    values: list[float]
    rewards: list[float]
    terminal_value: float
    total: float

    def __len__(self) -> int:
        return len(self.token_ids)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Judgement:
    """One judge verdict over N responses, keyed by the caller's response ids.

    ``status`` is "ok" when the model's output was valid as written, "repaired" when rewardmine
    fixed defects it could fix unambiguously (``repairs`` lists each), and "invalid" when no valid
    verdict could be obtained (``scores`` and ``ranking`` are then empty and ``error`` says why).
    ``error`` is set on invalid verdicts only.
    """

    scores: dict[str, float] = field(default_factory=dict)
    ranking: list[str] = field(default_factory=list)
    reasoning: str = ""
    raw: str = ""
    status: JudgementStatus = "ok"
    error: str | None = None
    repairs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "invalid"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
