"""Prompt groups in batches: several prompts' prefill in one forward, then their responses on it.

Prompts of different lengths are padded on the left, so that every prompt ends in the last column:
its states then sit at the end of the KV cache, where a sliding-window layer keeps them, and the
distance between any two real tokens in the cache is their distance in the text, which is what a
sliding-window mask measures. ``position_ids`` count real tokens only. The responses of several
prompts then run mixed in one batch, each on its prompt's row of that cache (``batch_select_indices``
on a view of the prompts' cache that stores nothing, see :func:`select_rows`), with an attention mask
that hides the left padding and their own right padding.

:meth:`PromptBatcher.left_padding_works` runs this on a tiny probe against the same tokens as
right-padded whole sequences; a model or cache that fails it (an error, a non-finite state, a
different state, a cache layer other than transformers' dynamic and sliding-window layers) runs one
prompt per forward, without padding, on the same code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

# Cache layers whose rows are attention keys and values, indexed by batch row and position; the
# left padding is masked out of them. A recurrent state (linear attention, Mamba) would absorb the
# padding tokens instead, so any other layer class falls back to unpadded prompts.
_ATTENTION_LAYERS = ("DynamicLayer", "DynamicSlidingWindowLayer")


def budget_batches(indices: Sequence[int], length: Callable[[int], int], budget: int, *,
                   limit: int | None = None) -> Iterator[list[int]]:
    """Split ``indices`` into batches whose padded size (batch x longest) fits ``budget``, longest
    first; at most ``limit`` to a batch. A single item longer than the budget runs alone."""
    batch: list[int] = []
    for i in sorted(indices, key=length, reverse=True):
        width = length(batch[0]) if batch else length(i)
        full = limit is not None and len(batch) >= limit
        if batch and (full or (len(batch) + 1) * width > budget):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


@dataclass
class Prefill:
    """Several prompts run as one left-padded batch."""

    cache: Any  # the model's KV cache, one row per prompt
    mask: torch.Tensor  # [prompts, width]: 1 on real tokens (the padding is on the left)
    last: torch.Tensor  # [prompts, hidden]: the state at each prompt's last token
    lengths: list[int]  # each prompt's length in tokens


def _attention_cache(cache: Any) -> bool:
    layers = getattr(cache, "layers", None)
    return isinstance(layers, list) and all(type(layer).__name__ in _ATTENTION_LAYERS
                                            for layer in layers)


def select_rows(cache: Any, rows: torch.Tensor) -> Any:
    """A cache for one forward whose row ``k`` is row ``rows[k]`` of ``cache`` (rows may repeat);
    ``cache`` itself is left as it was.

    For transformers' dynamic and sliding-window layers it is a view that stores nothing: each
    layer's ``update`` gathers the chosen rows and returns what the layer's own ``update`` would
    (the rows' keys and values followed by the new ones) from a scratch copy that is dropped when
    the layer's attention is done. So a forward of B responses on P prompts holds one layer's
    B x (prompt + response) keys and values at a time, not every layer's, and never a copy of
    the prompts' rows outside that layer. Any other cache is deep-copied and row-selected."""
    if not _attention_cache(cache):
        chosen = copy.deepcopy(cache)
        chosen.batch_select_indices(rows)
        return chosen
    chosen = copy.copy(cache)
    chosen.layers = [_read_only_rows(layer, rows) for layer in cache.layers]
    return chosen


def _read_only_rows(layer: Any, rows: torch.Tensor) -> Any:
    """A shallow copy of ``layer`` (same lengths and mask sizes) whose ``update`` stores nothing."""
    view = copy.copy(layer)

    def update(key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        scratch = copy.copy(layer)
        scratch.batch_select_indices(rows)
        return scratch.update(key_states, value_states, *args, **kwargs)

    view.update = update
    return view


class PromptBatcher:
    """Runs prompts and then responses on their cache through ``body`` (the model without its head).

    Args:
        body: calls the base model with keyword inputs and returns its output.
        cache_keyword: the name of the cache in the body's forward and output.
        device: where the inputs go.
        pad_id: the token that fills padding (masked out, so any valid id).
    """

    def __init__(self, body: Callable[..., Any], cache_keyword: str, device: torch.device,
                 pad_id: int) -> None:
        self.body = body
        self.cache_keyword = cache_keyword
        self.device = device
        self.pad_id = pad_id

    def prefill(self, prompts: Sequence[tuple[int, ...]]) -> Prefill:
        """One forward over ``prompts``, padded on the left to the longest."""
        width = max(len(p) for p in prompts)
        lengths = torch.tensor([len(p) for p in prompts])
        ids = torch.tensor([(self.pad_id,) * (width - len(p)) + tuple(p) for p in prompts],
                           dtype=torch.long)
        mask = (torch.arange(width) >= (width - lengths)[:, None]).long()
        inputs: dict[str, Any] = {"input_ids": ids.to(self.device), "use_cache": True}
        if int(lengths.min()) < width:
            inputs["attention_mask"] = mask.to(self.device)
            inputs["position_ids"] = (mask.cumsum(1) - 1).clamp(min=0).to(self.device)
        out = self.body(**inputs)
        return Prefill(getattr(out, self.cache_keyword), mask, out.last_hidden_state[:, -1],
                       lengths.tolist())

    def responses(self, prefill: Prefill, rows: Sequence[int],
                  actions: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
        """The states the reward needs for each response ``actions[k]`` to prompt ``rows[k]`` of
        ``prefill``: its prompt's last state, then one per action (T_k + 1 rows)."""
        index = torch.tensor(list(rows), dtype=torch.long)
        last = prefill.last[index.to(prefill.last.device)]
        width = max(len(a) for a in actions)
        if width == 0:
            return [last[k:k + 1] for k in range(len(actions))]
        ids = torch.tensor([tuple(a) + (self.pad_id,) * (width - len(a)) for a in actions],
                           dtype=torch.long)
        own = (torch.arange(width) < torch.tensor([len(a) for a in actions])[:, None]).long()
        mask = torch.cat([prefill.mask[index], own], dim=1)
        starts = torch.tensor([prefill.lengths[r] for r in rows])
        cache = select_rows(prefill.cache, index.to(self.device))
        hidden = self.body(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
            position_ids=(starts[:, None] + torch.arange(width)).to(self.device), use_cache=True,
            **{self.cache_keyword: cache},
        ).last_hidden_state
        return [torch.cat([last[k:k + 1], hidden[k, : len(a)]]) for k, a in enumerate(actions)]

    def left_padding_works(self, vocab: int, dtype: torch.dtype) -> bool:
        """Whether several prompts can share a forward: a probe of two prompts of different
        lengths and three responses (one prompt's row used twice), against the same tokens as
        right-padded whole sequences (three forwards of a few tokens)."""
        prompts = [tuple(i % vocab for i in range(3, 12)), tuple(i % vocab for i in range(20, 24))]
        rows, actions = [1, 0, 1], [(5 % vocab, 6 % vocab, 7 % vocab), (8 % vocab,),
                                    (9 % vocab, 10 % vocab)]
        tolerance = 1e-3 if dtype in (torch.float32, torch.float64) else 5e-2
        try:
            prefill = self.prefill(prompts)
            if not _attention_cache(prefill.cache):
                return False
            states = self.responses(prefill, rows, actions)
            # the same tokens as whole sequences, padded on the right (where padding comes last,
            # after every state the reward reads)
            whole = [prompts[r] + a for r, a in zip(rows, actions, strict=True)]
            width = max(len(q) for q in whole)
            ids = torch.tensor([q + (self.pad_id,) * (width - len(q)) for q in whole])
            mask = (torch.arange(width) < torch.tensor([len(q) for q in whole])[:, None]).long()
            hidden = self.body(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                               use_cache=False).last_hidden_state
            for k, (row, action, got) in enumerate(zip(rows, actions, states, strict=True)):
                start = len(prompts[row]) - 1
                want = hidden[k, start:start + len(action) + 1]
                if got.shape != want.shape or not bool(torch.isfinite(got).all()) or \
                        float((got - want).abs().max()) > tolerance * max(
                            float(want.abs().max()), 1.0):
                    return False
        except (TypeError, ValueError, RuntimeError, AttributeError, IndexError,
                NotImplementedError):
            return False
        return True
