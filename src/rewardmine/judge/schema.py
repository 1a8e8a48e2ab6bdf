"""The JSON schema of a valid verdict over a given set of ids, for constrained decoding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rewardmine.judge.parse import RANKING_KEY


def verdict_schema(ids: Sequence[str], scale: tuple[int, int] = (1, 5)) -> dict[str, Any]:
    """``{"scores": {id: int in scale} for every id, "best-to-worst": [exactly len(ids) ids]}``.

    JSON schema cannot say "a permutation that agrees with the scores"; the local constrained
    decoder enforces that on top (see :mod:`rewardmine.judge.backends.constrained`), and the parser
    checks it for every backend.
    """
    low, high = scale
    ids = list(ids)
    return {
        "type": "object",
        "properties": {
            "scores": {
                "type": "object",
                "properties": {i: {"type": "integer", "minimum": low, "maximum": high} for i in ids},
                "required": ids,
                "additionalProperties": False,
            },
            RANKING_KEY: {
                "type": "array",
                "items": {"type": "string", "enum": ids},
                "minItems": len(ids),
                "maxItems": len(ids),
                "uniqueItems": True,
            },
        },
        "required": ["scores", RANKING_KEY],
        "additionalProperties": False,
    }
