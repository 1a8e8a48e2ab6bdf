"""Batched decoding with a KV cache for the local judge backend.

What it does that ``model.generate`` does not, for a batch of judge prompts:

- **The prompts' common prefix runs once.** Judge prompts of one batch usually begin with the
  same system prompt and principle (295 of 540 tokens on average in ``benchmarks/judge.py``). The
  prefix is prefilled at batch 1 and its keys and values are shared by every row; only the rest
  of each prompt runs per row. A row's cache holds ``prefix | padding | rest | generated``, the
  padding masked out and ``position_ids`` counting real tokens only, so every real token sees
  what it would see unpadded.
- **No padding is computed on a CPU.** There a forward costs its tokens (it is compute-bound),
  so each prompt's rest runs alone on the prefix and the rows are put together afterwards; on an
  accelerator they run as one left-padded batch.
- **Keys and values are written in place.** Each row's cache is reserved for the whole
  generation up front (:class:`ReservedLayer`), where transformers' dynamic cache concatenates
  every layer's whole cache at every step.
- **A row that has ended leaves the batch**, so the later steps of a long verdict do not carry
  the finished ones.
- **Sampling draws from a ``torch.Generator`` seeded by the caller**, never from torch's global
  generators.

The first three need a cache of plain full-attention layers (:func:`plain_attention_cache`): a
sliding-window layer measures distances in cache columns, which the padding stretches, and keeps
only its window. Any other model is decoded from one left-padded prefill of whole prompts, as
``generate`` does, with transformers' own cache.

``constrain(rows, new, scores)``, when given, edits the next-token logits in place before the
choice: row ``k`` of ``scores`` is request ``rows[k]``, whose last generated token is ``new[k]``
(``None`` before the first). It is the verdict constraint of
:mod:`rewardmine.judge.backends.constrained`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers.cache_utils import DynamicLayer

from rewardmine.chat import end_ids
from rewardmine.models import cache_keyword

Constrain = Callable[[list[int], list[int | None], torch.Tensor], torch.Tensor]


def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a generation: the turn's end tokens (:func:`rewardmine.chat.end_ids`)
    and the model's configured EOS ids."""
    ids = end_ids(tokenizer)
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is not None:
        ids.update(configured if isinstance(configured, list) else [configured])
    if not ids:
        raise ValueError("the tokenizer has no end-of-turn or EOS token to stop generation")
    return sorted(ids)


