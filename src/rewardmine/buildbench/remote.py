"""Candidate answers from an OpenAI-compatible endpoint (vLLM, SGLang, ``transformers serve``,
OpenAI itself), a generator for :func:`rewardmine.buildbench.generate.generate_stage`.

Requests go out on a bounded thread pool (``concurrency`` in flight at most) and the answers come
back in task order, through :mod:`rewardmine.upstream` (transient failures retried ``max_retries``
times within one total deadline; a refusal is not retried); a request that still fails, or a
reply without text, raises an error that names the generator, the task and the endpoint, so no
list is silently left with fewer answers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardmine.buildbench.generate import Instruction, task_messages
from rewardmine.errors import RewardmineError
from rewardmine.upstream import RetryPolicy, UpstreamError, first_choice, post_json


class GeneratorError(RewardmineError, RuntimeError):
    """An endpoint did not answer a task (a user-facing error: the CLI prints it as one line)."""


class OpenAIGenerator:
    """Answers from a chat model behind an OpenAI-compatible ``/v1/chat/completions``.

    Args:
        base_url: the endpoint, e.g. ``http://localhost:8000/v1``.
        model: the model name the server knows.
        name: how the run's files name this generator.
        api_key: the key, if the server needs one.
        instruction: "follow" puts the principle in a system prompt; "none" leaves it out.
        samples: answers per task, one request each (sample ``k`` is sent ``seed=seed + k``, which
            servers that honour seeds use to vary and reproduce the answer).
        temperature: 0 asks for greedy decoding.
        max_new_tokens: sent as ``max_tokens``.
        concurrency: requests in flight at once.
        max_retries: retries of a request after a transport failure, 429 or 502-504.
        timeout: seconds one request may take, every attempt and read included.
    """

    def __init__(self, base_url: str, model: str, *, name: str, api_key: str | None = None,
                 instruction: Instruction = "follow", samples: int = 1,
                 temperature: float = 0.0, max_new_tokens: int = 512, seed: int = 0,
                 concurrency: int = 8, max_retries: int = 3, timeout: float = 600.0) -> None:
        if samples > 1 and temperature == 0:
            raise ValueError(f"generator {name}: samples={samples} with greedy decoding gives "
                             "identical answers; set temperature > 0 or samples=1")
        if instruction not in ("follow", "none"):
            raise ValueError(f"generator {name}: instruction={instruction!r}; use follow or none")
        if concurrency < 1:
            raise ValueError(f"generator {name}: concurrency must be at least 1, got {concurrency}")
        self.name, self.model, self.base_url = name, model, base_url
        self.instruction, self.samples = instruction, samples
        self.temperature, self.max_new_tokens, self.seed = temperature, max_new_tokens, seed
        self.concurrency = concurrency
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.policy = RetryPolicy(retries=max_retries, deadline_s=timeout)

    def _answer(self, task: dict[str, Any], sample: int) -> str:
        where = f"generator {self.name} ({self.model} at {self.base_url}), task {task.get('id')!r}"
        body = {"model": self.model, "messages": task_messages(task, self.instruction),
                "max_tokens": self.max_new_tokens, "temperature": self.temperature,
                "seed": self.seed + sample}
        try:
            reply = post_json(self.url, body, api_key=self.api_key, policy=self.policy,
                              rng=random.Random(self.seed + sample))
            message = first_choice(self.url, reply).get("message")
        except UpstreamError as error:  # after the retries
            raise GeneratorError(f"{where}: the request failed: {error}") from error
        text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str):
            raise GeneratorError(f"{where}: the reply holds no text ({str(reply)[:300]})")
        return text

    def generate(self, tasks: Sequence[dict[str, Any]]) -> list[list[str]]:
        jobs = [(task, k) for task in tasks for k in range(self.samples)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(lambda job: self._answer(*job), jobs))
        return [answers[i * self.samples:(i + 1) * self.samples] for i in range(len(tasks))]
