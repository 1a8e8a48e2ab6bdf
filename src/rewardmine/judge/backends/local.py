"""Local transformers backend: one batched decoding loop per batch of judge requests.

Requests are rendered with the tokenizer's chat template (the judge's ``thinking`` option goes in
as ``enable_thinking``, switching a template such as Qwen3's on or off), sorted by length so that
a batch holds similar lengths, and decoded together by
:func:`rewardmine.judge.backends.decoding.decode` (their common prefix prefilled once, finished
rows dropped); replies come back in request order. Sampling draws from a generator seeded by the
judge's seeds, so the caller's global random state is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from rewardmine.chat import Message, TextTokenizer, encode_rendered
from rewardmine.judge.backends.base import Generation, GenerationRequest
from rewardmine.judge.backends.decoding import decode, plain_attention_cache, stop_ids
from rewardmine.judge.options import GenerationOptions
from rewardmine.models import LoadOptions, context_length, load_causal_lm


class TransformersBackend:
    """Generates judge replies with a local transformers causal LM, under the judge's
    :class:`~rewardmine.judge.options.GenerationOptions` (budget, sampling, thinking).

    Args:
        model: a causal LM on its device.
        tokenizer: its tokenizer, with a chat template.
        constrained: constrain the answer after the thinking block to a valid verdict with
            xgrammar (see :mod:`rewardmine.judge.backends.constrained`).
        batch_size: requests decoded together.
        context_limit: tokens a request may use in all; defaults to the model's
            ``max_position_embeddings``.
        chat_template_kwargs: extra variables for the chat template.
        prefill: "auto" (on a CPU each prompt's own tokens run alone after the shared prefix,
            with no padding computed; on an accelerator one left-padded batch), or "serial" or
            "batched" on any device (the suite compares the GPU's batched path on the CPU).
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "constrained", "batch_size", "context_limit", "chat_template_kwargs", "prefill"})

    def __init__(self, model: Any, tokenizer: Any, *, constrained: bool = False,
                 batch_size: int = 8, context_limit: int | None = None,
                 chat_template_kwargs: dict[str, Any] | None = None,
                 prefill: Literal["auto", "serial", "batched"] = "auto") -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template; a judge needs a chat model")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if prefill not in ("auto", "serial", "batched"):
            raise ValueError(f"prefill must be 'auto', 'serial' or 'batched', not {prefill!r}")
        self.prefill = prefill
        self.model = model
        self.tokenizer = tokenizer
        self._texts = TextTokenizer(tokenizer)
        self.constrained = constrained
        self.batch_size = batch_size
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.context_limit = context_limit or context_length(model.config)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
            else tokenizer.eos_token_id
        self.stop_ids = stop_ids(model, tokenizer)
        self._constraint: Any = None
        self._plain_cache: bool | None = None  # probed on first use

    @classmethod
    def load(cls, model: Any, tokenizer: Any = None, load: LoadOptions | None = None,
             **options: Any) -> TransformersBackend:
        """Load from a hub id, folder or GGUF file with :func:`rewardmine.models.load_causal_lm`
        (``load`` and the :class:`~rewardmine.models.LoadOptions` fields among ``options``), or
        wrap an already loaded ``(model, tokenizer)``; the other ``options`` are the
        constructor's."""
        load, options = LoadOptions.split(options, load)
        if isinstance(model, (str, Path)):
            model, loaded = load_causal_lm(model, load)
            tokenizer = tokenizer or loaded
        elif tokenizer is None:
            raise ValueError("pass the tokenizer with a loaded model: from_pretrained(model, tokenizer)")
        return cls(model, tokenizer, **options)

    def render(self, messages: list[Message], options: GenerationOptions) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True,
            enable_thinking=options.thinking, **self.chat_template_kwargs,
        )

    def encode(self, messages: list[Message], options: GenerationOptions) -> list[int]:
        return list(encode_rendered(self._texts, lambda ms: self.render(ms, options), messages))

    def required_tokens(self, messages: list[Message], options: GenerationOptions
                        ) -> int | None:
        return len(self.encode(messages, options)) + options.max_new_tokens

    def generate(self, requests: Sequence[GenerationRequest], *, options: GenerationOptions,
                 seed: int) -> list[Generation]:
        encoded = [self.encode(r.messages, options) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: len(encoded[i]))
        out: list[Generation | None] = [None] * len(requests)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            texts = self._generate([encoded[i] for i in batch], [requests[i] for i in batch],
                                   options, seed=seed + start)
            for i, generation in zip(batch, texts, strict=True):
                out[i] = generation
        return [g for g in out if g is not None]

    def _generate(self, prompts: list[list[int]], requests: list[GenerationRequest],
                  generation: GenerationOptions, *, seed: int) -> list[Generation]:
        if self._plain_cache is None:
            self._plain_cache = plain_attention_cache(self.model, self.pad_id)
        constrain = self._constraint_for(requests, generation) if self.constrained else None
        sampled = generation.temperature > 0
        generated = decode(self.model, prompts, max_new_tokens=generation.max_new_tokens,
                           stop_ids=self.stop_ids, pad_id=self.pad_id,
                           plain_cache=self._plain_cache, seed=seed,
                           temperature=generation.temperature if sampled else 0.0,
                           top_p=generation.top_p if sampled else 1.0, constrain=constrain,
                           serial_prefill=None if self.prefill == "auto"
                           else self.prefill == "serial")
        results = []
        stops = set(self.stop_ids)
        for prompt, row in zip(prompts, generated, strict=True):
            ended = bool(row) and row[-1] in stops
            text = self.tokenizer.decode(row[:-1] if ended else row, skip_special_tokens=True)
            results.append(Generation(text, len(prompt), len(row)))
        return results

    def _constraint_for(self, requests: list[GenerationRequest],
                        generation: GenerationOptions) -> Any:
        from rewardmine.judge.backends.constrained import VerdictConstraint

        schemas = []
        for r in requests:
            if r.schema is None:
                raise ValueError("constrained decoding needs a JSON schema with every request")
            schemas.append(r.schema)
        if self._constraint is None:
            self._constraint = VerdictConstraint.for_tokenizer(self.tokenizer, self.model,
                                                               self.stop_ids)
        return self._constraint.processor(schemas, thinking=generation.thinking,
                                          max_new_tokens=generation.max_new_tokens)