def plain_attention_cache(model: Any, pad_id: int) -> bool:
    """Whether every layer of the model's KV cache is plain full attention (transformers'
    ``DynamicLayer``), probed with one token."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([[pad_id]], device=device), use_cache=True,
                    **_last_logits_only(model))
    layers = getattr(getattr(out, cache_keyword(model)), "layers", None)
    return isinstance(layers, list) and bool(layers) and \
        all(type(layer) is DynamicLayer for layer in layers)


class ReservedLayer(DynamicLayer):
    """A full-attention cache layer whose keys and values live in storage reserved up front:
    ``update`` writes the new positions in place and returns views of the filled part."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, filled: int) -> None:
        super().__init__()
        self.key_store, self.value_store = keys, values
        self.device, self.is_initialized = keys.device, True
        self._fill(filled)

    def _fill(self, length: int) -> None:
        self.keys = self.key_store[:, :, :length]
        self.values = self.value_store[:, :, :length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.keys.shape[-2], self.keys.shape[-2] + key_states.shape[-2]
        if end > self.key_store.shape[-2]:
            raise RuntimeError(f"the reserved cache holds {self.key_store.shape[-2]} positions; "
                               f"{end} were asked for")
        self.key_store[:, :, start:end] = key_states
        self.value_store[:, :, start:end] = value_states
        self._fill(end)
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        length = self.keys.shape[-2]
        self.key_store, self.value_store = self.key_store[indices], self.value_store[indices]
        self._fill(length)

    def batch_repeat_interleave(self, repeats: int) -> None:
        raise NotImplementedError("a reserved cache layer is not repeated")


@torch.inference_mode()
def decode(model: Any, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
           stop_ids: Sequence[int], pad_id: int, plain_cache: bool, seed: int,
           temperature: float = 0.0, top_p: float = 1.0, min_new_tokens: int = 0,
           constrain: Constrain | None = None, serial_prefill: bool | None = None
           ) -> list[list[int]]:
    """The generated token ids of each prompt, up to and including the first stop token (or
    ``max_new_tokens`` of them). Greedy at ``temperature=0``; else sampled from
    softmax(logits / temperature) within the top-``top_p`` mass, with a generator seeded by
    ``seed``. No stop token is chosen before ``min_new_tokens`` tokens. ``plain_cache`` is
    :func:`plain_attention_cache` of the model; ``serial_prefill`` (default: on a CPU) runs each
    prompt's own tokens alone instead of in a padded batch."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    device = next(model.parameters()).device
    run = _Forward(model, device)
    stops = torch.tensor(sorted(set(stop_ids)), device=device)
    generator = torch.Generator(device=device).manual_seed(seed) if temperature > 0 else None
    if not plain_cache:
        cache, mask, logits = _padded_prefill(run, prompts, 0, pad_id, None)
    else:
        shared = _shared_length(prompts) if len(prompts) > 1 else 0
        serial = device.type == "cpu" if serial_prefill is None else serial_prefill
        prefill = _serial_prefill if serial else _reserved_padded_prefill
        cache, mask, logits = prefill(run, prompts, shared, pad_id, max_new_tokens - 1)

    positions = torch.tensor([len(p) for p in prompts], device=device)
    rows = list(range(len(prompts)))  # the requests still generating, in batch order
    outputs: list[list[int]] = [[] for _ in prompts]
    new: list[int | None] = [None] * len(prompts)
    for step in range(max_new_tokens):
        scores = logits.to(torch.float32, copy=True)
        if step < min_new_tokens:
            scores[:, stops] = float("-inf")
        if constrain is not None:
            scores = constrain(rows, new, scores)
        tokens = _choose(scores, temperature, top_p, generator)
        for k, token in enumerate(tokens.tolist()):
            outputs[rows[k]].append(token)
        if step + 1 == max_new_tokens:
            break
        going = ~torch.isin(tokens, stops)
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            cache.batch_select_indices(keep)
            mask, positions, tokens = mask[keep], positions[keep], tokens[keep]
            rows = [rows[k] for k in keep.tolist()]
        new = tokens.tolist()
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
        cache, logits = run(tokens[:, None], cache, attention_mask=mask,
                            position_ids=positions[:, None])
        positions = positions + 1
    return outputs


class _Forward:
    """One forward of the model with its cache, returning the new cache and the last logits."""

    def __init__(self, model: Any, device: torch.device) -> None:
        self.model, self.device = model, device
        self.keyword, self.last = cache_keyword(model), _last_logits_only(model)

    def __call__(self, ids: torch.Tensor, cache: Any, **inputs: Any) -> tuple[Any, torch.Tensor]:
        if cache is not None:
            inputs[self.keyword] = cache
        out = self.model(input_ids=ids, use_cache=True, **self.last, **inputs)
        return getattr(out, self.keyword), out.logits[:, -1]


def _last_logits_only(model: Any) -> dict[str, int]:
    """``logits_to_keep=1`` where the model's forward takes it (the head then runs on the last
    position only, as in ``generate``); nothing for a forward that does not."""
    taken = inspect.signature(type(model).forward).parameters
    return {"logits_to_keep": 1} if "logits_to_keep" in taken else {}


def _shared_length(prompts: Sequence[Sequence[int]]) -> int:
    """The common prefix's length, leaving every prompt at least one token of its own (the last
    token's logits choose the first generated one)."""
    limit, first = min(len(p) for p in prompts) - 1, prompts[0]
    common = 0
    while common < limit and all(p[common] == first[common] for p in prompts):
        common += 1
    return common


def _rest_mask(prompts: Sequence[Sequence[int]], shared: int, device: torch.device
               ) -> tuple[torch.Tensor, int]:
    """The attention mask over ``prefix | padding | rest`` of each row, and the rests' width."""
    lengths = torch.tensor([len(p) - shared for p in prompts], device=device)
    width = int(lengths.max())
    own = (torch.arange(width, device=device) >= (width - lengths)[:, None]).long()
    return torch.cat([own.new_ones(len(prompts), shared), own], dim=1), width


def _prefix(run: _Forward, prompts: Sequence[Sequence[int]], shared: int) -> Any:
    if not shared:
        return None
    cache, _ = run(torch.tensor([list(prompts[0][:shared])], device=run.device), None)
    return cache


