"""The consensus stage: from the judges' verdicts on a list to one verified order and scores.

For each list: the valid judgements become rankings (equal scores are ties); their Kemeny
consensus orders the list; the K-of-M filter keeps the pairs at least K of the M valid judges
agree on and the largest subset of responses ordered by those pairs (ties between equal subsets
broken by the consensus order). ``ranking`` is that subset's order and ``scores`` the win rates
among its responses. A list is kept (``keep``) when it has at least K valid judgements and at
least ``min_responses`` responses survive; otherwise ``reason`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardmine.buildbench.tasks import pending
from rewardmine.consensus import consensus, k_of_m_filter, rankings_from_judgements
from rewardmine.consensus.rankings import restrict
from rewardmine.io import JsonlAppender
from rewardmine.types import Judgement


def agree(candidate: dict[str, Any], judgements: Mapping[str, dict[str, Any]], *, k: int,
          weights: Mapping[str, float] | None = None, min_responses: int = 3) -> dict[str, Any]:
    """The consensus row of one list (see the module docstring)."""
    valid = {name: Judgement(**j) for name, j in judgements.items() if j["status"] != "invalid"}
    row: dict[str, Any] = {**candidate, "judges": list(judgements),
                           "invalid_judges": sorted(set(judgements) - set(valid))}
    if len(valid) < k:
        return {**row, "keep": False, "ranking": [], "scores": {},
                "reason": f"{len(valid)} valid judgements, fewer than k={k}"}
    for name, judgement in valid.items():
        if set(judgement.ranking) != set(candidate["responses"]):
            raise ValueError(f"list {candidate['id']}: judge {name} ranked "
                             f"{judgement.ranking}, not the responses {list(candidate['responses'])}")
    names = list(valid)
    rankings, _ = rankings_from_judgements([valid[n] for n in names])
    weight = None if weights is None else [weights[n] for n in names]
    full = consensus(rankings, weight)
    kept = k_of_m_filter(rankings, k, priority=full.ranking)
    row["consensus"] = full.to_dict()
    row["filter"] = {"k": k, "m": len(valid), **kept.to_dict()}
    row["ranking"] = kept.ranking
    if len(kept.ranking) >= 2:
        subset = set(kept.ranking)
        row["scores"] = consensus([restrict(r, subset) for r in rankings], weight).scores
    else:
        row["scores"] = {x: full.scores[x] for x in kept.ranking}
    if len(kept.ranking) < min_responses:
        return {**row, "keep": False,
                "reason": f"{len(kept.ranking)} responses survive the {k}-of-{len(valid)} "
                          f"filter, fewer than min_responses={min_responses}"}
    return {**row, "keep": True, "reason": None}


def consensus_stage(candidates: Sequence[dict[str, Any]], judged: Sequence[dict[str, Any]],
                    output: str | Path, *, k: int, weights: Mapping[str, float] | None = None,
                    min_responses: int = 3) -> int:
    """Append a consensus row per list not yet in ``output``; returns how many were written."""
    by_id = {row["id"]: row for row in judged}
    missing = [row["id"] for row in candidates if row["id"] not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} lists have no judgements yet (first: {missing[0]}); "
                         "run the judging stage to the end first")
    todo = pending(output, candidates)
    with JsonlAppender(output) as out:
        for row in todo:
            out.write(agree(row, by_id[row["id"]]["judgements"], k=k, weights=weights,
                            min_responses=min_responses))
    return len(todo)
