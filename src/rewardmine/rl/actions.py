"""The actions the policy took: its generated token ids, scored as they are.

When the reward model shares the policy's tokenizer (the paper's setting: a frozen copy of the
policy), the reward is read off the ids the policy generated, never off re-tokenized text. A
response that ended carries its end-of-turn/EOS id as its last action; a truncated one has none,
and none is appended. Padding is removed by attention mask or length, never by comparing text
with the pad token (with SmolLM2, pad == EOS == ``<|im_end|>``, so that would drop a real action).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from rewardmine.protocols import TokenScorer
from rewardmine.rollouts import prompt_state_ids

ActionSource = Literal["auto", "ids", "text"]


def unpadded(ids: Sequence[int], *, mask: Sequence[int] | None = None,
             length: int | None = None, side: Literal["left", "right"] = "right",
             index: int = 0) -> list[int]:
    """The real tokens of one padded row: by attention ``mask`` (1 = token) or by ``length``.

    Right padding keeps the first ``length`` ids, left padding the last ``length``. The mask must
    mark one contiguous run on that side; anything else raises, naming the row.
    """
    ids = [int(t) for t in ids]
    if (mask is None) == (length is None):
        raise ValueError(f"row {index}: give exactly one of mask or length")
    if mask is not None:
        mask = [int(m) for m in mask]
        if len(mask) != len(ids):
            raise ValueError(f"row {index}: {len(ids)} ids but a mask of {len(mask)}")
        length = sum(mask)
        expected = [1] * length + [0] * (len(ids) - length)
        if side == "left":
            expected.reverse()
        if mask != expected:
            raise ValueError(f"row {index}: the attention mask is not {side}-padded "
                             f"(ones then zeros); got {mask}")
    if not 0 <= length <= len(ids):  # type: ignore[operator]
        raise ValueError(f"row {index}: length {length} is outside the row of {len(ids)} ids")
    return ids[:length] if side == "right" else ids[len(ids) - length:]  # type: ignore[misc]


def finished(action_ids: Sequence[int], ends: set[int]) -> bool:
    """Whether a response ended on its own (its last action is an end id) or was truncated."""
    return bool(action_ids) and int(action_ids[-1]) in ends


def ids_match_texts(tokenizer: Any, action_ids: Sequence[Sequence[int]],
                    texts: Sequence[str]) -> bool:
    """Whether ``tokenizer`` decodes every id list to the trainer's text for it.

    Trainers decode completions with the policy's tokenizer (special tokens skipped); a reward
    tokenizer that reproduces all of them is the policy's, so its ids can be scored directly.
    """
    vocab = len(tokenizer)
    for ids, text in zip(action_ids, texts, strict=True):
        if any(int(t) < 0 or int(t) >= vocab for t in ids):
            return False
        if tokenizer.decode(list(ids), skip_special_tokens=True) != text:
            return False
    return True


def score_actions(reward: TokenScorer, prompts: Sequence[Any], action_ids: Sequence[Sequence[int]], *,
                  system: str | None = None) -> list[float]:
    """Endogenous rewards of the generated ids after each prompt (rendered with the reward
    model's template): no re-tokenization, no end-of-turn appended."""
    states = prompt_state_ids(reward, prompts, system=system)
    return reward.score_ids(states, [list(a) for a in action_ids])
