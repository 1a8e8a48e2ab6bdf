"""The judging stage: every judge ranks every candidate list.

A judge is any :class:`~rewardmine.protocols.ListJudge` (``judge_many(requests) ->
list[Judgement]`` in request order; a request is ``{"principle", "prompt", "responses"}``): a
PrincipleJudge, a scorer such as the endogenous reward wrapped by
:class:`~rewardmine.protocols.ScorerJudge` (the principle as its system prompt), or a panel. The
command line builds them from judge specs (:mod:`rewardmine.specs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardmine.buildbench.tasks import pending
from rewardmine.errors import ContextLengthError
from rewardmine.io import JsonlAppender, chunks
from rewardmine.protocols import ListJudge
from rewardmine.types import Judgement


def judge_stage(candidates: Sequence[dict[str, Any]], judges: Mapping[str, ListJudge],
                output: str | Path, *, lists_per_write: int = 16) -> int:
    """Append a judgements row per list not yet in ``output``; returns how many were written.

    A judge that returns the wrong number of judgements is an error; a judgement with
    ``status="invalid"`` is kept as such and left out of the consensus.
    """
    if not judges:
        raise ValueError("no judges given; the consensus needs at least one")
    todo = pending(output, candidates)
    with JsonlAppender(output) as out:
        for block in chunks(todo, lists_per_write):
            requests = [{"principle": row["principle"], "prompt": row["prompt"],
                         "responses": row["responses"]} for row in block]
            verdicts: dict[str, list[Judgement]] = {}
            for name, judge in judges.items():
                try:
                    verdicts[name] = list(judge.judge_many(requests))
                except ContextLengthError as error:  # say which judge and which list
                    if error.index is None or not 0 <= error.index < len(block):
                        raise ContextLengthError(f"judge {name}: {error}", index=error.index,
                                                 length=error.length, limit=error.limit,
                                                 detail=error.detail) from error
                    raise ContextLengthError(
                        f"judge {name}: list {block[error.index]['id']!r} {error.detail}",
                        index=error.index, length=error.length, limit=error.limit,
                        detail=error.detail) from error
                if len(verdicts[name]) != len(requests):
                    raise ValueError(f"judge {name} returned {len(verdicts[name])} judgements "
                                     f"for {len(requests)} requests")
            for i, row in enumerate(block):
                out.write({"id": row["id"],
                           "judgements": {name: v[i].to_dict() for name, v in verdicts.items()}})
    return len(todo)
