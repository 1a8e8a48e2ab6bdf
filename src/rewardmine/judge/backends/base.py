"""What the judge needs from a model: generate a reply to each of many chats, and measure them.

A backend turns a batch of chat conversations into texts, under the judge's
:class:`~rewardmine.judge.options.GenerationOptions` (given with every call). The judge does
everything else (masking, parsing, retries, aggregation), so a new backend is a page of code and
every backend gets the same validation. A request may carry a JSON schema built from its ids;
backends that can constrain decoding use it, the others ignore it and the parser validates as
usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from rewardmine.chat import Message
from rewardmine.judge.options import GenerationOptions


@dataclass(frozen=True)
class GenerationRequest:
    """One chat to answer; ``schema`` is the JSON schema its answer must follow (or None)."""

    messages: list[Message]
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Generation:
    """A reply and what it cost: tokens read and tokens generated (None where unknown)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@runtime_checkable
class Backend(Protocol):
    """A model the judge can call.

    ``context_limit`` is the number of tokens a request (prompt plus the generation budget) may
    use, or None when unknown; ``required_tokens`` says how many one needs under ``options``
    (None when the backend cannot count). ``generate`` answers every request, in order, honouring
    ``options`` (budget, sampling, thinking) and drawing any randomness from ``seed``.
    """

    context_limit: int | None

    def required_tokens(self, messages: list[Message], options: GenerationOptions
                        ) -> int | None: ...

    def generate(self, requests: Sequence[GenerationRequest], *, options: GenerationOptions,
                 seed: int) -> list[Generation]: ...


class FunctionBackend:
    """A backend made of a Python function ``messages -> text``, called once per request.

    For wrapping a client rewardmine has no backend for, and for tests that need scripted replies.
    The function decides how it generates; ``options`` are not passed to it.
    """

    context_limit: int | None = None

    def __init__(self, fn: Callable[[list[Message]], str]) -> None:
        self.fn = fn

    def required_tokens(self, messages: list[Message], options: GenerationOptions
                        ) -> int | None:
        return None

    def generate(self, requests: Sequence[GenerationRequest], *, options: GenerationOptions,
                 seed: int) -> list[Generation]:
        out = []
        for request in requests:
            text = self.fn(request.messages)
            if not isinstance(text, str):
                raise TypeError(f"the judge function returned a {type(text).__name__}, not a str")
            out.append(Generation(text))
        return out
