"""Let the bundled model answer sorting prompts: greedy or sampled, with a caller-owned Generator.

A plain KV-cached loop rather than ``model.generate``, because sampling there draws from torch's
global RNG; here every draw comes from the ``torch.Generator`` passed in. Prompts in one call
must have the same token length (the claims batch them by list length), so no padding is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rewardmine.models import cache_keyword


@torch.inference_mode()
def complete(model: Any, prompts: Sequence[Sequence[int]], *, end_id: int, max_new_tokens: int,
             temperature: float = 0.0, generator: torch.Generator | None = None
             ) -> list[list[int]]:
    """The token ids of each prompt's continuation, up to and including ``end_id`` if it comes.

    ``temperature=0`` is greedy decoding; a positive temperature samples from
    softmax(logits / temperature) with ``generator``, which is required then.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature > 0 and generator is None:
        raise ValueError("sampling needs a torch.Generator; pass generator=")
    if len({len(p) for p in prompts}) > 1:
        raise ValueError("prompts in one call must have the same token length; group them")
    device = next(model.parameters()).device
    ids = torch.tensor([list(p) for p in prompts], dtype=torch.long, device=device)
    outputs: list[list[int]] = [[] for _ in prompts]
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    cache, keyword = None, cache_keyword(model)
    for _ in range(max_new_tokens):
        out = model(input_ids=ids, use_cache=True, **{keyword: cache})
        cache, logits = getattr(out, keyword), out.logits[:, -1].float()
        if temperature == 0:
            step = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            step = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device)
        for row, token in enumerate(step.tolist()):
            if not done[row]:
                outputs[row].append(token)
        done |= step == end_id
        if bool(done.all()):
            break
        ids = step[:, None]
    return outputs
