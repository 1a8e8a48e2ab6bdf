"""Exceptions rewardmine raises on bad input or bad model output; each message names the item."""

from __future__ import annotations


class RewardmineError(Exception):
    """Base class of every error rewardmine raises on purpose."""


class UsageError(RewardmineError, ValueError):
    """The user asked for something that cannot be done (a bad option, file or row); the CLI
    prints its message as one line, without a traceback."""


class ContextLengthError(RewardmineError, ValueError):
    """An item does not fit the model's context; rewardmine never truncates it silently."""

    def __init__(self, message: str, *, index: int | None = None, length: int | None = None,
                 limit: int | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.length = length
        self.limit = limit


class JudgeOutputError(RewardmineError, ValueError):
    """A judge's output could not be parsed or validated, even after the allowed retries."""
