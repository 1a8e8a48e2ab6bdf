"""One client for the HTTP servers rewardmine calls: OpenAI-compatible servers (vLLM, SGLang,
llama.cpp, llama-cpp-python, ``transformers serve``) and ``rewardmine serve`` itself.

One retry policy and one total deadline for every caller (the judge's OpenAI backend, the
log-probability reward, build-bench's generators, the reward-server client):

- a connection failure, a timeout, 429, 502, 503 and 504 are retried with exponential backoff
  and jitter, within the deadline;
- any other answer the server gives is final: a 4xx is the server refusing this request
  (:class:`UpstreamRefused`, the server's own message kept), a 500 is the server failing on it;
  retrying the same request would only fail again;
- the deadline covers every attempt and every read, so a server that trickles its answer a byte at
  a time cannot outlive it; an answer larger than ``max_response_bytes`` is refused;
- an answer that is not JSON, or not the JSON object asked for, is :class:`UpstreamError`, naming
  the server; nothing upstream surfaces as a raw ``IndexError`` or ``JSONDecodeError``.

The reward server answers :class:`UpstreamUnavailable` with 503 and Retry-After, and every other
:class:`UpstreamError` with 502, naming the upstream.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from rewardmine.errors import RewardmineError

RETRIED_STATUS = frozenset({429, 502, 503, 504})


class UpstreamError(RewardmineError):
    """An upstream server failed, or answered something unusable (the reward server: 502)."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __reduce__(self) -> Any:  # keeps url and status across a worker process's pipe
        return _rebuild, (type(self), str(self), self.url, self.status)


def _rebuild(kind: type[UpstreamError], message: str, url: str, status: int | None
             ) -> UpstreamError:
    return kind(message, url=url, status=status)


class UpstreamRefused(UpstreamError):
    """The upstream server refused the request (HTTP 4xx); the message holds its own words."""


class UpstreamUnavailable(UpstreamError, ConnectionError):
    """The upstream server could not be reached, or stayed overloaded, until the retries or the
    deadline ran out (the reward server: 503 with Retry-After)."""

    retry_after = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request to an upstream server is tried.

    Args:
        retries: attempts after the first, for the failures that are retried.
        backoff_s: the first retry's delay; it doubles each time, times a jitter in [1, 2).
        max_backoff_s: the longest delay between two attempts.
        deadline_s: the whole request, every attempt and read included.
        max_response_bytes: a longer answer is refused.
    """

    retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    deadline_s: float = 600.0
    max_response_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.deadline_s <= 0:
            raise ValueError(f"retries and backoff_s must be >= 0 and deadline_s > 0: {self}")


def server_message(body: bytes) -> str:
    """The error text of an error answer: OpenAI's ``{"error": {"message"}}``, FastAPI's
    ``{"detail"}``, or the body itself, on one line and cut to 500 characters."""
    text = body.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        elif isinstance(error, str):
            text = error
        elif "detail" in value:
            text = value["detail"] if isinstance(value["detail"], str) else json.dumps(
                value["detail"])
        elif "message" in value:
            text = str(value["message"])
    return " ".join(text.split())[:500]


def post_json(url: str, body: Any, *, api_key: str | None = None,
              policy: RetryPolicy = RetryPolicy(), rng: random.Random | None = None,
              retry_counter: list[int] | None = None) -> dict[str, Any]:
    """POST ``body`` as JSON to ``url`` and return the JSON object answered.

    Raises :class:`UpstreamRefused` (4xx), :class:`UpstreamUnavailable` (retries or deadline spent
    on transport failures, 429 or 502-504) or :class:`UpstreamError` (500, a non-JSON or non-object
    answer, one too large). ``rng`` draws the backoff jitter; ``retry_counter[0]`` counts retries.
    """
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    jitter = rng or random.Random(0)
    deadline = time.monotonic() + policy.deadline_s
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        failure = None
        try:
            status, raw = _attempt(url, data, headers, deadline, policy.max_response_bytes)
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets,
            # a connection closed mid-answer, a status line that is not HTTP
            reason = getattr(error, "reason", error)
            failure = f"{type(reason).__name__}: {reason}"
            status, raw = None, b""
        if failure is None and status is not None and status < 400:
            return _object(url, raw)
        if failure is None and status not in RETRIED_STATUS:
            kind = UpstreamRefused if status is not None and status < 500 else UpstreamError
            raise kind(f"{url} answered HTTP {status}: {server_message(raw)}", url=url,
                       status=status)
        if failure is None:
            failure = f"HTTP {status}: {server_message(raw)}"
        delay = min(policy.backoff_s * 2 ** attempt, policy.max_backoff_s) * (1 + jitter.random())
        remaining = deadline - time.monotonic()
        if attempt >= policy.retries or remaining <= delay:
            spent = "its deadline" if remaining <= delay else f"{attempt + 1} attempts"
            raise UpstreamUnavailable(f"{url} did not answer within {spent} ({failure}); is the "
                                      "server up?", url=url, status=status)
        if retry_counter is not None:
            retry_counter[0] += 1
        time.sleep(delay)
        attempt += 1


def _attempt(url: str, data: bytes, headers: dict[str, str], deadline: float,
             limit: int) -> tuple[int, bytes]:
    """One POST; (status, body). Reads in pieces so the deadline holds for a trickling answer."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the deadline passed")
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        response = urllib.request.urlopen(request, timeout=remaining)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        status = response.status if hasattr(response, "status") else response.code
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the answer did not arrive before the deadline")
            chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise UpstreamError(f"{url} answered more than {limit} bytes; refused", url=url,
                                    status=status)
            chunks.append(chunk)
    return status, b"".join(chunks)


def _object(url: str, raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise UpstreamError(f"{url} answered with something that is not JSON: "
                            f"{raw[:200]!r}", url=url) from None
    if not isinstance(value, dict):
        raise UpstreamError(f"{url} answered a JSON {type(value).__name__}, not an object",
                            url=url)
    return value


def first_choice(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The first of an OpenAI-style answer's ``choices``, checked to be an object."""
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamError(f"{url} answered without a choice (no 'choices' list of objects): "
                            f"{json.dumps(payload)[:200]}", url=url)
    return choices[0]
