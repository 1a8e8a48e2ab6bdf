"""The generation stage: candidate answers to each task from several generators.

A generator is any object with a ``name`` and ``generate(tasks) -> list[list[str]]`` (for each
task, its sample answers). ``TransformersGenerator`` runs a local causal LM;
:class:`rewardmine.buildbench.remote.OpenAIGenerator` asks an OpenAI-compatible endpoint. Answers
from all generators are pooled and given ids ``r1, r2, ...`` in an order shuffled per task
(seeded), so an id says nothing about which model wrote it; ``sources`` keeps that for analysis.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from rewardmine.buildbench.tasks import pending
from rewardmine.chat import TextTokenizer, encode_rendered, normalize_messages
from rewardmine.io import JsonlAppender, chunks
from rewardmine.models import LoadOptions, load_for

Instruction = Literal["follow", "none"]

FOLLOW_SYSTEM = (
    "Answer the user's request. Your answer will be judged by how well it follows this "
    "principle, so follow it closely:\n{principle}"
)


def task_messages(task: dict[str, Any], instruction: Instruction) -> list[dict[str, str]]:
    """The chat messages a generator answers: the task's prompt, with the principle in a system
    prompt when ``instruction`` is "follow"."""
    system = FOLLOW_SYSTEM.format(principle=task["principle"])
    return [dict(m) for m in normalize_messages(
        task["prompt"], system=system if instruction == "follow" else None)]


class Generator(Protocol):
    name: str

    def generate(self, tasks: Sequence[dict[str, Any]]) -> list[list[str]]: ...


class TransformersGenerator:
    """Answers from a local transformers causal LM, decoded in batches by the judge's loop
    (:func:`rewardmine.judge.backends.decoding.decode`: a task's samples share their prompt's
    prefill).

    Args:
        model, tokenizer: a causal LM and its tokenizer (with a chat template).
        name: how the run's files name this generator.
        instruction: "follow" puts the principle in a system prompt; "none" leaves it out, for a
            deliberately varied mix of answers that ignore it.
        samples: answers per task.
        temperature: 0 is greedy decoding; above 0 samples from a generator seeded per batch by
            ``seed``; torch's global generators are never used.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "name", "instruction", "samples", "max_new_tokens", "min_new_tokens", "temperature",
        "seed", "batch_size"})

    def __init__(self, model: Any, tokenizer: Any, *, name: str,
                 instruction: Instruction = "follow", samples: int = 1,
                 max_new_tokens: int = 512, min_new_tokens: int = 1, temperature: float = 0.0,
                 seed: int = 0, batch_size: int = 8) -> None:
        if samples > 1 and temperature == 0:
            raise ValueError(f"generator {name}: samples={samples} with greedy decoding gives "
                             "identical answers; set temperature > 0 or samples=1")
        if instruction not in ("follow", "none"):
            raise ValueError(f"generator {name}: instruction={instruction!r}; use follow or none")
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.instruction, self.samples = instruction, samples
        self.max_new_tokens, self.min_new_tokens = max_new_tokens, min_new_tokens
        self.temperature, self.seed, self.batch_size = temperature, seed, batch_size
        from rewardmine.judge.backends.decoding import stop_ids  # torch and transformers

        pad = tokenizer.pad_token_id
        self._pad = tokenizer.eos_token_id if pad is None else pad
        self._stops = stop_ids(model, tokenizer)
        self._plain_cache: bool | None = None  # probed on first use
        self._texts = TextTokenizer(tokenizer)

    @classmethod
    def from_pretrained(cls, path: str, load: LoadOptions | None = None, *,
                        name: str | None = None, **options: Any) -> TransformersGenerator:
        """Load with :func:`rewardmine.models.load_causal_lm` (``load`` and the
        :class:`~rewardmine.models.LoadOptions` fields among ``options``); the other ``options``
        go to the constructor."""
        gguf_file = options.get("gguf_file") or (load.gguf_file if load else None)
        model, tokenizer, options = load_for(cls, path, load, options)
        source = Path(gguf_file or path)
        default_name = source.stem if source.suffix == ".gguf" else source.name
        return cls(model, tokenizer, name=name or default_name, **options)

    def _render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)

    def _prompt_ids(self, task: dict[str, Any]) -> list[int]:
        """The task's chat as token ids; special-token text inside a message stays text."""
        return list(encode_rendered(self._texts, self._render,
                                    task_messages(task, self.instruction)))

    def generate(self, tasks: Sequence[dict[str, Any]]) -> list[list[str]]:
        from rewardmine.judge.backends.decoding import decode, plain_attention_cache

        if self._plain_cache is None:
            self._plain_cache = plain_attention_cache(self.model, self._pad)
        prompts = [self._prompt_ids(task) for task in tasks for _ in range(self.samples)]
        sample = self.temperature > 0
        answers: list[str] = []
        for block in chunks(prompts, self.batch_size):
            generated = decode(self.model, block, max_new_tokens=self.max_new_tokens,
                               min_new_tokens=self.min_new_tokens, stop_ids=self._stops,
                               pad_id=self._pad, plain_cache=self._plain_cache,
                               seed=self.seed + zlib.crc32(repr(block).encode()),
                               temperature=self.temperature if sample else 0.0)
            answers += [self.tokenizer.decode(tokens, skip_special_tokens=True)
                        for tokens in generated]
        return [answers[i * self.samples:(i + 1) * self.samples] for i in range(len(tasks))]


def generate_stage(tasks: Sequence[dict[str, Any]], generators: Sequence[Generator],
                   output: str | Path, *, seed: int = 0, tasks_per_write: int = 16) -> int:
    """Append a candidates row per task not yet in ``output``; returns how many were written."""
    names = [g.name for g in generators]
    if len(set(names)) != len(names):
        raise ValueError(f"generator names repeat ({names}); give each a distinct name")
    todo = pending(output, tasks)
    with JsonlAppender(output) as out:
        for block in chunks(todo, tasks_per_write):
            answers = [g.generate(block) for g in generators]
            for t, task in enumerate(block):
                pooled = [(f"{g.name}#{k}", text) for g, per_task in zip(generators, answers,
                                                                          strict=True)
                          for k, text in enumerate(per_task[t])]
                rng = np.random.default_rng([seed, zlib.crc32(task["id"].encode())])
                order = rng.permutation(len(pooled))
                responses = {f"r{i + 1}": pooled[j][1] for i, j in enumerate(order)}
                sources = {f"r{i + 1}": pooled[j][0] for i, j in enumerate(order)}
                out.write({**task, "responses": responses, "sources": sources})
    return len(todo)
