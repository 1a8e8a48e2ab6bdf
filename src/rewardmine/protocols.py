"""The reward contracts of rewardmine (turning one family into the other is
:mod:`rewardmine.conversions`).

- A :class:`Scorer` gives one number per (prompt, response) pair, higher is better:
  ``score_many(prompts, responses, *, system=None) -> list[float]``. ``system`` is the steering
  text (a domain prompt, a principle). The endogenous reward, the generative verifier and the
  reward server's client are scorers.
- A :class:`ListJudge` reads several responses to one prompt together and returns a verdict
  over them: ``judge_many(requests) -> list[Judgement]``, one per request, in request order. A
  request is ``{"principle": str (optional), "prompt": str or chat messages, "responses":
  {id: text}}``. :class:`~rewardmine.PrincipleJudge` and judge panels are list judges.

- A :class:`TokenScorer` is a scorer that also scores token ids as they are, for trainers that
  hold the ids their policy generated: ``score_ids(prompt_ids, action_ids)`` with the
  ``tokenizer`` whose ids they are and the ``encoder`` that renders prompts to states. The
  endogenous reward and its log-probability client are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from rewardmine.chat import ChatEncoder, Prompt
from rewardmine.types import Judgement

JudgeRequest = Mapping[str, Any]
JudgeReward = Literal["score", "rank"]


@runtime_checkable
class Scorer(Protocol):
    """Scores responses; ``system`` steers the reward (a domain prompt, a principle)."""

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]: ...


@runtime_checkable
class ListJudge(Protocol):
    """Judges requests like :meth:`rewardmine.PrincipleJudge.judge_many`, in request order."""

    def judge_many(self, requests: Sequence[JudgeRequest]) -> list[Judgement]: ...


@runtime_checkable
class TokenScorer(Scorer, Protocol):
    """A scorer of token ids taken as they are (no template, no re-tokenization): ``tokenizer``
    is the one whose ids it scores, ``encoder`` renders prompts to the states it expects."""

    tokenizer: Any
    encoder: ChatEncoder

    def score_ids(self, prompt_ids: Sequence[Sequence[int]],
                  action_ids: Sequence[Sequence[int]]) -> list[float]: ...


def is_scorer(obj: Any) -> bool:
    return callable(getattr(obj, "score_many", None))


def is_list_judge(obj: Any) -> bool:
    return callable(getattr(obj, "judge_many", None))
