"""Exceptions rewardmine raises on bad input or bad model output; each message names the item."""

from __future__ import annotations


class RewardmineError(Exception):
    """Base class of every error rewardmine raises on purpose."""


class UsageError(RewardmineError, ValueError):
    """The user asked for something that cannot be done (a bad option, file or row); the CLI
    prints its message as one line, without a traceback."""


class MissingExtraError(RewardmineError, ImportError):
    """A feature needs a module that an install extra brings, and it is not installed; the
    message names the extra (``pip install 'rewardmine[EXTRA]'``)."""


class ContextLengthError(RewardmineError, ValueError):
    """An item does not fit the model's context; rewardmine never truncates it silently.

    ``index`` is the item's position in the call that raised it, ``detail`` what is wrong
    with it without the item's name ("is 900 tokens ... but the model's context is 512; ..."),
    so that a caller that knows the item by another name (a file's line, a request id) says
    ``f"{name} {error.detail}"`` instead of editing the message.
    """

    def __init__(self, message: str, *, index: int | None = None, length: int | None = None,
                 limit: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.length = length
        self.limit = limit
        self.detail = detail if detail is not None else message


class JudgeOutputError(RewardmineError, ValueError):
    """A judge's output could not be parsed or validated, even after the allowed retries."""
