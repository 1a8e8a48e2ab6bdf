"""Rows of a scoring file: ``prompt`` plus ``response`` or ``responses``, scored into new rows.

One place says what a row means, so the local ``rewardkit score`` and the Ray engine write the
same output for the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def row_responses(row: Mapping[str, Any], number: int) -> tuple[list[str], bool]:
    """The responses of a row, and whether it held a list (``responses``) or one (``response``)."""
    if "prompt" not in row:
        raise ValueError(f"input row {number}: missing 'prompt'")
    if ("response" in row) == ("responses" in row):
        raise ValueError(f"input row {number}: give exactly one of 'response' or 'responses'")
    if "response" in row:
        return [row["response"]], False
    if not isinstance(row["responses"], list) or not row["responses"]:
        raise ValueError(f"input row {number}: 'responses' must be a non-empty list")
    return list(row["responses"]), True


def score_rows(reward: Any, rows: Sequence[Mapping[str, Any]], *, system: str | None = None,
               aggregate: str = "sum", token_rewards: bool = False,
               first_number: int = 1) -> list[dict[str, Any]]:
    """Each row with ``score`` (or ``scores``) added, from one ``score_many`` call over them all.

    ``first_number`` is the input row number of ``rows[0]``, for error messages.
    """
    prompts, responses, shapes = [], [], []
    for number, row in enumerate(rows, start=first_number):
        texts, many = row_responses(row, number)
        if token_rewards and many:
            raise ValueError(f"input row {number}: --token-rewards needs one 'response' per row")
        prompts += [row["prompt"]] * len(texts)
        responses += texts
        shapes.append((texts, many))
    scores = iter(reward.score_many(prompts, responses, system=system, aggregate=aggregate))
    out = []
    for row, (texts, many) in zip(rows, shapes, strict=True):
        result = dict(row)
        if many:
            result["scores"] = [next(scores) for _ in texts]
        else:
            result["score"] = next(scores)
            if token_rewards:
                result["token_rewards"] = reward.token_rewards(
                    row["prompt"], texts[0], system=system).to_dict()
        out.append(result)
    return out
