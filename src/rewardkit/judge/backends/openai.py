"""OpenAI-compatible backend: vLLM, SGLang, OpenAI, ``transformers serve`` and the like.

Requests run concurrently on a bounded thread pool and come back in request order. Transport
failures (connection errors, timeouts, 429 and 5xx) are retried with exponential backoff and
jitter from the backend's own generator. The verdict's JSON schema goes as ``response_format``;
a server that rejects the field (HTTP 400 naming it) is asked again without it, and from then on
the parser's tolerance does the work. Servers that return the thinking separately
(``reasoning_content``) get it put back in a ``<think>`` block so the parser sees one text.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from rewardkit.chat import Message
from rewardkit.errors import ContextLengthError
from rewardkit.judge.backends.base import Generation, GenerationRequest
from rewardkit.judge.options import GenerationOptions

ResponseFormat = Literal["json_schema", "json_object", "none"]


class OpenAIBackend:
    """Generates judge replies through an OpenAI-compatible chat completions endpoint.

    The judge's :class:`~rewardkit.judge.options.GenerationOptions` go with every request:
    ``max_new_tokens`` as ``max_tokens``, ``temperature``, ``top_p``, a per-request ``seed``,
    and ``thinking`` as ``chat_template_kwargs.enable_thinking`` (vLLM, SGLang, transformers).

    Args:
        base_url: the server's API root, e.g. ``http://localhost:8000/v1``.
        model: the model name the server knows.
        api_key: the key, if the server wants one.
        response_format: "json_schema" (the per-request verdict schema), "json_object" or "none".
        concurrency: requests in flight at once.
        max_transport_retries: retries of one request after a transport failure.
        backoff: the first retry's delay in seconds; it doubles each time.
        timeout: seconds per request.
        tokenizer: a tokenizer with the server model's chat template, to count tokens before
            sending; with ``context_limit`` it turns overlong requests into a ContextLengthError.
        context_limit: the server model's context length.
        extra_body: more fields for every request.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 response_format: ResponseFormat = "json_schema", concurrency: int = 8,
                 max_transport_retries: int = 4, backoff: float = 0.5, timeout: float = 600.0,
                 tokenizer: Any = None, context_limit: int | None = None,
                 extra_body: dict[str, Any] | None = None) -> None:
        try:
            import openai
        except ImportError:
            raise ImportError("the OpenAI backend needs the openai client: "
                              "pip install 'rewardkit[judge]'") from None
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(f"unknown response_format {response_format!r}")
        self.openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY",
                                    max_retries=0, timeout=timeout)
        self.model = model
        self.response_format: ResponseFormat = response_format
        self.concurrency = concurrency
        self.batch_size = concurrency
        self.max_transport_retries = max_transport_retries
        self.backoff = backoff
        self.tokenizer = tokenizer
        self.context_limit = context_limit
        self.extra_body = dict(extra_body or {})
        self._lock = threading.Lock()
        self.transport_retries = 0  # how many retries transport failures have cost so far

    def required_tokens(self, messages: list[Message], options: GenerationOptions
                        ) -> int | None:
        if self.tokenizer is None:
            return None
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True,
            enable_thinking=options.thinking,
        )
        return (len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
                + options.max_new_tokens)

    def generate(self, requests: Sequence[GenerationRequest], *, options: GenerationOptions,
                 seed: int) -> list[Generation]:
        seeds = random.Random(seed)
        jobs = [(k, r, seeds.getrandbits(31)) for k, r in enumerate(requests)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs) or 1)) as pool:
            return list(pool.map(lambda job: self._one(*job, options), jobs))

    def _body(self, request: GenerationRequest, seed: int,
              options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = dict(
            model=self.model, messages=request.messages, max_tokens=options.max_new_tokens,
            temperature=options.temperature, seed=seed,
        )
        if options.top_p < 1:
            body["top_p"] = options.top_p
        extra = {"chat_template_kwargs": {"enable_thinking": options.thinking},
                 **self.extra_body}
        if self.response_format == "json_schema" and request.schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "verdict", "schema": request.schema, "strict": True}}
        elif self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        body["extra_body"] = extra
        return body

    def _one(self, position: int, request: GenerationRequest, seed: int,
             options: GenerationOptions) -> Generation:
        jitter = random.Random(seed)
        attempt = 0
        while True:
            body = self._body(request, seed, options)
            try:
                reply = self.client.chat.completions.create(**body)
            except self.openai.BadRequestError as error:
                text = str(error).lower()
                if "response_format" in body and ("response_format" in text or "json" in text):
                    with self._lock:
                        self.response_format = "none"  # the server does not take it; parse instead
                    continue
                if "context" in text and ("length" in text or "maximum" in text):
                    raise ContextLengthError(
                        f"the server says request {position} of the batch is too long: {error}",
                        index=position,
                    ) from None
                raise
            except (self.openai.APIConnectionError, self.openai.APITimeoutError,
                    self.openai.RateLimitError, self.openai.InternalServerError) as error:
                if attempt >= self.max_transport_retries:
                    raise ConnectionError(
                        f"request {position} of the batch failed {attempt + 1} times "
                        f"({type(error).__name__}: {error}); is the server at "
                        f"{self.client.base_url} up?"
                    ) from error
                with self._lock:
                    self.transport_retries += 1
                time.sleep(self.backoff * 2 ** attempt * (1 + jitter.random()))
                attempt += 1
                continue
            return _generation(reply)


def _generation(reply: Any) -> Generation:
    message = reply.choices[0].message
    text = message.content or ""
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    if reasoning and "</think>" not in text:
        text = f"<think>\n{reasoning}\n</think>\n\n{text}"
    usage = getattr(reply, "usage", None)
    return Generation(text, getattr(usage, "prompt_tokens", None),
                      getattr(usage, "completion_tokens", None))
