"""OpenAI-compatible backend: vLLM, SGLang, OpenAI, ``transformers serve`` and the like.

Requests run concurrently on a bounded thread pool and come back in request order, through
:mod:`rewardmine.upstream` (one retry policy and one total deadline: connection errors, timeouts,
429 and 502-504 are retried with backoff; a request the server refuses is not, and its error
keeps the server's own message). The verdict's JSON schema goes as ``response_format``; a server
that answers such a request with an error (vLLM and SGLang take it; llama-cpp-python answers 500,
``transformers serve`` 422) is asked again without it, and from then on the parser's tolerance
does the work. Servers that return the thinking separately
(``reasoning_content``) get it put back in a ``<think>`` block so the parser sees one text.

Two endpoints. "chat" (``/v1/chat/completions``) sends the messages and the server applies its
chat template; vLLM and SGLang then tokenize the special-token text inside the messages
(``<|im_end|>`` written in a response) as control tokens, so a response can close the judge's
user turn and write a verdict of its own. With the judge's tokenizer known, such requests are
refused. "completions" (``/v1/completions``) renders the chat template here with the judge
model's tokenizer, content kept as text (:func:`rewardmine.chat.encode_rendered`), and sends the
token ids as the ``prompt``, which both servers take as they are: use it for untrusted text.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from rewardmine.chat import Message, TextTokenizer, encode_rendered
from rewardmine.errors import ContextLengthError
from rewardmine.judge.backends.base import Generation, GenerationRequest
from rewardmine.judge.options import GenerationOptions
from rewardmine.upstream import (
    RetryPolicy,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
    first_choice,
    post_json,
)

ResponseFormat = Literal["json_schema", "json_object", "none"]
# what a request asks for next when the server refuses its response_format: json_object with the
# schema (llama-cpp-python's grammar-constrained JSON; servers that take json_object ignore the
# schema), then no format at all
_WEAKER: dict[str, ResponseFormat] = {"json_schema": "json_object", "json_object": "none"}
Endpoint = Literal["chat", "completions"]


class OpenAIBackend:
    """Generates judge replies through an OpenAI-compatible chat or completions endpoint.

    The judge's :class:`~rewardmine.judge.options.GenerationOptions` go with every request:
    ``max_new_tokens`` as ``max_tokens``, ``temperature``, ``top_p``, a per-request ``seed``,
    and ``thinking`` as ``chat_template_kwargs.enable_thinking`` (vLLM, SGLang, transformers;
    with ``endpoint="completions"`` it goes to the local rendering of the template instead).

    Args:
        base_url: the server's API root, e.g. ``http://localhost:8000/v1``.
        model: the model name the server knows.
        api_key: the key, if the server wants one.
        response_format: "json_schema" (the per-request verdict schema), "json_object" (with
            that schema beside it, which llama-cpp-python constrains to) or "none". A server
            that refuses one is asked again with the next, and a refusal that names the field
            keeps the weaker one for later requests.
        concurrency: requests in flight at once.
        max_transport_retries: retries of one request after a connection failure, a timeout,
            429 or 502-504.
        backoff: the first retry's delay in seconds; it doubles each time.
        timeout: seconds one request may take, every attempt and read included.
        tokenizer: the server model's tokenizer (an object, a hub id or a path), with its
            chat template: it counts tokens before sending (with ``context_limit``, overlong
            requests become a ContextLengthError), and with ``endpoint="chat"`` a request whose
            text holds one of its special tokens is refused (see the module docstring).
        context_limit: the server model's context length.
        extra_body: more fields for every request (``chat_template_kwargs`` go to the local
            rendering with ``endpoint="completions"``).
        endpoint: "chat", or "completions": render the prompt here with ``tokenizer``
            (default: ``model`` as a tokenizer id) and send its token ids, so that text in the
            request is never read as control tokens.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "api_key", "response_format", "concurrency", "max_transport_retries", "backoff",
        "timeout", "tokenizer", "context_limit", "extra_body", "endpoint"})

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 response_format: ResponseFormat = "json_schema", concurrency: int = 8,
                 max_transport_retries: int = 4, backoff: float = 0.5, timeout: float = 600.0,
                 tokenizer: Any = None, context_limit: int | None = None,
                 extra_body: dict[str, Any] | None = None, endpoint: Endpoint = "chat") -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(f"unknown response_format {response_format!r}")
        if endpoint not in ("chat", "completions"):
            raise ValueError(f"endpoint must be 'chat' or 'completions', not {endpoint!r}")
        if isinstance(tokenizer, str) or (endpoint == "completions" and tokenizer is None):
            tokenizer = _load_tokenizer(tokenizer or model, endpoint)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.policy = RetryPolicy(retries=max_transport_retries, backoff_s=backoff,
                                  deadline_s=timeout)
        self.model = model
        self.response_format: ResponseFormat = response_format
        self.concurrency = concurrency
        self.batch_size = concurrency
        self.tokenizer = tokenizer
        self.endpoint: Endpoint = endpoint
        self.context_limit = context_limit
        self.extra_body = dict(extra_body or {})
        self._texts = TextTokenizer(tokenizer) if tokenizer is not None else None
        self._lock = threading.Lock()
        self._retries = [0]

    @property
    def transport_retries(self) -> int:
        """Retries transport failures have cost so far."""
        return self._retries[0]

    def required_tokens(self, messages: list[Message], options: GenerationOptions
                        ) -> int | None:
        if self.tokenizer is None:
            return None
        if self.endpoint == "completions":
            return len(self.encode(messages, options)) + options.max_new_tokens
        self._refuse_special_text(messages)
        # what a chat server does: its template, then every special-token string a control token
        return (len(self.tokenizer(self.render(messages, options),
                                   add_special_tokens=False)["input_ids"])
                + options.max_new_tokens)

    def render(self, messages: list[Message], options: GenerationOptions) -> str:
        """The judge model's chat template over ``messages``, with the generation prompt."""
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True,
            **{"enable_thinking": options.thinking,
               **self.extra_body.get("chat_template_kwargs", {})})

    def encode(self, messages: list[Message], options: GenerationOptions) -> list[int]:
        """The prompt token ids the completions endpoint is sent: message content as text."""
        assert self._texts is not None
        return list(encode_rendered(self._texts, lambda ms: self.render(ms, options), messages))

    def generate(self, requests: Sequence[GenerationRequest], *, options: GenerationOptions,
                 seed: int) -> list[Generation]:
        if self.endpoint == "chat":
            for request in requests:
                self._refuse_special_text(request.messages)
        seeds = random.Random(seed)
        jobs = [(k, r, seeds.getrandbits(31)) for k, r in enumerate(requests)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs) or 1)) as pool:
            return list(pool.map(lambda job: self._one(*job, options), jobs))

    def _refuse_special_text(self, messages: list[Message]) -> None:
        """A chat endpoint would read special-token text in content as control tokens."""
        if self._texts is None:
            return
        for i, message in enumerate(messages):
            found = self._texts.matches(message["content"])
            if found:
                raise ValueError(
                    f"message {i} ({message['role']}) holds {found[0].group()!r}, a special "
                    "token of the judge's tokenizer; a chat endpoint tokenizes it as that "
                    "control token, so a response could end the judge's turn and write a "
                    "verdict of its own. Judge through the completions endpoint, which renders "
                    "the prompt here and keeps such text as text: endpoint='completions' (the "
                    "spec openai-completions:MODEL@BASE_URL)")

    def _body(self, request: GenerationRequest, seed: int, options: GenerationOptions,
              response_format: ResponseFormat) -> dict[str, Any]:
        body: dict[str, Any] = dict(model=self.model, max_tokens=options.max_new_tokens,
                                    temperature=options.temperature, seed=seed)
        if options.top_p < 1:
            body["top_p"] = options.top_p
        if response_format == "json_schema" and request.schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "verdict", "schema": request.schema, "strict": True}}
        elif response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
            if request.schema is not None:  # llama-cpp-python constrains to it; vLLM ignores it
                body["response_format"]["schema"] = request.schema
        if self.endpoint == "completions":
            body["prompt"] = self.encode(request.messages, options)
            body.update({k: v for k, v in self.extra_body.items()
                         if k != "chat_template_kwargs"})
        else:
            body["messages"] = request.messages
            body.update({"chat_template_kwargs": {"enable_thinking": options.thinking},
                         **self.extra_body})
        return body

    def _one(self, position: int, request: GenerationRequest, seed: int,
             options: GenerationOptions) -> Generation:
        path = "/completions" if self.endpoint == "completions" else "/chat/completions"
        url = self.base_url + path
        response_format, failures, unsupported = self.response_format, 0, True
        while True:
            body = self._body(request, seed, options, response_format)
            try:
                payload = post_json(url, body, api_key=self.api_key, policy=self.policy,
                                    rng=random.Random(seed), retry_counter=self._retries)
            except UpstreamUnavailable:
                raise
            except UpstreamError as error:
                text = str(error).lower()
                if isinstance(error, UpstreamRefused) and "context" in text and any(
                        w in text for w in ("length", "maximum", "token")):
                    raise ContextLengthError(
                        f"the server says request {position} of the batch is too long: {error}",
                        index=position,
                    ) from None
                if "response_format" in body:  # ask once more with the next weaker format
                    response_format = _WEAKER[response_format]
                    # a refusal, or an error that names the field, says the server does not
                    # take it; any other failure changes the format for this request only
                    failures += 1
                    unsupported = unsupported and (isinstance(error, UpstreamRefused) or any(
                        w in text for w in ("response_format", "json_schema", "schema",
                                            "grammar", "not supported", "unsupported")))
                    continue
                raise
            if failures and unsupported:  # the first format the server took, for good
                with self._lock:
                    self.response_format = response_format  # "none": the parser's tolerance
            return _generation(url, payload)


