"""Exceptions rewardkit raises on bad input or bad model output; each message names the item."""

from __future__ import annotations


class RewardkitError(Exception):
    """Base class of every error rewardkit raises on purpose."""


class UsageError(RewardkitError, ValueError):
    """The user asked for something that cannot be done (a bad option, file or row); the CLI
    prints its message as one line, without a traceback."""


class ContextLengthError(RewardkitError, ValueError):
    """An item does not fit the model's context; rewardkit never truncates it silently."""

    def __init__(self, message: str, *, index: int | None = None, length: int | None = None,
                 limit: int | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.length = length
        self.limit = limit


class JudgeOutputError(RewardkitError, ValueError):
    """A judge's output could not be parsed or validated, even after the allowed retries."""