def _padded_prefill(run: _Forward, prompts: Sequence[Sequence[int]], shared: int, pad_id: int,
                    prefix: Any) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """Each prompt's rest in one forward, padded on its left, on ``prefix`` (the shared prefix's
    cache, repeated for every row) or on nothing. Returns the cache, the attention mask over its
    columns and the logits at each prompt's last token."""
    mask, width = _rest_mask(prompts, shared, run.device)
    rests = [list(p[shared:]) for p in prompts]
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rests], device=run.device)
    inputs: dict[str, Any] = {}
    if prefix is not None or not bool(mask.all()):
        inputs.update(attention_mask=mask,
                      position_ids=(mask.cumsum(1)[:, shared:] - 1).clamp(min=0))
    if prefix is not None:
        prefix.batch_repeat_interleave(len(prompts))
    cache, logits = run(ids, prefix, **inputs)
    return cache, mask, logits


def _reserved_padded_prefill(run: _Forward, prompts: Sequence[Sequence[int]], shared: int,
                             pad_id: int, room: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """:func:`_padded_prefill` on the shared prefix, its cache then moved into reserved storage
    with ``room`` more positions."""
    cache, mask, logits = _padded_prefill(run, prompts, shared, pad_id,
                                          _prefix(run, prompts, shared))
    for i, layer in enumerate(cache.layers):
        batch, heads, length, dim = layer.keys.shape
        keys = layer.keys.new_zeros(batch, heads, length + room, dim)
        values = layer.values.new_zeros(batch, heads, length + room, layer.values.shape[-1])
        keys[:, :, :length], values[:, :, :length] = layer.keys, layer.values
        cache.layers[i] = ReservedLayer(keys, values, length)
    return cache, mask, logits


def _serial_prefill(run: _Forward, prompts: Sequence[Sequence[int]], shared: int, pad_id: int,
                    room: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """Each prompt's rest alone, on a copy of the shared prefix's cache, written into reserved
    storage laid out as :func:`_padded_prefill` lays out its batch, with ``room`` more positions."""
    prefix = _prefix(run, prompts, shared)
    mask, width = _rest_mask(prompts, shared, run.device)
    length = shared + width
    cache, stores, logits = None, [], []
    for row, prompt in enumerate(prompts):
        rest = torch.tensor([list(prompt[shared:])], device=run.device)
        start = length - rest.shape[1]
        alone, last = run(rest, copy.deepcopy(prefix),
                          position_ids=torch.arange(shared, len(prompt), device=run.device)[None])
        logits.append(last)
        if cache is None:
            cache = alone
            stores = [(layer.keys.new_zeros(len(prompts), layer.keys.shape[1], length + room,
                                            layer.keys.shape[-1]),
                       layer.values.new_zeros(len(prompts), layer.values.shape[1], length + room,
                                              layer.values.shape[-1]))
                      for layer in alone.layers]
        for (keys, values), layer in zip(stores, alone.layers, strict=True):
            keys[row, :, :shared] = layer.keys[0, :, :shared]
            values[row, :, :shared] = layer.values[0, :, :shared]
            keys[row, :, start:length] = layer.keys[0, :, shared:]
            values[row, :, start:length] = layer.values[0, :, shared:]
    cache.layers = [ReservedLayer(keys, values, length) for keys, values in stores]
    return cache, mask, torch.cat(logits)


def _choose(scores: torch.Tensor, temperature: float, top_p: float,
            generator: torch.Generator | None) -> torch.Tensor:
    """The next token of each row: the argmax, or a draw from the tempered top-p distribution."""
    if temperature <= 0:
        return scores.argmax(dim=-1)
    probs = nucleus(torch.softmax(scores / temperature, dim=-1), top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """``probs`` (rows of distributions) with every token outside the smallest most-likely set
    whose mass reaches ``top_p`` set to zero (not renormalized: a draw does not need it)."""
    if top_p >= 1.0:
        return probs
    ordered, order = probs.sort(dim=-1, descending=True)
    # a token goes when the mass before it already reaches top_p; the most likely always stays
    ordered = ordered.masked_fill(ordered.cumsum(dim=-1) - ordered >= top_p, 0.0)
    return torch.zeros_like(probs).scatter_(-1, order, ordered)
