"""A panel of list judges whose verdicts are combined by Kemeny consensus: itself a list judge.

Every member judges every request (each member's requests go in one ``judge_many`` call). The
panel's ranking of a request is the Kemeny consensus of the members' valid rankings (score ties
as tie groups), and its scores are the consensus scores (``"win_rate"``: the weighted share of
pairwise comparisons a response wins, in [0, 1]; ``"mean"``: the weighted mean of the members'
scores, for members on one scale). Members whose verdict is invalid are left out of that
request's consensus and named in its ``reasoning``; a request no member judged validly is
invalid, with every member's reason in ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rewardmine.consensus.aggregate import ScoreKind, consensus, rankings_from_judgements
from rewardmine.errors import ContextLengthError
from rewardmine.protocols import JudgeRequest, ListJudge
from rewardmine.types import Judgement


class JudgePanel:
    """Several list judges as one (see the module docstring).

    Args:
        judges: the members by name (a sequence is named "j1", "j2", ...).
        weights: one non-negative weight per member; None weighs each 1.
        score: "win_rate" or "mean".

    Example:
        >>> panel = JudgePanel({"a": judge_a, "b": judge_b})       # doctest: +SKIP
        >>> panel.judge_many([{"principle": "Be brief.", "prompt": "2+2?",
        ...                    "responses": {"x": "4", "y": "It is 4."}}])  # doctest: +SKIP
    """

    def __init__(self, judges: Mapping[str, ListJudge] | Sequence[ListJudge], *,
                 weights: Sequence[float] | None = None, score: ScoreKind = "win_rate") -> None:
        members = dict(judges) if isinstance(judges, Mapping) else {
            f"j{k}": judge for k, judge in enumerate(judges, start=1)}
        if not members:
            raise ValueError("a judge panel needs at least one judge")
        if weights is not None and len(weights) != len(members):
            raise ValueError(f"got {len(weights)} weights for {len(members)} judges")
        if score not in ("win_rate", "mean"):
            raise ValueError(f"score={score!r}; use 'win_rate' or 'mean'")
        self.judges = members
        self.weights = None if weights is None else [float(w) for w in weights]
        self.score: ScoreKind = score

    def calls_for(self, responses: int) -> int:
        """Model calls one request costs: every member's (a member without ``calls_for`` is
        counted as one call)."""
        return sum(getattr(j, "calls_for", lambda n: 1)(responses) for j in self.judges)

    def check(self, requests: Sequence[JudgeRequest]) -> None:
        """Pre-flight of every member that has one (``check``), naming the member."""
        for name, judge in self.judges.items():
            check = getattr(judge, "check", None)
            if check is None:
                continue
            try:
                check(requests)
            except ContextLengthError as error:
                raise ContextLengthError(
                    f"{error} (panel judge {name})", index=error.index, length=error.length,
                    limit=error.limit, detail=f"{error.detail} (panel judge {name})") from error

    def judge_many(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        verdicts = {}
        for name, judge in self.judges.items():
            got = list(judge.judge_many(requests))
            if len(got) != len(requests):
                raise ValueError(f"panel judge {name} returned {len(got)} verdicts for "
                                 f"{len(requests)} requests")
            verdicts[name] = got
        return [self._combine(r, {name: v[r] for name, v in verdicts.items()})
                for r in range(len(requests))]

    def _combine(self, index: int, verdicts: dict[str, Judgement]) -> Judgement:
        names = list(self.judges)
        valid = [n for n in names if verdicts[n].ok]
        left_out = [f"{n}: {verdicts[n].error}" for n in names if not verdicts[n].ok]
        if not valid:
            return Judgement(status="invalid", error=f"request {index}: no panel judge gave a "
                             f"valid verdict ({'; '.join(left_out)})")
        rankings, scores = rankings_from_judgements([verdicts[n] for n in valid])
        weights = None if self.weights is None else [self.weights[names.index(n)] for n in valid]
        result = consensus(rankings, weights, judge_scores=scores, score=self.score)
        reasoning = "\n\n".join(
            [f"[panel: consensus of {', '.join(valid)}"
             + (f"; left out {'; '.join(left_out)}]" if left_out else "]")]
            + [f"[{n}]\n{verdicts[n].reasoning}" for n in valid if verdicts[n].reasoning])
        repairs = [f"{n}: {r}" for n in valid for r in verdicts[n].repairs]
        return Judgement(scores={str(k): v for k, v in result.scores.items()},
                         ranking=[str(i) for i in result.ranking], reasoning=reasoning,
                         status="repaired" if repairs else "ok", repairs=repairs)
