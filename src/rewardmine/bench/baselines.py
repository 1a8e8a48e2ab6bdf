"""Model-free baselines: prefer the shorter response, the longer one, or the one shown first.

They are scalar scorers, scored on the same items with the same arithmetic (and tie rule) as any
other method, so a report can show how much of a figure length or position alone explains.

- ``length-short`` / ``length-long``: the score is minus / plus the response's length in
  characters (Python ``len``: Unicode code points; no tokenizer, so every model is measured alike).
  Responses of equal length tie, and the tie follows the benchmark's rule for a scalar scorer.
- ``position-first``: prefers the response shown first when the candidates are shown in a fixed
  order that does not depend on the label: ascending SHA-256 of the response text. The order the
  benchmarks list candidates in would leak the label (RM-Bench, RewardBench, RewardBench 2 and
  HH-RLHF list the chosen response first; DSP lists the domains in a fixed order, so "first"
  would always be academy; the principle lists put correct answers first). Our judges are shown
  candidates in a seeded random order, so this is what a judge that always picks its first
  candidate would score: chance (1/2 on a pair, 1/k on best-of-k), up to sampling error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from rewardmine.chat import Prompt

Baseline = Literal["length-short", "length-long", "position-first"]
BASELINES: tuple[Baseline, ...] = ("length-short", "length-long", "position-first")


def shown_order_key(response: str) -> float:
    """A number in [0, 1) from the SHA-256 of ``response``: candidates sorted by it ascending are
    in an order that depends on their text only."""
    return int(hashlib.sha256(response.encode("utf-8")).hexdigest()[:13], 16) / 16 ** 13


class BaselineScorer:
    """A model-free scorer (see the module docstring).

    Example:
        >>> BaselineScorer("length-long").score_many(["2+2?"] * 2, ["4", "It is 4."])
        [1.0, 8.0]
    """

    def __init__(self, name: Baseline) -> None:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; known: {list(BASELINES)}")
        self.name = name

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
        if self.name == "length-short":
            return [-float(len(r)) for r in responses]
        if self.name == "length-long":
            return [float(len(r)) for r in responses]
        return [-shown_order_key(r) for r in responses]
