"""Rows of a scoring file: ``prompt`` plus ``response`` or ``responses``, scored into new rows.

One place says what a row means, so the local ``rewardmine score`` and the Ray engine write the
same output for the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rewardmine.errors import UsageError

ADDED = ("score", "scores", "token_rewards", "skipped")  # the fields an output row adds


def row_responses(row: Mapping[str, Any], where: str) -> tuple[list[str], bool]:
    """The responses of a row, and whether it held a list (``responses``) or one (``response``).

    ``where`` names the row in errors (``in.jsonl:3``).
    """
    if "prompt" not in row:
        raise UsageError(f"{where}: missing 'prompt'")
    if ("response" in row) == ("responses" in row):
        raise UsageError(f"{where}: give exactly one of 'response' or 'responses'")
    if "response" in row:
        texts, many = [row["response"]], False
    else:
        if not isinstance(row["responses"], list) or not row["responses"]:
            raise UsageError(f"{where}: 'responses' must be a non-empty list of strings")
        texts, many = list(row["responses"]), True
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            field = f"'responses'[{i}]" if many else "'response'"
            raise UsageError(f"{where}: {field} is a {type(text).__name__}; responses are "
                             "strings")
    return texts, many


def score_rows(reward: Any, rows: Sequence[Mapping[str, Any]], *, system: str | None = None,
               token_rewards: bool = False, first_number: int = 1) -> list[dict[str, Any]]:
    """Each row with ``score`` (or ``scores``) added, from one ``score_many`` call over them all.

    ``first_number`` is the input row number of ``rows[0]``, for error messages.
    """
    prompts, responses, shapes = [], [], []
    for number, row in enumerate(rows, start=first_number):
        texts, many = row_responses(row, f"input row {number}")
        if token_rewards and many:
            raise UsageError(f"input row {number}: --token-rewards needs one 'response' per row")
        prompts += [row["prompt"]] * len(texts)
        responses += texts
        shapes.append((texts, many))
    scores = iter(reward.score_many(prompts, responses, system=system))
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
