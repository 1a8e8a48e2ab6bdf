"""What the endogenous reward claims, measured on the bundled sorting model.

Three measurements, each from seeded draws so a rerun gives the same numbers:

- **Reward accuracy.** For held-out prompts (lists of length 5..8 that are not in the training
  set), how often the reward of the expert answer is strictly higher than that of a corruption of
  it: a single-token one (one digit replaced) and a length-changing one (an element dropped or an
  extra digit inserted, half each). Ties count as failures. The same pairs are ranked by the
  mean log-probability of the answer tokens and by the reward with ``terminal="value"``.
- **Error localisation.** How often the lowest token reward, taken over every action of the
  corrupted answer (its digit tokens and the end-of-turn token), falls on the first action that
  differs from the expert answer: the replaced digit for a substitution; for a drop or an insert,
  the first digit (or end-of-turn token) that differs. Reported strictly (that action) and with
  the action after it allowed too, because the inverse soft Bellman reward splits an error's
  cost between the wrong token (log pi) and the next one (the value drop V(s_t) - V(s_{t+1})
  lands on r_{t+1} when the state after an error has a lower soft value).
- The same two measurements on lists of length 9..12, longer than any in training.
- **Compounding error.** The model's exact-match accuracy answering prompts of length H = 1..12
  (training used 2..8), greedy and sampled at temperature 1.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewardmine.toy import world

HELD_OUT_LENGTHS = range(5, 9)
LONG_LENGTHS = range(9, 13)
HORIZONS = range(1, 13)


@dataclass(frozen=True)
class Pair:
    """A held-out prompt, its expert answer and one corruption of it."""

    digits: world.Digits
    right: str
    wrong: world.Corruption


def held_out_pairs(count: int, *, seed: int, training: set[world.Digits] | frozenset[world.Digits],
                   lengths: Sequence[int] = HELD_OUT_LENGTHS) -> tuple[list[Pair], list[Pair]]:
    """``count`` held-out prompts, each with a substitution and a length-changing corruption."""
    lists = world.random_lists(count, lengths=lengths, seed=seed, exclude=training)
    rng = random.Random(seed + 1)
    substituted, resized = [], []
    for digits in lists:
        right = world.expert(digits)
        substituted.append(Pair(digits, right, world.corrupt(digits, "substitute", rng)))
        kind = "drop" if rng.random() < 0.5 else "insert"
        resized.append(Pair(digits, right, world.corrupt(digits, kind, rng)))
    return substituted, resized


def _rate(hits: Sequence[bool]) -> float:
    return sum(hits) / len(hits)


def pair_metrics(reward: Any, value_reward: Any, pairs: Sequence[Pair]) -> dict[str, Any]:
    """Accuracy of three rankings and the error localisation, over ``pairs``.

    ``reward`` is an :class:`EndogenousReward` with ``terminal="zero"`` and ``value_reward`` the
    same model with ``terminal="value"``.
    """
    prompts = [world.messages(p.digits) for p in pairs]
    rights = [p.right for p in pairs]
    wrongs = [p.wrong.text for p in pairs]
    r_right = reward.score_many(prompts, rights)
    r_wrong = reward.score_many(prompts, wrongs)
    v_right = value_reward.score_many(prompts, rights)
    v_wrong = value_reward.score_many(prompts, wrongs)
    mean_lp_hits, argmin_r, argmin_r_next, argmin_lp, margins = [], [], [], [], []
    for p, prompt, a, b in zip(pairs, prompts, r_right, r_wrong, strict=True):
        good = reward.token_rewards(prompt, p.right)
        bad = reward.token_rewards(prompt, p.wrong.text)
        mean_lp_hits.append(_mean(good.logprobs) > _mean(bad.logprobs))
        argmin_r.append(_argmin(bad.rewards) == p.wrong.token)
        argmin_r_next.append(_argmin(bad.rewards) in (p.wrong.token, p.wrong.token + 1))
        argmin_lp.append(_argmin(bad.logprobs) == p.wrong.token)
        margins.append(a - b)
    return {
        "pairs": len(pairs),
        "accuracy": {
            "endogenous_reward": _rate([a > b for a, b in zip(r_right, r_wrong, strict=True)]),
            "terminal_value": _rate([a > b for a, b in zip(v_right, v_wrong, strict=True)]),
            "mean_logprob": _rate(mean_lp_hits),
        },
        "localisation": {
            "argmin_token_reward": _rate(argmin_r),
            "argmin_token_reward_or_next": _rate(argmin_r_next),
            "argmin_logprob": _rate(argmin_lp),
        },
        "margin": margins,
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _argmin(values: Sequence[float]) -> int:
    return min(range(len(values)), key=values.__getitem__)


def answers(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
            temperature: float = 0.0, seed: int = 0) -> list[list[int]]:
    """The model's answer ids to each prompt, up to and including the stop token, decoded by the
    judge's loop (:func:`rewardmine.judge.backends.decoding.decode`): greedy at temperature 0,
    else sampled from a generator seeded ``seed``."""
    from rewardmine.judge.backends.decoding import decode, plain_attention_cache, stop_ids

    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = end_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    return decode(model, prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids(model, tokenizer),
                  pad_id=pad_id, plain_cache=plain_attention_cache(model, pad_id), seed=seed,
                  temperature=temperature)


def horizon_curve(model: Any, tokenizer: Any, *, per_length: int, seed: int,
                  horizons: Sequence[int] = HORIZONS) -> dict[str, Any]:
    """Exact-match accuracy by list length, greedy and sampled at temperature 1 (the sampled
    answers to lists of length H from a generator seeded ``seed + H``)."""
    from rewardmine.chat import ChatEncoder

    encoder = ChatEncoder(tokenizer)
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rows = []
    for h in horizons:
        lists = world.random_lists(per_length, lengths=[h], seed=seed + h)
        prompts = [encoder.render_prompt(world.messages(d)).ids for d in lists]
        row: dict[str, Any] = {"H": h, "prompts": per_length}
        for name, temperature in (("greedy", 0.0), ("sampled", 1.0)):
            outputs = answers(model, tokenizer, prompts, max_new_tokens=h + 4,
                              temperature=temperature, seed=seed + h)
            row[name] = _rate([
                out[-1:] == [end_id] and tokenizer.decode(out[:-1]) == world.expert(d)
                for d, out in zip(lists, outputs, strict=True)
            ])
        rows.append(row)
    return {"rows": rows}
