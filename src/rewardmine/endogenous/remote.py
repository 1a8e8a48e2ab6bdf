"""The endogenous reward from a vLLM or SGLang server's prompt log-probabilities.

A server that returns the log-probability of every prompt token (OpenAI ``/v1/completions`` with
``echo`` and ``logprobs``, or vLLM's ``prompt_logprobs`` extension) gives log pi(a_t|s_t) for
each action of a response, but not the soft values V(s_t). With alpha = 1 and terminal "zero"
the response reward telescopes to

    sum_t r_t = log pi(y|x) + V(s_1)

and V(s_1) is a function of the prompt alone. So :class:`RemoteEndogenousReward` returns
``log pi(y|x)``: for the responses of one prompt it differs from the local reward by the same
constant, which leaves their ranking, their pairwise differences and GRPO's group-normalised
advantages exactly as the local reward makes them. ``aggregate="mean"``, the length-normalised
log-likelihood (1/T) log pi(y|x), is the local reward's exactly. What needs V at every position
(token rewards, terminal "value", alpha != 1) is refused.

The prompt goes as token ids, rendered and tokenized here with the model's own tokenizer, so the
server scores exactly the tokens the local reward would. Requests run concurrently (bounded),
one sequence each; the server batches them. Requests go through :mod:`rewardmine.upstream` (one
retry policy and one total deadline; a refusal is not retried, garbage is an
:class:`~rewardmine.upstream.UpstreamError`), and errors name the item.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from rewardmine.chat import ChatEncoder, EncodedPair, Prompt, check_fits
from rewardmine.endogenous.math import Aggregate, check_aggregate
from rewardmine.errors import ContextLengthError, RewardmineError
from rewardmine.inputs import check_parallel
from rewardmine.upstream import (
    RetryPolicy,
    UpstreamError,
    UpstreamRefused,
    first_choice,
    post_json,
)

Protocol = Literal["echo", "prompt_logprobs"]


class RemoteScoringError(RewardmineError):
    """What a log-probability server cannot give (token rewards need V at every position)."""


class RemoteEndogenousReward:
    """The endogenous reward up to a per-prompt constant, from a log-probability server.

    Args:
        base_url: the server's OpenAI-compatible root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model's name (as in ``/v1/models``).
        tokenizer: the served model's tokenizer (its chat template defines the states).
        api_key: sent as a bearer token when given.
        protocol: "echo" (``echo`` + ``logprobs``, served by vLLM and SGLang) or
            "prompt_logprobs" (vLLM's extension).
        include_end_of_turn: score the end-of-turn token as the response's last action.
        aggregate: "sum" (log pi(y|x)) or "mean" (its mean over the response's tokens); the
            scoring calls' ``aggregate=`` overrides it for one call.
        context_limit: tokens an item may have; longer ones raise ContextLengthError before
            any request is sent. None leaves the check to the server.
        concurrency: requests in flight at once.
        retries: extra attempts after a transport failure, 429, 502, 503 or 504.
        timeout_s: seconds one request may take, every attempt and read included.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "api_key", "protocol", "include_end_of_turn", "aggregate", "context_limit",
        "concurrency", "retries", "timeout_s"})

    def __init__(self, base_url: str, model: str, tokenizer: Any, *, api_key: str | None = None,
                 protocol: Protocol = "echo", include_end_of_turn: bool = True,
                 aggregate: Aggregate = "sum",
                 context_limit: int | None = None, concurrency: int = 16, retries: int = 3,
                 timeout_s: float = 300.0) -> None:
        if protocol not in ("echo", "prompt_logprobs"):
            raise ValueError(f"protocol must be 'echo' or 'prompt_logprobs', not {protocol!r}")
        if concurrency < 1 or retries < 0:
            raise ValueError("concurrency must be at least 1 and retries at least 0")
        self.url = base_url.rstrip("/") + "/completions"
        self.model, self.tokenizer, self.api_key = model, tokenizer, api_key
        self.protocol: Protocol = protocol
        check_aggregate(aggregate)
        self.aggregate: Aggregate = aggregate
        self.encoder = ChatEncoder(tokenizer, include_end_of_turn=include_end_of_turn)
        self.context_limit, self.concurrency = context_limit, concurrency
        self.retries, self.timeout_s = retries, timeout_s
        self.policy = RetryPolicy(retries=retries, backoff_s=0.25, deadline_s=timeout_s)
        self._retried = [0]  # how many retries transport failures have cost so far

    @property
    def retried(self) -> int:
        """Retries transport failures have cost so far."""
        return self._retried[0]

    @property
    def max_length(self) -> int | None:
        """The context limit checked before sending (None leaves it to the server)."""
        return self.context_limit

    # ----------------------------------------------------------------------------- public API

    def score(self, prompt: Prompt, responses: Sequence[str], *, system: str | None = None,
              aggregate: Aggregate | None = None) -> list[float]:
        """log pi(response | prompt) for each response, the local reward minus V(s_1) ("sum"),
        or its mean over the response's tokens, the local reward's exactly ("mean")."""
        if isinstance(responses, str) or not isinstance(responses, Sequence):
            raise TypeError("responses must be a list of strings; wrap a single response: [text]")
        return self.score_many([prompt] * len(responses), list(responses), system=system,
                               aggregate=aggregate)

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None, aggregate: Aggregate | None = None) -> list[float]:
        """Parallel lists of prompts and responses, scored in input order."""
        check_parallel(prompts, responses, "prompts", "responses")
        return self._run(self.encoder.encode_many(prompts, responses, system=system), aggregate)

    def score_ids(self, prompt_ids: Sequence[Sequence[int]], action_ids: Sequence[Sequence[int]],
                  *, aggregate: Aggregate | None = None) -> list[float]:
        """log pi of already tokenized actions given their states (no template applied)."""
        check_parallel(prompt_ids, action_ids, "prompt_ids", "action_ids")
        pairs = []
        for i, (state, actions) in enumerate(zip(prompt_ids, action_ids, strict=True)):
            ids = [*state, *actions]
            if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids):
                raise TypeError(f"item {i}: token ids must be non-negative integers")
            if not state:
                raise ValueError(f"item {i}: prompt_ids is empty; the first action needs a state")
            pairs.append(EncodedPair(tuple(state), tuple(actions), "in_context"))
        return self._run(pairs, aggregate)

    def check(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
              system: str | None = None) -> None:
        """Pre-flight: :class:`~rewardmine.errors.ContextLengthError`, naming the item, for the
        first item over ``context_limit``; nothing is sent."""
        for i, pair in enumerate(self.encoder.encode_many(prompts, responses, system=system)):
            check_fits(i, len(pair.prompt_ids), len(pair.action_ids), self.context_limit,
                       where="the server's context")

    def token_rewards(self, *args: Any, **kwargs: Any) -> Any:
        raise RemoteScoringError(
            "token rewards need V(s_t) at every position, which a log-probability server does "
            "not return; use a local EndogenousReward for dense rewards")

    # ------------------------------------------------------------------------------ internals

    def _run(self, pairs: list[EncodedPair], aggregate: Aggregate | None) -> list[float]:
        aggregate = self.aggregate if aggregate is None else aggregate
        check_aggregate(aggregate)
        for i, pair in enumerate(pairs):
            if not pair.action_ids:
                raise ValueError(
                    f"item {i} has no actions (an empty response without an end-of-turn "
                    "token); its local reward would be 0, not log pi + V(s_1), so it cannot be "
                    "ranked against the others from log-probabilities")
            check_fits(i, len(pair.prompt_ids), len(pair.action_ids), self.context_limit,
                       where="the server's context")
        if not pairs:
            return []
        with ThreadPoolExecutor(min(self.concurrency, len(pairs))) as pool:
            sums = list(pool.map(self._score_one, range(len(pairs)), pairs))
        if aggregate == "mean":
            return [total / len(pair.action_ids) for total, pair in zip(sums, pairs, strict=True)]
        return sums

    def _score_one(self, index: int, pair: EncodedPair) -> float:
        ids = [*pair.prompt_ids, *pair.action_ids]
        body: dict[str, Any] = {"model": self.model, "prompt": ids, "max_tokens": 1,
                                "temperature": 0.0}
        if self.protocol == "echo":
            body.update(echo=True, logprobs=1)
        else:
            body.update(prompt_logprobs=0)
        choice = self._post(index, body)
        logprobs = _prompt_logprobs(self.url, choice, ids, self.protocol, index)
        n = len(pair.prompt_ids)
        total = 0.0
        for t in range(n, len(ids)):  # entry t is log p(ids[t] | ids[:t]); entry 0 is null
            value = logprobs[t]
            if not isinstance(value, int | float) or isinstance(value, bool) \
                    or not math.isfinite(value) or value > 1e-6:
                raise UpstreamError(
                    f"item {index}: {self.url} gave {value!r} as the log-probability of "
                    f"position {t}; expected a finite number <= 0", url=self.url)
            total += float(value)
        return total

    def _post(self, index: int, body: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = post_json(self.url, body, api_key=self.api_key, policy=self.policy,
                                rng=random.Random(index), retry_counter=self._retried)
            return first_choice(self.url, payload)
        except UpstreamRefused as error:
            if "context" in str(error).lower():
                raise ContextLengthError(f"item {index}: {error}", index=index) from None
            raise type(error)(f"item {index}: {error}", url=error.url,
                              status=error.status) from None
        except UpstreamError as error:
            raise type(error)(f"item {index}: {error}", url=error.url,
                              status=error.status) from None


def _prompt_logprobs(url: str, choice: dict[str, Any], ids: list[int], protocol: Protocol,
                     index: int) -> list[Any]:
    """The per-position log-probabilities of ``ids`` in a completion choice (entry 0 is null);
    an answer of another shape is an :class:`~rewardmine.upstream.UpstreamError`."""

    def garbage(why: str) -> UpstreamError:
        return UpstreamError(f"item {index}: {url} {why}", url=url)

    if protocol == "echo":
        logprobs = choice.get("logprobs")
        logprobs = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        if not isinstance(logprobs, list) or len(logprobs) < len(ids):
            got = len(logprobs) if isinstance(logprobs, list) else 0
            raise garbage(f"returned {got} log-probabilities for a {len(ids)}-token prompt; it "
                          "must support echo with logprobs (vLLM and SGLang do) or use "
                          "protocol='prompt_logprobs'")
        if logprobs[0] is not None:
            raise garbage("gave a log-probability for the first prompt token, which has no "
                          "state before it; its list is misaligned with the prompt")
        return logprobs[: len(ids)]
    entries = choice.get("prompt_logprobs")
    if not isinstance(entries, list) or len(entries) != len(ids):
        raise garbage("returned no prompt_logprobs of the prompt's length; it must be vLLM "
                      "(or use protocol='echo')")
    out: list[Any] = [None]
    for t in range(1, len(ids)):
        entry = entries[t] if isinstance(entries[t], dict) else {}
        value = entry.get(str(ids[t]))
        out.append(value.get("logprob") if isinstance(value, dict) else None)
    return out
