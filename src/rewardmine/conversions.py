"""Turning one reward family into the other.

:func:`as_list_judge` turns a scorer into a list judge (:class:`ScorerJudge`: the principle becomes
the scorer's ``system``, the ranking sorts by score) and :func:`as_scorer` turns a list judge into
a scorer (:class:`JudgeScorer`: the responses to one prompt are judged together, ``system`` is the
principle), so every reward runs wherever either family is expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardmine.chat import Prompt
from rewardmine.errors import ContextLengthError, JudgeOutputError
from rewardmine.grouping import judge_groups
from rewardmine.protocols import (
    JudgeRequest,
    JudgeReward,
    ListJudge,
    Scorer,
    is_list_judge,
    is_scorer,
)
from rewardmine.types import Judgement


class ScorerJudge:
    """A :class:`Scorer` as a :class:`ListJudge`: each response scored alone, ranked by score.

    Requests that share a principle go to the scorer in one ``score_many`` call, with the
    principle written into ``system_template`` (a request without one is scored with
    ``system=None``).

    Example:
        >>> judge = ScorerJudge(EndogenousReward.from_pretrained(path))   # doctest: +SKIP
        >>> judge.judge_many([{"principle": "Be brief.", "prompt": "2+2?",
        ...                    "responses": {"a": "4", "b": "It is four."}}])  # doctest: +SKIP
    """

    def __init__(self, scorer: Scorer, *, system_template: str = "{principle}") -> None:
        self.scorer, self.system_template = scorer, system_template

    def _system(self, r: int, request: JudgeRequest) -> str | None:
        """The request's principle as the scorer's system prompt (checking the request)."""
        if "prompt" not in request or not isinstance(request.get("responses"), Mapping):
            raise ValueError(f"request {r} must have 'prompt' and 'responses' (a dict of ids "
                             f"to texts); it has {sorted(request)}")
        principle = request.get("principle")
        return None if principle is None else self.system_template.format(principle=principle)

    def check(self, requests: Sequence[JudgeRequest]) -> None:
        """Pre-flight: :class:`~rewardmine.errors.ContextLengthError` (``index`` the request's)
        for the first response over the scorer's context with its prompt, from the scorer's own
        ``check``; a scorer without one is not checked."""
        check = getattr(self.scorer, "check", None)
        if check is None:
            return
        for r, request in enumerate(requests):
            system = self._system(r, request)
            ids = list(request["responses"])
            try:
                check([request["prompt"]] * len(ids), [request["responses"][i] for i in ids],
                      system=system)
            except ContextLengthError as error:
                detail = (error.detail if error.index is None
                          else f"has response {ids[error.index]!r}, which {error.detail}")
                raise ContextLengthError(f"request {r} {detail}", index=r, length=error.length,
                                         limit=error.limit, detail=detail) from error

    def judge_many(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        by_system: dict[str | None, list[tuple[int, str]]] = {}
        for r, request in enumerate(requests):
            system = self._system(r, request)
            by_system.setdefault(system, []).extend((r, i) for i in request["responses"])
        scores: list[dict[str, float]] = [{} for _ in requests]
        for system, members in by_system.items():
            values = self.scorer.score_many(
                [requests[r]["prompt"] for r, _ in members],
                [requests[r]["responses"][i] for r, i in members], system=system)
            if len(values) != len(members):
                raise ValueError(f"the scorer returned {len(values)} scores for {len(members)} "
                                 "responses")
            for (r, i), value in zip(members, values, strict=True):
                scores[r][i] = float(value)
        return [Judgement(scores=s, ranking=sorted(s, key=lambda i, s=s: -s[i])) for s in scores]


class JudgeScorer:
    """A :class:`ListJudge` as a :class:`Scorer`: the responses to one prompt are judged together.

    ``score_many`` groups its pairs by prompt (first-appearance order, the pairs' order inside a
    group) and sends every group in one ``judge_many`` call, with ``system`` as the principle
    (``principle`` when ``system`` is None, else the judge's own default).

    Args:
        judge: the list judge.
        principle: the principle for calls without ``system``.
        reward: "score" (the judge's score) or "rank" (best 1 .. worst 0).
        invalid_score: the score of a response whose group got no valid verdict; None raises
            :class:`~rewardmine.JudgeOutputError` naming the group.
    """

    def __init__(self, judge: ListJudge, *, principle: str | None = None,
                 reward: JudgeReward = "score", invalid_score: float | None = None) -> None:
        self.judge, self.principle = judge, principle
        self.reward, self.invalid_score = reward, invalid_score

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        principle = system if system is not None else self.principle
        rewards, verdicts = judge_groups(self.judge, principle, prompts, responses,
                                         reward=self.reward)
        if any(r is None for r in rewards):
            if self.invalid_score is None:
                index = next(i for i, r in enumerate(rewards) if r is None)
                error = next(v.error for v in verdicts if not v.ok)
                raise JudgeOutputError(f"the responses to the prompt of item {index} got no valid "
                                       f"verdict ({error}); set invalid_score to give them a "
                                       "fixed score instead")
            return [self.invalid_score if r is None else r for r in rewards]
        return rewards  # type: ignore[return-value]


def as_list_judge(reward: Scorer | ListJudge) -> ListJudge:
    """``reward`` itself when it is a list judge, else the scorer wrapped in :class:`ScorerJudge`."""
    if is_list_judge(reward):
        return reward  # type: ignore[return-value]
    if is_scorer(reward):
        return ScorerJudge(reward)  # type: ignore[arg-type]
    raise TypeError(f"{type(reward).__name__} is neither a scorer (score_many) nor a list judge "
                    "(judge_many)")


def as_scorer(reward: Scorer | ListJudge, **options: Any) -> Scorer:
    """``reward`` itself when it is a scorer, else the list judge wrapped in :class:`JudgeScorer`."""
    if is_scorer(reward):
        return reward  # type: ignore[return-value]
    if is_list_judge(reward):
        return JudgeScorer(reward, **options)  # type: ignore[arg-type]
    raise TypeError(f"{type(reward).__name__} is neither a scorer (score_many) nor a list judge "
                    "(judge_many)")
