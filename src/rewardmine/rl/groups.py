"""GRPO groups as the trainer laid them out, judged one request per group.

Trainers know their groups: TRL puts the ``num_generations`` completions of one prompt next to
each other, verl tags each with the ``uid`` of its prompt. Grouping by prompt text instead would
merge two groups that drew the same prompt (the judge would then rank 2G responses while the
trainer normalises per G). These helpers take the trainer's groups as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardmine.chat import prompt_key
from rewardmine.grouping import DEFAULT_REFERENCE_TEMPLATE, group_indices, scatter_rewards
from rewardmine.protocols import JudgeReward, ListJudge
from rewardmine.types import Judgement


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


def requests_for_groups(principle: str, prompts: Sequence[Any], responses: Sequence[str],
                        groups: Sequence[Sequence[int]], *,
                        references: Sequence[Any] | None = None,
                        reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                        ) -> list[dict[str, Any]]:
    """One judge request per given group; every member of a group must share its prompt."""
    if len(prompts) != len(responses):
        raise ValueError(f"got {len(prompts)} prompts but {len(responses)} responses")
    if references is not None and len(references) != len(prompts):
        raise ValueError(f"got {len(references)} references for {len(prompts)} responses")
    keys = [prompt_key(p, reference=None if references is None else references[i])
            for i, p in enumerate(prompts)]
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
    return requests


def judge_in_groups(judge: ListJudge, principle: str, prompts: Sequence[Any],
                    responses: Sequence[str], groups: Sequence[Sequence[int]], *,
                    references: Sequence[Any] | None = None, reward: JudgeReward = "score",
                    reference_template: str = DEFAULT_REFERENCE_TEMPLATE,
                    ) -> tuple[list[float | None], list[Judgement]]:
    """Judge each given group in one ``judge_many`` call; rewards in input order (None where a
    group's verdict is invalid) and the verdicts in group order."""
    requests = requests_for_groups(principle, prompts, responses, groups, references=references,
                                   reference_template=reference_template)
    verdicts = list(judge.judge_many(requests))
    return scatter_rewards([list(g) for g in groups], verdicts, len(prompts),
                           reward=reward), verdicts
