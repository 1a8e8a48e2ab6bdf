"""Judging the responses to each prompt together, from flat lists of (prompt, response) pairs.

Trainers, the reward server and :class:`~rewardmine.conversions.JudgeScorer` hand responses over
in flat lists (one entry per response). A list judge ranks the responses of one group together:
:func:`judge_groups` builds one request per group, judges every group in one ``judge_many`` call
and scatters the rewards back in input order.

The groups are either found by prompt identity (:func:`~rewardmine.chat.prompt_key`, injective:
a string and a chat prompt never share a group, nor a prompt and its reference; first-appearance
order, the responses' order inside a group) or given as the trainer laid them out
(:func:`consecutive_groups` for TRL, :func:`uid_groups` for verl): trainers know their groups,
and grouping by prompt there would merge two GRPO groups that drew the same prompt (the judge
would rank 2G responses while the trainer normalises per G). A given group must share one prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardmine.chat import prompt_key
from rewardmine.protocols import JudgeReward, ListJudge
from rewardmine.types import Judgement

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


def consecutive_groups(size: int, group_size: int) -> list[list[int]]:
    """TRL's layout: items 0..G-1 are one group, G..2G-1 the next, and so on."""
    if group_size < 1:
        raise ValueError(f"num_generations must be at least 1, not {group_size}")
    if size % group_size:
        raise ValueError(
            f"got {size} completions, not a multiple of num_generations={group_size}; a GRPO "
            "group would be split between calls (in TRL, per_device_train_batch_size must then be "
            "a multiple of num_generations for a listwise judge)")
    return [list(range(start, start + group_size)) for start in range(0, size, group_size)]


def uid_groups(uids: Sequence[Any]) -> list[list[int]]:
    """verl's layout: items with the same ``uid`` are one group, wherever they are."""
    return group_indices([str(u) for u in uids])


def group_requests(principle: str | None, prompts: Sequence[Any], responses: Sequence[str], *,
                   groups: Sequence[Sequence[int]] | None = None,
                   references: Sequence[Any] | None = None,
                   reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                   ) -> tuple[list[list[int]], list[dict[str, Any]]]:
    """One judge request per group, and the item indices of each.

    ``groups`` None groups the items by prompt identity (and reference); given groups are kept
    as they are, and each must share one prompt (and reference). A group's response ids are
    "0".."k-1" in the items' order; a reference answer is written into the principle with
    ``reference_template``.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"got {len(prompts)} prompts but {len(responses)} responses; they must "
                         "be parallel lists")
    if references is not None and len(references) != len(prompts):
        raise ValueError(f"got {len(references)} references for {len(prompts)} responses")
    keys = [prompt_key(p, reference=None if references is None else references[i])
            for i, p in enumerate(prompts)]
    if groups is None:
        groups = group_indices(keys)
    requests = []
    for number, members in enumerate(groups):
        first = members[0]
        others = [i for i in members if keys[i] != keys[first]]
        if others:
            raise ValueError(
                f"group {number} (items {list(members)}) mixes prompts: item {others[0]} has "
                f"another prompt or reference than item {first}; the trainer's group layout "
                "and num_generations/uid disagree")
        text = principle if references is None else reference_template.format(
            principle=principle, reference=references[first])
        requests.append({"principle": text, "prompt": prompts[first],
                         "responses": {str(k): responses[i] for k, i in enumerate(members)}})
    return [list(g) for g in groups], requests


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
                 responses: Sequence[str], *, groups: Sequence[Sequence[int]] | None = None,
                 references: Sequence[Any] | None = None, reward: JudgeReward = "score",
                 reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                 ) -> tuple[list[float | None], list[Judgement]]:
    """Judge each group's responses together; one reward (or None) per response.

    ``groups`` None groups by prompt identity; else the trainer's groups (see the module
    docstring). All groups go to the judge in one ``judge_many`` call. Returns the rewards in
    input order (None where the group's verdict was invalid) and the verdicts in group order.
    """
    groups, requests = group_requests(principle, prompts, responses, groups=groups,
                                      references=references,
                                      reference_template=reference_template)
    verdicts = judge.judge_many(requests)
    return scatter_rewards(groups, verdicts, len(prompts), reward=reward), list(verdicts)


def standardize(values: Sequence[float], groups: Sequence[Sequence[int]], *,
                eps: float = 1e-4) -> list[float]:
    """Each group's values as (value - group mean) / (group std + ``eps``) (the population std,
    as GRPO computes its advantages); a group of one, or of equal values, becomes 0s."""
    import numpy as np

    out = np.zeros(len(values))
    array = np.asarray(values, dtype=np.float64)
    for members in groups:
        index = np.asarray(members, dtype=np.int64)
        group = array[index]
        out[index] = (group - group.mean()) / (group.std() + eps)
    return out.tolist()