def _load_tokenizer(name: str, endpoint: Endpoint) -> Any:
    from rewardmine.models import load_tokenizer

    try:
        return load_tokenizer(name)
    except Exception as error:  # a missing path, no network, no such repository
        why = ("the completions endpoint renders the judge's prompt here with the judge model's "
               "tokenizer" if endpoint == "completions" else "tokenizer= names a tokenizer")
        raise ValueError(f"{why}, and {name!r} does not load as one ({error}); pass "
                         "tokenizer= (a path, hub id or tokenizer object)") from None


def _generation(url: str, payload: dict[str, Any]) -> Generation:
    """A chat or completions answer as a Generation; thinking returned apart is put back."""
    choice = first_choice(url, payload)
    message = choice.get("message")
    if isinstance(message, dict):
        text, reasoning = message.get("content"), (message.get("reasoning_content")
                                                   or message.get("reasoning"))
    elif "text" in choice:  # a completions answer
        text, reasoning = choice.get("text"), None
    else:
        raise UpstreamError(f"{url} answered a choice without a message or text: "
                            f"{str(choice)[:200]}", url=url)
    if text is None:
        text = ""
    if not isinstance(text, str) or not isinstance(reasoning, str | None):
        raise UpstreamError(f"{url} answered a reply that is not text: {str(choice)[:200]}",
                            url=url)
    if reasoning and "</think>" not in text:
        text = f"<think>\n{reasoning}\n</think>\n\n{text}"
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return Generation(text, _count(usage.get("prompt_tokens")),
                      _count(usage.get("completion_tokens")))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
