"""A trained reward model as a scorer: ``AutoModelForSequenceClassification`` with one output.

People compare training-free rewards with trained ones (Skywork-Reward, the RewardBench
leaderboard's sequence classifiers). :class:`ClassifierReward` scores each (prompt, response) as
those models are meant to be used: the conversation, the response as the last assistant turn,
rendered with the model's chat template, and the head's score at the conversation's last token.
Text inside a message stays text (a response holding ``<|im_end|>`` gets no control token), an
item longer than the model's context is refused with the item's index, and padding never decides
which token is read: the score is taken at each row's own last real position.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from rewardmine.chat import Prompt, TextTokenizer, check_fits, encode_rendered, normalize_messages
from rewardmine.models import LoadOptions, context_length, load_for, load_sequence_classifier


class ClassifierReward:
    """The score of a sequence-classification reward model, one per response (higher is better).

    Args:
        model: an ``AutoModelForSequenceClassification`` with ``num_labels == 1``.
        tokenizer: its tokenizer, with a chat template.
        max_tokens_per_batch: tokens (batch x padded length) per forward pass.

    Example:
        >>> rm = ClassifierReward.from_pretrained(
        ...     "Skywork/Skywork-Reward-V2-Llama-3.1-8B")           # doctest: +SKIP
        >>> rm.score_many(["What is 2+2?"] * 2, ["4", "5"])      # doctest: +SKIP
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"max_tokens_per_batch"})

    def __init__(self, model: Any, tokenizer: Any, *, max_tokens_per_batch: int = 8192) -> None:
        labels = getattr(model.config, "num_labels", None)
        if labels != 1:
            raise ValueError(f"a reward model has one output (num_labels=1); this one has {labels}")
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template; a reward model scores a "
                             "rendered conversation")
        if max_tokens_per_batch < 1:
            raise ValueError("max_tokens_per_batch must be at least 1")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.texts = TextTokenizer(tokenizer)
        self.max_length = context_length(model.config)
        self.max_tokens_per_batch = max_tokens_per_batch
        self.device = next(model.parameters()).device
        pad = tokenizer.pad_token_id
        self._pad = pad if pad is not None else (tokenizer.eos_token_id or 0)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, load: LoadOptions | None = None,
                        **options: Any) -> ClassifierReward:
        """Load with :func:`rewardmine.models.load_sequence_classifier` (``load`` and the
        :class:`~rewardmine.models.LoadOptions` fields among ``options``); the other ``options``
        go to the constructor."""
        model, tokenizer, options = load_for(cls, name_or_path, load, options,
                                             loader=load_sequence_classifier)
        return cls(model, tokenizer, **options)

    def encode(self, prompt: Prompt, response: str, *, system: str | None = None
               ) -> tuple[int, ...]:
        """The token ids the model reads for one item: the rendered conversation."""
        if not isinstance(response, str):
            raise TypeError(f"a response must be a string, not {type(response).__name__}")
        messages = [*normalize_messages(prompt, system=system),
                    {"role": "assistant", "content": response}]
        return encode_rendered(self.texts, self._render, messages)

    def check(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
              system: str | None = None) -> None:
        """Pre-flight: :class:`~rewardmine.errors.ContextLengthError` for the first item over the
        model's context; nothing runs on the model."""
        self._encode_all(prompts, responses, system)

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        """One score per (prompt, response), in input order; ``system`` is prepended as a system
        message."""
        encoded = self._encode_all(prompts, responses, system)
        scores: list[float] = [0.0] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        start = 0
        while start < len(order):
            stop = start + 1  # grow the batch while the padded size stays in the budget
            while stop < len(order) and (stop + 1 - start) * len(encoded[order[stop]]) \
                    <= self.max_tokens_per_batch:
                stop += 1
            batch = order[start:stop]
            for i, value in zip(batch, self._forward([encoded[i] for i in batch]), strict=True):
                scores[i] = value
            start = stop
        return scores

    def score(self, prompt: Prompt, responses: Sequence[str], *,
              system: str | None = None) -> list[float]:
        """One score per response to ``prompt``."""
        if isinstance(responses, str):
            raise TypeError("responses must be a list of strings; wrap a single response: [text]")
        return self.score_many([prompt] * len(responses), list(responses), system=system)

    # ------------------------------------------------------------------------------ internals

    def _render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False)

    def _encode_all(self, prompts: Sequence[Prompt], responses: Sequence[str],
                    system: str | None) -> list[tuple[int, ...]]:
        if isinstance(responses, str) or len(prompts) != len(responses):
            raise ValueError("prompts and responses must be parallel lists")
        out = []
        for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
            try:
                ids = self.encode(prompt, response, system=system)
            except (TypeError, ValueError) as error:
                raise type(error)(f"item {i}: {error}") from None
            check_fits(i, 0, len(ids), self.max_length)  # the conversation, read whole
            out.append(ids)
        return out

    @torch.inference_mode()
    def _forward(self, rows: list[tuple[int, ...]]) -> list[float]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, row in enumerate(rows):  # right padding; the score is read at each row's end
            ids[k, :len(row)] = torch.tensor(row)
            mask[k, :len(row)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        head = getattr(self.model, "score", None)
        body = getattr(self.model, getattr(self.model, "base_model_prefix", ""), None)
        last = torch.tensor([len(r) - 1 for r in rows], device=self.device)
        if head is not None and body is not None:
            hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
            picked = hidden[torch.arange(len(rows), device=self.device), last]
            return [float(v) for v in head(picked)[:, 0].float()]
        # another head layout: one row at a time, unpadded, through the model's own forward
        return [float(self.model(input_ids=ids[k:k + 1, :len(r)]).logits[0, 0])
                for k, r in enumerate(rows)]
