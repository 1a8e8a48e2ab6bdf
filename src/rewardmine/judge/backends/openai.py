"""OpenAI-compatible backend: vLLM, SGLang, OpenAI, ``transformers serve`` and the like.

Requests run concurrently on a bounded thread pool and come back in request order. Transport
failures (connection errors, timeouts, 429 and 5xx) are retried with exponential backoff and
jitter from the backend's own generator. The verdict's JSON schema goes as ``response_format``;
a server that rejects the field (HTTP 400 naming it) is asked again without it, and from then on
the parser's tolerance does the work. Servers that return the thinking separately
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
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from rewardmine.chat import Message, TextTokenizer, encode_rendered
from rewardmine.errors import ContextLengthError
from rewardmine.judge.backends.base import Generation, GenerationRequest
from rewardmine.judge.options import GenerationOptions

ResponseFormat = Literal["json_schema", "json_object", "none"]
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
        response_format: "json_schema" (the per-request verdict schema), "json_object" or "none".
        concurrency: requests in flight at once.
        max_transport_retries: retries of one request after a transport failure.
        backoff: the first retry's delay in seconds; it doubles each time.
        timeout: seconds per request.
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

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 response_format: ResponseFormat = "json_schema", concurrency: int = 8,
                 max_transport_retries: int = 4, backoff: float = 0.5, timeout: float = 600.0,
                 tokenizer: Any = None, context_limit: int | None = None,
                 extra_body: dict[str, Any] | None = None, endpoint: Endpoint = "chat") -> None:
        try:
            import openai
        except ImportError:
            raise ImportError("the OpenAI backend needs the openai client: "
                              "pip install 'rewardmine[judge]'") from None
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(f"unknown response_format {response_format!r}")
        if endpoint not in ("chat", "completions"):
            raise ValueError(f"endpoint must be 'chat' or 'completions', not {endpoint!r}")
        if isinstance(tokenizer, str) or (endpoint == "completions" and tokenizer is None):
            tokenizer = _load_tokenizer(tokenizer or model, endpoint)
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
        self.endpoint: Endpoint = endpoint
        self.context_limit = context_limit
        self.extra_body = dict(extra_body or {})
        self._texts = TextTokenizer(tokenizer) if tokenizer is not None else None
        self._lock = threading.Lock()
        self.transport_retries = 0  # how many retries transport failures have cost so far

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

    def _body(self, request: GenerationRequest, seed: int,
              options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = dict(model=self.model, max_tokens=options.max_new_tokens,
                                    temperature=options.temperature, seed=seed)
        if options.top_p < 1:
            body["top_p"] = options.top_p
        if self.response_format == "json_schema" and request.schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "verdict", "schema": request.schema, "strict": True}}
        elif self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        if self.endpoint == "completions":
            body["prompt"] = self.encode(request.messages, options)
            extra = {k: v for k, v in self.extra_body.items() if k != "chat_template_kwargs"}
            if "response_format" in body:  # not a field of the client's completions call
                extra["response_format"] = body.pop("response_format")
        else:
            body["messages"] = request.messages
            extra = {"chat_template_kwargs": {"enable_thinking": options.thinking},
                     **self.extra_body}
        body["extra_body"] = extra
        return body

    def _one(self, position: int, request: GenerationRequest, seed: int,
             options: GenerationOptions) -> Generation:
        jitter = random.Random(seed)
        attempt = 0
        while True:
            body = self._body(request, seed, options)
            formatted = "response_format" in body or "response_format" in body["extra_body"]
            try:
                if self.endpoint == "completions":
                    reply = self.client.completions.create(**body)
                else:
                    reply = self.client.chat.completions.create(**body)
            except self.openai.BadRequestError as error:
                text = str(error).lower()
                if formatted and ("response_format" in text or "json" in text):
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


def _load_tokenizer(name: str, endpoint: Endpoint) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except Exception as error:  # a missing path, no network, no such repository
        why = ("the completions endpoint renders the judge's prompt here with the judge model's "
               "tokenizer" if endpoint == "completions" else "tokenizer= names a tokenizer")
        raise ValueError(f"{why}, and {name!r} does not load as one ({error}); pass "
                         "tokenizer= (a path, hub id or tokenizer object)") from None


def _generation(reply: Any) -> Generation:
    choice = reply.choices[0]
    message = getattr(choice, "message", None)
    if message is None:  # a completions reply
        text, reasoning = choice.text or "", None
    else:
        text = message.content or ""
        reasoning = (getattr(message, "reasoning_content", None)
                     or getattr(message, "reasoning", None))
    if reasoning and "</think>" not in text:
        text = f"<think>\n{reasoning}\n</think>\n\n{text}"
    usage = getattr(reply, "usage", None)
    return Generation(text, getattr(usage, "prompt_tokens", None),
                      getattr(usage, "completion_tokens", None))
