"""Constrained decoding of a verdict with xgrammar, after the thinking block.

While the model thinks, nothing is constrained. Once ``</think>`` has been generated (or from the
first token when thinking is off), an xgrammar matcher compiled from the request's JSON schema
(:func:`rewardmine.judge.schema.verdict_schema`: every id scored once with an integer in range, a
ranking of exactly N ids) masks the logits at every step. JSON schema cannot say that the ranking
is a permutation that agrees with the scores, so inside the ranking array a second filter keeps
only tokens that continue an id not yet ranked whose score is the highest among those left.
If thinking runs long, ``</think>`` is forced early enough to leave room for the answer. The
result parses as status "ok" even from a randomly initialised model.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import torch

from rewardmine.judge.parse import RANKING_KEY

THINK_END = "</think>"
_RANKING_OPEN = f'"{RANKING_KEY}": ['


def answer_budget(n: int) -> int:
    """Tokens that always suffice for the compact verdict over n ids (one token per character)."""
    return 48 + 32 * n


class VerdictConstraint:
    """Compiles verdict grammars for one tokenizer and makes logits processors for batches."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: list[int]) -> None:
        from rewardmine.optional import require_extra

        self.xgr = xgr = require_extra("xgrammar", extra="judge", needed_for="constrained decoding")
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.stop_ids = stop_ids
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                  stop_token_ids=stop_ids)
        self.compiler = xgr.GrammarCompiler(info)
        self._texts: list[str] | None = None
        self._cache: dict[str, Any] = {}
        self.think_end_ids = tokenizer("\n" + THINK_END + "\n\n", add_special_tokens=False)["input_ids"]

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, model: Any, stop_ids: list[int]) -> VerdictConstraint:
        config = getattr(model.config, "text_config", None) or model.config
        return cls(tokenizer, max(config.vocab_size, len(tokenizer)), stop_ids)

    def token_texts(self) -> list[str]:
        if self._texts is None:
            self._texts = [self.tokenizer.decode([i]) for i in range(len(self.tokenizer))]
        return self._texts

    def grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._cache:
            self._cache[key] = self.compiler.compile_json_schema(schema, any_whitespace=False)
        return self._cache[key]

    def processor(self, schemas: list[dict[str, Any]], *, thinking: bool,
                  max_new_tokens: int) -> _Processor:
        return _Processor(self, schemas, thinking, max_new_tokens)


class _Row:
    """The decoding state of one sequence in the batch."""

    def __init__(self, ids: list[str], matcher: Any, active: bool, think_deadline: int) -> None:
        self.ids = ids
        self.matcher = matcher
        self.active = active
        self.text = ""  # the tail of the thinking text, where </think> is looked for
        self.answer = ""  # generated text after activation
        self.forced: list[int] = []
        self.think_deadline = think_deadline
        self.broken = False


class _Processor:
    """The constraint of one batch, in the form :func:`rewardmine.judge.backends.decoding.decode`
    takes (``__call__(rows, new, scores) -> scores``)."""

    def __init__(self, owner: VerdictConstraint, schemas: list[dict[str, Any]],
                 thinking: bool, max_new_tokens: int) -> None:
        self.owner = owner
        self.rows = []
        self.consumed = 0  # decoding steps so far: the tokens every row still going has made
        for schema in schemas:
            ids = list(schema["properties"]["scores"]["required"])
            matcher = owner.xgr.GrammarMatcher(owner.grammar(schema))
            deadline = max_new_tokens - answer_budget(len(ids)) - len(owner.think_end_ids)
            self.rows.append(_Row(ids, matcher, not thinking, max(deadline, 0)))
        self.bitmask = owner.xgr.allocate_token_bitmask(len(schemas), owner.vocab_size)

    def __call__(self, rows: list[int], new: list[int | None], scores: torch.Tensor
                 ) -> torch.Tensor:
        """Mask ``scores`` in place: row ``k`` is request ``rows[k]``, whose last generated token
        is ``new[k]`` (``None`` before the first); called once per decoding step."""
        constrain: list[int] = []
        for k, (b, token) in enumerate(zip(rows, new, strict=True)):
            row = self.rows[b]
            self._consume(row, [] if token is None else [token])
            if row.broken or (row.active and row.matcher.is_terminated()):
                continue
            if not row.active:
                if row.forced or self.consumed >= row.think_deadline:
                    if not row.forced:
                        row.forced = list(self.owner.think_end_ids)
                    forced = row.forced.pop(0)
                    keep = scores[k, forced].clone()
                    scores[k] = float("-inf")
                    scores[k, forced] = keep if torch.isfinite(keep) else 0.0
                else:  # no ending the turn inside the thinking block
                    scores[k, self.owner.stop_ids] = float("-inf")
                continue
            row.matcher.fill_next_token_bitmask(self.bitmask, k)
            if _RANKING_OPEN in row.answer:
                self._filter_ranking(row, k)
            constrain.append(k)
        if constrain:
            mask = self.bitmask[:len(rows)].to(scores.device)
            self.owner.xgr.apply_token_bitmask_inplace(scores, mask, indices=constrain,
                                                       vocab_size=self.owner.vocab_size)
        self.consumed += 1
        return scores

    def _consume(self, row: _Row, tokens: list[int]) -> None:
        """Feed the tokens generated since the last step to the row's state."""
        texts = self.owner.token_texts()
        for token in tokens:
            if row.broken or (row.active and row.matcher.is_terminated()):
                continue
            if not row.active:
                row.text = row.text[-64:] + (texts[token] if token < len(texts) else "")
                if THINK_END in row.text:
                    row.active, row.forced = True, []
                    rest = row.text.split(THINK_END, 1)[1].lstrip()
                    if rest and not row.matcher.accept_string(rest):
                        row.broken = True
                continue
            if not row.matcher.accept_token(token):
                row.broken = True  # cannot happen when the mask was applied; stop constraining
                continue
            if token not in self.owner.stop_ids:
                row.answer += texts[token]

    def _filter_ranking(self, row: _Row, b: int) -> None:
        """Inside the ranking, allow only tokens that continue the next id in score order."""
        head, ranking = row.answer.split(_RANKING_OPEN, 1)
        scored = head.split('"scores": {', 1)[1]
        scores = {k: int(v) for k, v in re.findall(r'"([^"]+)": (-?\d+)', scored)}
        words = self.bitmask[b].numpy().view(np.uint32)
        allowed = np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))
        texts = self.owner.token_texts()
        for token in allowed:
            if token >= len(texts) or token in self.owner.stop_ids:
                continue
            if not _ranking_prefix_ok(ranking + texts[token], row.ids, scores):
                words[token // 32] &= np.uint32(~(1 << (token % 32)) & 0xFFFFFFFF)


def _ranking_prefix_ok(text: str, ids: list[str], scores: dict[str, int]) -> bool:
    """Whether ``text`` (the ranking array so far) can still become an agreeing permutation."""
    parts = text.split('"')
    complete = parts[1:-1:2] if len(parts) % 2 == 1 else parts[1:-2:2]
    partial = parts[-1] if len(parts) % 2 == 0 else None
    left = list(ids)
    for item in complete:
        if item not in left or scores.get(item, 0) < max(scores.get(i, 0) for i in left):
            return False
        left.remove(item)
    if partial is not None:
        if not left:
            return False
        best = max(scores.get(i, 0) for i in left)
        return any(i.startswith(partial) and scores.get(i, 0) == best for i in left)
    return True
