"""Rewards for *training* a judge with GRPO, as TRL ``reward_funcs``: they score the verdicts a
judge in training writes against ground truth. (The judge used *as* a reward for a policy is
:func:`rewardmine.rl.trl.judge_reward_func`.) Every name here starts with ``verdict_``.

Two signals, combined ``0.15 * format + 0.85 * accuracy`` by default:

- **format** (0 to 1): the mean of four checks: a non-empty thinking block closed with
  ``</think>``; a JSON answer that parses as written with exactly the keys "scores" and
  "best-to-worst"; every shown id scored once with an integer on the scale and ranked once; and a
  ranking that agrees with the scores.
- **accuracy** (0 to 1) against ground-truth scores. Every pair the truth orders strictly has a
  weight ``1 + |truth gap|``; a pair predicted in the right order earns its weight, a predicted
  tie earns half (costs half), a reversed pair earns nothing (costs its weight); the pair score is
  the earned weight over the total. Kendall's tau-b between predicted and true scores, mapped to
  [0, 1], is averaged in with ``tau_weight``. A prediction that cannot be read, or that leaves an
  id out, scores 0, never a perfect score. When the truth ties every response there is no pair to
  score, and the pair score is 1 for any valid prediction.

Dataset rows carry ``ids`` (the masked ids shown, a list of strings) and ``truth_scores`` (a list
of numbers aligned with ``ids``); :func:`training_example` builds such rows. Completions may be
strings or conversational (a list with one assistant message), as TRL passes them.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

from rewardmine.chat import Prompt, completion_text
from rewardmine.judge.parse import (
    RANKING_KEY,
    InvalidVerdict,
    json_objects,
    loads,
    parse_judgement,
    split_thinking,
)
from rewardmine.judge.prompt import build_request, normalize_responses, system_prompt
from rewardmine.statistics import kendall_tau_b

Completion = str | Sequence[dict[str, Any]]


def verdict_format_score(text: str, ids: Sequence[str], *, scale: tuple[int, int] = (1, 5),
                 require_thinking: bool = True) -> float:
    """The format reward of one completion (see the module docstring)."""
    ids = list(ids)
    checks = []
    close = text.find("</think>")
    thought = text[:close].replace("<think>", "").strip() if close >= 0 else ""
    if require_thinking:
        checks.append(bool(thought) and text.count("</think>") == 1)
    obj = None
    try:
        _, answer = split_thinking(text)
        spans, _ = json_objects(answer)
        if spans:
            start, end = spans[-1]
            value = loads(answer[start:end])
            if isinstance(value, dict) and set(value) == {"scores", RANKING_KEY}:
                obj = value
    except (InvalidVerdict, json.JSONDecodeError):
        obj = None
    checks.append(obj is not None)
    covered = agree = False
    if obj is not None:
        scores, ranking = obj["scores"], obj[RANKING_KEY]
        low, high = scale
        covered = (
            isinstance(scores, dict) and set(scores) == set(ids)
            and all(type(v) is int and low <= v <= high for v in scores.values())
            and isinstance(ranking, list) and sorted(map(str, ranking)) == sorted(ids)
            and len(ranking) == len(ids)
        )
        agree = covered and all(
            scores[a] >= scores[b] for a, b in combinations(ranking, 2)
        )
    checks += [covered, agree]
    return sum(checks) / len(checks)


def weighted_pair_score(predicted: Sequence[float], truth: Sequence[float]) -> float | None:
    """Earned over total pair weight (see the module docstring); None when truth ties all."""
    earned = total = 0.0
    for i, j in combinations(range(len(truth)), 2):
        gap = truth[i] - truth[j]
        if gap == 0:
            continue
        weight = 1.0 + abs(gap)
        total += weight
        predicted_gap = predicted[i] - predicted[j]
        if predicted_gap == 0:
            earned += weight / 2
        elif (predicted_gap > 0) == (gap > 0):
            earned += weight
    return earned / total if total else None


def verdict_accuracy_score(text: str, ids: Sequence[str], truth_scores: Sequence[float], *,
                   scale: tuple[int, int] = (1, 5), tau_weight: float = 0.5) -> float:
    """The accuracy reward of one completion against the true scores of ``ids``."""
    ids = list(ids)
    if len(truth_scores) != len(ids):
        raise ValueError(
            f"truth_scores has {len(truth_scores)} values for {len(ids)} ids; align them"
        )
    verdict = parse_judgement(text, ids, scale=scale)
    if not verdict.ok or set(verdict.scores) != set(ids):
        return 0.0
    predicted = [verdict.scores[i] for i in ids]
    pairs = weighted_pair_score(predicted, truth_scores)
    pairs = 1.0 if pairs is None else pairs
    agreement = kendall_tau_b(predicted, truth_scores)
    tau = 0.5 if math.isnan(agreement) else (agreement + 1) / 2  # a constant side: no agreement
    return (1 - tau_weight) * pairs + tau_weight * tau


def _columns(completions: Sequence[Completion], ids: Any, name: str) -> list[str]:
    if ids is None:
        raise ValueError(f"{name} needs the dataset column 'ids' (the masked ids shown)")
    if len(ids) != len(completions):
        raise ValueError(f"{name}: {len(completions)} completions but {len(ids)} rows of ids")
    return [completion_text(c, i) for i, c in enumerate(completions)]


def verdict_format_reward(completions: Sequence[Completion], ids: Sequence[Sequence[str]] | None = None,
                  **_: Any) -> list[float]:
    """TRL reward function: the format reward of each completion."""
    texts = _columns(completions, ids, "verdict_format_reward")
    return [verdict_format_score(t, i) for t, i in zip(texts, ids or [], strict=True)]


def verdict_accuracy_reward(completions: Sequence[Completion],
                    ids: Sequence[Sequence[str]] | None = None,
                    truth_scores: Sequence[Sequence[float]] | None = None,
                    **_: Any) -> list[float]:
    """TRL reward function: the accuracy reward of each completion."""
    texts = _columns(completions, ids, "verdict_accuracy_reward")
    if truth_scores is None:
        raise ValueError("verdict_accuracy_reward needs the dataset column 'truth_scores'")
    return [verdict_accuracy_score(t, i, s)
            for t, i, s in zip(texts, ids or [], truth_scores, strict=True)]


def verdict_reward_fn(*, format_weight: float = 0.15, accuracy_weight: float = 0.85,
                    scale: tuple[int, int] = (1, 5), tau_weight: float = 0.5,
                    require_thinking: bool = True) -> Callable[..., list[float]]:
    """A TRL reward function ``format_weight * format + accuracy_weight * accuracy``."""

    def verdict_reward(completions: Sequence[Completion],
                     ids: Sequence[Sequence[str]] | None = None,
                     truth_scores: Sequence[Sequence[float]] | None = None,
                     **_: Any) -> list[float]:
        texts = _columns(completions, ids, "verdict_reward")
        if truth_scores is None:
            raise ValueError("verdict_reward needs the dataset column 'truth_scores'")
        return [
            format_weight * verdict_format_score(t, i, scale=scale, require_thinking=require_thinking)
            + accuracy_weight * verdict_accuracy_score(t, i, s, scale=scale, tau_weight=tau_weight)
            for t, i, s in zip(texts, ids or [], truth_scores, strict=True)
        ]

    return verdict_reward


verdict_reward = verdict_reward_fn()


def training_example(principle: str, prompt: Prompt, responses: dict[str, str] | list[str],
                     truth_scores: dict[str, float] | list[float], *, rng: random.Random,
                     scale: tuple[int, int] = (1, 5)) -> dict[str, Any]:
    """A GRPO dataset row: the judge's chat ``prompt``, the masked ``ids`` and aligned truths."""
    items = normalize_responses(responses)
    truth = (dict(zip(items, truth_scores, strict=True)) if isinstance(truth_scores, list)
             else dict(truth_scores))
    if set(truth) != set(items):
        raise ValueError(f"truth_scores must cover exactly the responses {list(items)}")
    request = build_request(principle, prompt, items, rng=rng, system=system_prompt(scale))
    return {
        "prompt": request.messages,
        "ids": request.ids,
        "truth_scores": [float(truth[request.to_caller[i]]) for i in request.ids],
    }
