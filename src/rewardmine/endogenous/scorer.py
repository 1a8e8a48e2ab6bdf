"""EndogenousReward: the reward inside any causal LM, batched under a token budget.

Work is planned in two shapes. Responses that share a prompt (a GRPO group, RM-Bench's six
answers) run the prompt once, keep its KV cache, and run the responses as a batch on top of it;
the prompts of several such groups share one forward, padded on the left, and then their
responses share batches (see :mod:`rewardmine.endogenous.batching`). Responses alone with their
prompt run as whole sequences, several to a batch. Either way only the
states the reward needs (the last prompt position and every response position) go through the
output head, in chunks (see :mod:`rewardmine.endogenous.logits`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from tqdm.auto import tqdm

from rewardmine.chat import ChatEncoder, EncodedPair, Prompt, check_fits
from rewardmine.endogenous import math as rmath
from rewardmine.endogenous.batching import PromptBatcher, budget_batches
from rewardmine.endogenous.logits import OutputHead, chunk_rows, selected_and_values
from rewardmine.inputs import check_ids, check_list, check_parallel, check_texts
from rewardmine.models import (
    LoadOptions,
    cache_keyword,
    check_options,
    context_length,
    load_causal_lm,
    load_dtype,
    load_tokenizer,
    resolve_device,
)
from rewardmine.types import TokenRewards


@dataclass(frozen=True)
class _Scored:
    """What the model gives for one item: f(s_t, a_t) for t = 1..T, V(s_1) .. V(s_{T+1}), and the
    token rewards r_1 .. r_T they make."""

    selected: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor


class EndogenousReward:
    """Reward of responses under a causal LM read as a soft Q-function (inverse soft Bellman).

    Args:
        model: a transformers causal LM, already on its device.
        tokenizer: its tokenizer; its chat template defines the states (see :class:`ChatEncoder`).
        alpha: the temperature of the soft Bellman operator.
        terminal: "zero" (V of the state after the last token is 0, the paper's telescoped form)
            or "value" (read it from the model).
        aggregate: a response's reward: "sum" (the return, the paper's reward) or "mean" (the
            length-normalised log-likelihood); the scoring calls' ``aggregate=`` overrides it
            for one call.
        include_end_of_turn: score the end-of-turn token as the response's last action.
        max_tokens_per_batch: tokens (batch x padded length) per forward pass; a single item
            longer than this runs alone.
        head_dtype: dtype of the output-head matmul; "auto" is fp32 on CPU (exact and, without
            bf16 hardware, several times faster) and the model's dtype elsewhere.
        head_chunk_bytes: fp32 logits per chunk of the output head; None is 64 MiB on an
            accelerator and 16 MiB (at least 64 positions) on a CPU. With ``head_dtype=None``
            it runs a GPU's head path on any device (the suite compares the two on the CPU).
        reuse_prompt_cache: run a prompt shared by several responses once and reuse its KV cache.
        min_cache_saving: a group takes that path only if it saves at least this many prompt
            tokens ((responses - 1) x prompt length); smaller groups are cheaper padded into
            whole-sequence batches with other items than run on a cache of their own.
        check_head: compare the chunked head with the model's forward once, at construction.
        progress: show a progress bar; None shows one on a terminal only.
    """

    #: the keyword options of the constructor (a test holds this to the signature)
    OPTIONS: ClassVar[frozenset[str]] = frozenset({
        "alpha", "terminal", "aggregate", "include_end_of_turn", "max_tokens_per_batch",
        "head_dtype", "head_chunk_bytes", "reuse_prompt_cache", "min_cache_saving", "check_head",
        "progress"})

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        alpha: float = 1.0,
        terminal: rmath.Terminal = "zero",
        aggregate: rmath.Aggregate = "sum",
        include_end_of_turn: bool = True,
        max_tokens_per_batch: int = 8192,
        head_dtype: Literal["auto"] | torch.dtype | None = "auto",
        head_chunk_bytes: int | None = None,
        reuse_prompt_cache: bool = True,
        min_cache_saving: int = 256,
        check_head: bool = True,
        progress: bool | None = None,
    ) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        rmath.check_terminal(terminal)
        rmath.check_aggregate(aggregate)
        if max_tokens_per_batch < 1:
            raise ValueError("max_tokens_per_batch must be at least 1")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.encoder = ChatEncoder(tokenizer, include_end_of_turn=include_end_of_turn)
        self.alpha = float(alpha)
        self.terminal = terminal
        self.aggregate: rmath.Aggregate = aggregate
        self.max_tokens_per_batch = max_tokens_per_batch
        self.reuse_prompt_cache = reuse_prompt_cache
        self.min_cache_saving = min_cache_saving
        self.progress = progress
        self.device = next(model.parameters()).device
        if head_dtype == "auto":
            head_dtype = torch.float32 if self.device.type == "cpu" else None
        self.head = OutputHead.from_model(model, dtype=head_dtype)
        # positions per head chunk, whose fp32 logits are the head's only [positions, vocab]
        # tensor (its logsumexp runs in place): 64 MiB of them; on a CPU 16 MiB, but at least 64
        # positions (docs/performance.md, SmolLM2 on an AVX2 CPU)
        vocab = self.head.weight.shape[0]
        if head_chunk_bytes is not None:
            if head_chunk_bytes < 1:
                raise ValueError(f"head_chunk_bytes must be positive, got {head_chunk_bytes}")
            self._head_chunk = chunk_rows(vocab, head_chunk_bytes)
        elif self.device.type != "cpu":
            self._head_chunk = chunk_rows(vocab, 64 * 2**20)
        else:
            self._head_chunk = max(64, chunk_rows(vocab, 16 * 2**20))
        self._cache_keyword = cache_keyword(model.base_model)
        self.max_length = context_length(model.config)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._batcher = PromptBatcher(self._body, self._cache_keyword, self.device, self._pad_id)
        self._pad_prompts: bool | None = None  # several prompts to a forward; probed on first use
        if check_head:
            probe = torch.arange(min(16, self.head.weight.shape[0]), device=self.device)[None]
            self.head.check(model, probe)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        load: LoadOptions | None = None,
        **options: Any,
    ) -> EndogenousReward:
        """Load a causal LM and its tokenizer (hub id, local folder or GGUF file) as a reward.

        ``load`` and the :class:`~rewardmine.models.LoadOptions` fields among ``options``
        (``dtype``, ``device``, ``revision``, ``gguf_file``, ``trust_remote_code``,
        ``model_kwargs``) say how it loads (``dtype="auto"``: the checkpoint's own; on a CPU a
        bf16 checkpoint stays bf16 where it has AMX or AVX512-BF16, anything else runs in fp32);
        the other ``options`` are the constructor's (``alpha``, ``terminal``, ``aggregate``,
        ``reuse_prompt_cache``, ``progress``, ``head_dtype``, ...).

        Example:
            >>> rm = EndogenousReward.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct",
            ...                                       progress=False)  # doctest: +SKIP
        """
        load, options = LoadOptions.split(options, load)
        check_options(cls, options, where="EndogenousReward.from_pretrained")
        target = resolve_device(load.device)
        body = load_dtype(name_or_path, load)
        # A low-precision body on a CPU keeps an fp32 head with the checkpoint's own weights:
        # load in fp32, read the head off, then cast the body.
        split = (target.type == "cpu" and body != torch.float32
                 and options.get("head_dtype", "auto") in ("auto", torch.float32))
        model, tokenizer = load_causal_lm(
            name_or_path, load, dtype=torch.float32 if split else body, device=target)
        reward = cls(model, tokenizer, **options)
        if split:
            reward.cast_body(body)  # type: ignore[arg-type]
        return reward

    def cast_body(self, dtype: torch.dtype) -> None:
        """Run the model in ``dtype`` from now on; the output head keeps its own weights and dtype
        (an fp32 head on a CPU stays the checkpoint's fp32 weights under a bf16 body)."""
        self.model.to(dtype)

    @staticmethod
    def from_server(base_url: str, model: str, *, api_key: str | None = None,
                    tokenizer: Any = None, alpha: float = 1.0, terminal: rmath.Terminal = "zero",
                    **options: Any) -> Any:
        """The reward from a vLLM or SGLang server's prompt log-probabilities.

        Returns a :class:`~rewardmine.endogenous.remote.RemoteEndogenousReward`: log pi(y|x),
        which is this reward minus V(s_1), a constant per prompt, so rankings within a prompt
        and group-normalised advantages are the same. ``tokenizer`` (an object, an id or a
        path; default ``model``) renders the chat template here; ``options`` go to that class
        (``protocol``, ``concurrency``, ``retries``, ``context_limit``, ...). Only alpha = 1 and
        terminal "zero" can be computed from log-probabilities; others are refused.
        """
        from rewardmine.endogenous.remote import RemoteEndogenousReward

        if alpha != 1.0 or terminal != "zero":
            raise ValueError(
                "a log-probability server gives log pi at temperature 1 and no soft values, so "
                f"only alpha=1 and terminal='zero' can be served (got alpha={alpha}, "
                f"terminal={terminal!r}); use a local EndogenousReward for these")
        if tokenizer is None or isinstance(tokenizer, str):
            tokenizer = load_tokenizer(tokenizer or model)
        return RemoteEndogenousReward(base_url, model, tokenizer, api_key=api_key, **options)

    # ----------------------------------------------------------------------------- public API

    def score(self, prompt: Prompt, responses: Sequence[str], *, system: str | None = None,
              aggregate: rmath.Aggregate | None = None) -> list[float]:
        """One reward per response to ``prompt``; the prompt runs once for all of them."""
        check_texts(responses, "responses", single="wrap a single response: [text]")
        rendered = self.encoder.render_prompt(prompt, system=system)
        pairs = [self.encoder.encode(rendered, r) for r in responses]
        return [self._reward(s, aggregate) for s in self._run(pairs)]

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None, aggregate: rmath.Aggregate | None = None
                   ) -> list[float]:
        """Rewards for parallel lists of prompts and responses, in input order.

        Items whose prompts are identical share one prompt forward, wherever they are in the lists.
        """
        check_list(prompts, "prompts", single="wrap a single prompt: [prompt]")
        check_texts(responses, "responses", single="wrap a single response: [text]")
        check_parallel(prompts, responses, "prompts", "responses")
        pairs = self.encoder.encode_many(prompts, responses, system=system)
        return [self._reward(s, aggregate) for s in self._run(pairs)]

    def score_variants(self, prompts: Sequence[Prompt], responses: Sequence[str],
                       variants: Sequence[tuple[rmath.Aggregate, rmath.Terminal]], *,
                       system: str | None = None) -> list[list[float]]:
        """Several rewards from one forward pass: for each ``(aggregate, terminal)`` of
        ``variants``, the list :meth:`score_many` returns from a reward built with that aggregate
        and terminal (the model, ``alpha`` and the rest as here).

        >>> zero, value, mean = rm.score_variants(                     # doctest: +SKIP
        ...     prompts, responses, [("sum", "zero"), ("sum", "value"), ("mean", "zero")])
        """
        check_list(prompts, "prompts", single="wrap a single prompt: [prompt]")
        check_texts(responses, "responses", single="wrap a single response: [text]")
        check_parallel(prompts, responses, "prompts", "responses")
        if isinstance(variants, str) or not variants:
            raise ValueError("variants is a non-empty list of (aggregate, terminal) pairs, e.g. "
                             "[('sum', 'zero'), ('mean', 'zero')]")
        for variant in variants:
            if not isinstance(variant, (tuple, list)) or len(variant) != 2:
                raise ValueError(f"variant {variant!r} is not an (aggregate, terminal) pair")
            rmath.check_aggregate(variant[0])
            rmath.check_terminal(variant[1])
        scored = self._run(self.encoder.encode_many(prompts, responses, system=system))
        return [[self._reward(s, how, terminal) for s in scored] for how, terminal in variants]

    def check(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
              system: str | None = None) -> None:
        """Pre-flight: encode every item as :meth:`score_many` would and raise
        :class:`~rewardmine.errors.ContextLengthError`, naming the item, for the first one over
        the model's context; nothing runs on the model."""
        for i, pair in enumerate(self.encoder.encode_many(prompts, responses, system=system)):
            check_fits(i, len(pair.prompt_ids), len(pair.action_ids), self.max_length)

    def token_rewards(self, prompt: Prompt, response: str, *,
                      system: str | None = None) -> TokenRewards:
        """The reward of ``response`` token by token: log pi, V(s_t) and r_t for each action."""
        pair = self.encoder.encode(prompt, response, system=system)
        return self._token_view(pair, self._run([pair])[0])

    def score_ids(self, prompt_ids: Sequence[Sequence[int]], action_ids: Sequence[Sequence[int]],
                  *, aggregate: rmath.Aggregate | None = None) -> list[float]:
        """Rewards for already tokenized items: parallel lists of state and action token ids.

        For trainers that hold token ids (verl, OpenRLHF): no template is applied, the ids are
        taken as they are, and items with identical prompt ids share one prompt forward.
        """
        check_list(prompt_ids, "prompt_ids", single="a list of token-id lists")
        check_list(action_ids, "action_ids", single="a list of token-id lists")
        check_parallel(prompt_ids, action_ids, "prompt_ids", "action_ids")
        pairs = [self._id_pair(i, s, a) for i, (s, a) in
                 enumerate(zip(prompt_ids, action_ids, strict=True))]
        return [self._reward(s, aggregate) for s in self._run(pairs)]

    def token_rewards_ids(self, prompt_ids: Sequence[Sequence[int]],
                          action_ids: Sequence[Sequence[int]]) -> list[TokenRewards]:
        """:meth:`token_rewards` for already tokenized items (dense rewards for trainers that
        hold token ids): parallel lists of state and action ids, taken as they are."""
        check_parallel(prompt_ids, action_ids, "prompt_ids", "action_ids")
        pairs = [self._id_pair(i, s, a) for i, (s, a) in
                 enumerate(zip(prompt_ids, action_ids, strict=True))]
        return [self._token_view(pair, scored)
                for pair, scored in zip(pairs, self._run(pairs), strict=True)]

    # ------------------------------------------------------------------------------ internals

    def _token_view(self, pair: EncodedPair, scored: _Scored) -> TokenRewards:
        ids = list(pair.action_ids)
        return TokenRewards(
            tokens=[self.tokenizer.decode([i]) for i in ids],
            token_ids=ids,
            logprobs=rmath.log_policy(scored.selected, scored.values[:-1], self.alpha).tolist(),
            values=scored.values[:-1].tolist(),
            rewards=scored.rewards.tolist(),
            terminal_value=float(scored.values[-1]) if self.terminal == "value" else 0.0,
            total=float(scored.rewards.sum()),
        )

    def _id_pair(self, index: int, state: Sequence[int], actions: Sequence[int]) -> EncodedPair:
        check_ids(state, f"item {index}: prompt_ids")
        check_ids(actions, f"item {index}: action_ids")
        if len(state) == 0:
            raise ValueError(f"item {index}: prompt_ids is empty; the first action needs a state")
        pair = EncodedPair(tuple(map(int, state)), tuple(map(int, actions)), "in_context")
        ids = pair.prompt_ids + pair.action_ids
        vocab = self.head.weight.shape[0]
        if min(ids) < 0 or max(ids) >= vocab:
            raise ValueError(f"item {index}: a token id is outside the vocabulary [0, {vocab})")
        return pair

    def _reward(self, scored: _Scored, how: rmath.Aggregate | None,
                terminal: rmath.Terminal | None = None) -> float:
        rewards = scored.rewards if terminal in (None, self.terminal) else \
            rmath.token_rewards(scored.selected, scored.values, terminal=terminal)
        return rmath.aggregate(rewards, scored.selected - scored.values[:-1],
                               self.aggregate if how is None else how)

    def _run(self, pairs: Sequence[EncodedPair]) -> list[_Scored]:
        """Score every pair; results in input order."""
        for i, pair in enumerate(pairs):
            check_fits(i, len(pair.prompt_ids), len(pair.action_ids), self.max_length)
        results: list[_Scored | None] = [None] * len(pairs)
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, pair in enumerate(pairs):
            groups[pair.prompt_ids].append(i)
        shared = [
            (p, m) for p, m in groups.items()
            if self.reuse_prompt_cache and len(m) > 1
            and (len(m) - 1) * len(p) >= self.min_cache_saving
        ]
        taken = {p for p, _ in shared}
        alone = [i for p, m in groups.items() if p not in taken for i in m]
        bar = tqdm(total=len(pairs), disable=not self.progress if self.progress is not None
                   else None, desc="scoring", unit="resp")
        with torch.inference_mode(), bar:
            if len(shared) > 1 and self._pad_prompts is None:
                self._pad_prompts = self._batcher.left_padding_works(
                    self.head.weight.shape[0], next(self.model.parameters()).dtype)
            for chunk in budget_batches(range(len(shared)), lambda g: len(shared[g][0]),
                                        self.max_tokens_per_batch,
                                        limit=None if self._pad_prompts else 1):
                members = [shared[g][1] for g in chunk]
                for g, k, scored in self._run_shared(
                        [(shared[g][0], [pairs[i] for i in shared[g][1]]) for g in chunk]):
                    results[members[g][k]] = scored
                    bar.update(1)
            for batch in budget_batches(alone, lambda i: len(pairs[i]), self.max_tokens_per_batch):
                for i, scored in zip(batch, self._run_whole([pairs[i] for i in batch]),
                                     strict=True):
                    results[i] = scored
                    bar.update(1)
        return results  # type: ignore[return-value]

    def _body(self, **inputs: Any) -> Any:
        return self.model.base_model(**inputs)

    def _score_rows(self, rows: list[torch.Tensor], actions: list[tuple[int, ...]]
                    ) -> list[_Scored]:
        """Head over the states each item needs: rows[i] holds its T_i + 1 hidden states."""
        hidden = torch.cat(rows)
        targets = torch.tensor([t for a in actions for t in (*a, -1)], dtype=torch.long)
        selected, values = selected_and_values(hidden, targets, self.head, alpha=self.alpha,
                                               chunk=self._head_chunk)
        rewards = rmath.packed_token_rewards(selected, values, (targets >= 0).to(values.device),
                                             terminal=self.terminal).cpu()
        selected, values = selected.cpu(), values.cpu()
        out, row, action = [], 0, 0
        for a in actions:
            out.append(_Scored(selected[row:row + len(a)], values[row:row + len(a) + 1],
                               rewards[action:action + len(a)]))
            row += len(a) + 1
            action += len(a)
        return out

    def _right_padded(self, sequences: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids padded on the right to the longest, and their attention mask."""
        width = max(len(q) for q in sequences)
        ids = torch.tensor([q + (self._pad_id,) * (width - len(q)) for q in sequences],
                           dtype=torch.long)
        lengths = torch.tensor([len(q) for q in sequences])
        return ids, (torch.arange(width) < lengths[:, None]).long()

    def _run_whole(self, pairs: list[EncodedPair]) -> list[_Scored]:
        """Prompt and response as one right-padded sequence each, no cache."""
        ids, mask = self._right_padded([p.prompt_ids + p.action_ids for p in pairs])
        hidden = self._body(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                            use_cache=False).last_hidden_state
        rows = [hidden[r, len(p.prompt_ids) - 1 : len(p)] for r, p in enumerate(pairs)]
        return self._score_rows(rows, [p.action_ids for p in pairs])

    def _run_shared(self, groups: list[tuple[tuple[int, ...], list[EncodedPair]]]
                    ) -> Iterator[tuple[int, int, _Scored]]:
        """The groups' prompts in one forward (left-padded), then all their responses in batches
        on its KV cache; yields (group, member, scored)."""
        prefill = self._batcher.prefill([prompt for prompt, _ in groups])
        members = [(g, k) for g, (_, pairs) in enumerate(groups) for k in range(len(pairs))]
        actions = [groups[g][1][k].action_ids for g, k in members]
        # a response batch's forward holds its rows of the prompts' cache too: B x (width + T)
        width = prefill.mask.shape[1]
        for batch in budget_batches(range(len(members)), lambda m: width + len(actions[m]),
                                    self.max_tokens_per_batch):
            rows = self._batcher.responses(prefill, [members[m][0] for m in batch],
                                           [actions[m] for m in batch])
            scored = self._score_rows(rows, [actions[m] for m in batch])
            for m, item in zip(batch, scored, strict=True):
                yield (*members[m], item)
