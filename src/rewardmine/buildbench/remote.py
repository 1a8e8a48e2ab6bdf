"""Candidate answers from an OpenAI-compatible endpoint (vLLM, SGLang, ``transformers serve``,
OpenAI itself), a generator for :func:`rewardmine.buildbench.generate.generate_stage`.

Requests go out on a bounded thread pool (``concurrency`` in flight at most) and the answers come
back in task order. The client retries transient failures itself (``max_retries``); a request
that still fails, or a reply without text, raises an error that names the generator, the task and
the endpoint, so no list is silently left with fewer answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardmine.buildbench.generate import Instruction, task_messages


class GeneratorError(RuntimeError):
    """An endpoint did not answer a task."""


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
        max_retries: the client's retries of a failed request (with backoff).
        timeout: seconds per request.
    """

    def __init__(self, base_url: str, model: str, *, name: str, api_key: str | None = None,
                 instruction: Instruction = "follow", samples: int = 1,
                 temperature: float = 0.0, max_new_tokens: int = 512, seed: int = 0,
                 concurrency: int = 8, max_retries: int = 3, timeout: float = 600.0) -> None:
        try:
            import openai
        except ImportError:
            raise ImportError("OpenAI-compatible generators need the openai client: "
                              "pip install 'rewardmine[judge]'") from None
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
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY",
                                    max_retries=max_retries, timeout=timeout)

    def _answer(self, task: dict[str, Any], sample: int) -> str:
        where = f"generator {self.name} ({self.model} at {self.base_url}), task {task.get('id')!r}"
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=task_messages(task, self.instruction),  # type: ignore[arg-type]
                max_tokens=self.max_new_tokens, temperature=self.temperature,
                seed=self.seed + sample)
        except Exception as error:  # the client's own errors, after its retries
            raise GeneratorError(f"{where}: the request failed: {error}") from error
        text = reply.choices[0].message.content if reply.choices else None
        if text is None:
            raise GeneratorError(f"{where}: the reply holds no text ({reply!r:.300})")
        return text

    def generate(self, tasks: Sequence[dict[str, Any]]) -> list[list[str]]:
        jobs = [(task, k) for task in tasks for k in range(self.samples)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            answers = list(pool.map(lambda job: self._answer(*job), jobs))
        return [answers[i * self.samples:(i + 1) * self.samples] for i in range(len(tasks))]
