"""The scoring side of a benchmark run: a tiny protocol and a registry of methods.

Anything with ``score_many(prompts, responses, *, system=None) -> list[float]`` can be
benchmarked, one score per (prompt, response) pair, higher is better. Methods are created by
name from a model id and options; ``endogenous`` is built in, and other parts of rewardkit (the
principle judge, verifiers) add theirs with :func:`register_method`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from rewardkit.chat import Prompt


@runtime_checkable
class Scorer(Protocol):
    """Scores responses; ``system`` steers the reward (a domain prompt, a principle)."""

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]: ...


MethodFactory = Callable[[str, Mapping[str, Any]], Scorer]
_METHODS: dict[str, MethodFactory] = {}


def register_method(name: str, factory: MethodFactory) -> None:
    """Make ``--method name`` build a scorer with ``factory(model, options)``."""
    _METHODS[name] = factory


def methods() -> list[str]:
    return sorted(_METHODS)


def make_scorer(method: str, model: str, options: Mapping[str, Any] | None = None) -> Scorer:
    """The scorer of ``method`` for ``model``; unknown methods name the known ones."""
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; known: {methods()} (others register "
                         "themselves with rewardkit.bench.register_method)")
    return _METHODS[method](model, dict(options or {}))


class EndogenousScorer:
    """:class:`rewardkit.EndogenousReward` with its aggregate fixed, as a :class:`Scorer`."""

    def __init__(self, reward: Any, *, aggregate: str = "sum") -> None:
        self.reward = reward
        self.aggregate = aggregate

    def score_many(self, prompts: Sequence[Prompt], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        return self.reward.score_many(prompts, responses, system=system, aggregate=self.aggregate)


def _endogenous(model: str, options: Mapping[str, Any]) -> Scorer:
    from rewardkit.endogenous import EndogenousReward

    known = {"dtype", "device", "alpha", "terminal", "aggregate"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for method 'endogenous'; "
                         f"known: {sorted(known)}")
    reward = EndogenousReward.from_pretrained(
        model, dtype=options.get("dtype", "auto"), device=options.get("device", "auto"),
        alpha=float(options.get("alpha", 1.0)), terminal=options.get("terminal", "zero"),
        progress=False)
    return EndogenousScorer(reward, aggregate=options.get("aggregate", "sum"))


register_method("endogenous", _endogenous)
