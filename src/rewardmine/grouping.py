"""Judging the responses to each prompt together, from flat lists of (prompt, response) pairs.

Trainers, the reward server and :class:`~rewardmine.protocols.JudgeScorer` hand responses over in
flat lists (one entry per response). A list judge ranks the responses to one prompt together, so
:func:`judge_groups` regroups a flat list by prompt (first-appearance order, the responses' order
inside a group), judges every group in one ``judge_many`` call and scatters the rewards back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rewardmine.chat import prompt_key
from rewardmine.types import Judgement

if TYPE_CHECKING:  # protocols builds its judge-to-scorer adapter on this module
    from rewardmine.protocols import JudgeReward, ListJudge

DEFAULT_REFERENCE_TEMPLATE = (
    "{principle}\n\nA reference answer to the prompt is given below; judge each response's "
    "final answer against it.\nReference answer: {reference}"
)


def group_indices(keys: Sequence[str]) -> list[list[int]]:
    """Indices grouped by key, groups in first-appearance order, indices ascending inside."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def judgement_rewards(judgement: Judgement, ids: Sequence[str], *,
                      reward: JudgeReward = "score") -> list[float] | None:
    """Rewards for ``ids`` from one verdict; None when the verdict is invalid.

    "score" takes the judge's score of each response; "rank" maps the best-to-worst ranking
    linearly onto [0, 1] (best 1, worst 0; a group of one gets 1).
    """
    if not judgement.ok:
        return None
    if reward == "score":
        missing = [i for i in ids if i not in judgement.scores]
        if missing:
            raise ValueError(f"the judge's verdict has no score for responses {missing}")
        return [float(judgement.scores[i]) for i in ids]
    if reward == "rank":
        if sorted(judgement.ranking) != sorted(ids):
            raise ValueError(
                f"the judge's ranking {judgement.ranking} is not a permutation of {list(ids)}"
            )
        n = len(ids)
        position = {rid: p for p, rid in enumerate(judgement.ranking)}
        return [1.0 if n == 1 else (n - 1 - position[i]) / (n - 1) for i in ids]
    raise ValueError(f"reward must be 'score' or 'rank', not {reward!r}")


def group_requests(principle: str | None, prompts: Sequence[Any], responses: Sequence[str], *,
                   references: Sequence[Any] | None = None,
                   reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                   ) -> tuple[list[list[int]], list[dict[str, Any]]]:
    """One judge request per distinct prompt (and reference), and the item indices of each.

    A group's response ids are "0".."k-1" in the items' order; a reference answer is written
    into the principle with ``reference_template``.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"got {len(prompts)} prompts but {len(responses)} responses; they must "
                         "be parallel lists")
    if references is not None and len(references) != len(prompts):
        raise ValueError(f"got {len(references)} references for {len(prompts)} responses")
    keys = [prompt_key(p, reference=None if references is None else references[i])
            for i, p in enumerate(prompts)]
    groups = group_indices(keys)
    requests = []
    for members in groups:
        first = members[0]
        text = principle if references is None else reference_template.format(
            principle=principle, reference=references[first])
        requests.append({"principle": text, "prompt": prompts[first],
                         "responses": {str(k): responses[i] for k, i in enumerate(members)}})
    return groups, requests


def scatter_rewards(groups: list[list[int]], verdicts: Sequence[Judgement], size: int, *,
                    reward: JudgeReward = "score") -> list[float | None]:
    """Each group's verdict back onto its items, in input order (None for an invalid verdict)."""
    if len(verdicts) != len(groups):
        raise ValueError(f"the judge returned {len(verdicts)} verdicts for {len(groups)} requests")
    out: list[float | None] = [None] * size
    for members, verdict in zip(groups, verdicts, strict=True):
        values = judgement_rewards(verdict, [str(k) for k in range(len(members))], reward=reward)
        if values is not None:
            for i, value in zip(members, values, strict=True):
                out[i] = value
    return out


def judge_groups(judge: ListJudge, principle: str | None, prompts: Sequence[Any],
                 responses: Sequence[str], *, references: Sequence[Any] | None = None,
                 reward: JudgeReward = "score",
                 reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                 ) -> tuple[list[float | None], list[Judgement]]:
    """Judge the responses to each distinct prompt together; one reward (or None) per response.

    All groups go to the judge in one ``judge_many`` call. Returns the rewards in input order
    (None where the group's verdict was invalid) and the verdicts in group order.
    """
    groups, requests = group_requests(principle, prompts, responses, references=references,
                                      reference_template=reference_template)
    verdicts = judge.judge_many(requests)
    return scatter_rewards(groups, verdicts, len(prompts), reward=reward), list(verdicts)
