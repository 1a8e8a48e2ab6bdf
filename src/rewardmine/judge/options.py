"""GenerationOptions: what a judge asks of every generation, whichever backend runs it.

One typed object, owned by the judge and handed to its backend with every batch, so the local
transformers backend, the OpenAI-compatible backend and any backend of your own read the same
settings. The command line takes them as flags and ``KEY=VALUE`` options
(:mod:`rewardmine.cli.judge`); :func:`split_generation` picks them out of a dict of settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GenerationOptions:
    """How a judge's replies are generated.

    Args:
        max_new_tokens: generation budget per reply, thinking included; also counted against
            the model's context before anything is generated.
        temperature: 0 decodes greedily; above 0 samples.
        top_p: nucleus sampling mass when sampling.
        thinking: let a thinking model think first (the chat template's ``enable_thinking``).
        seed: with each request's own content, decides the order its responses are shown in
            and, with a batch's requests, the batch's sampling seed: a verdict depends on the
            seed and the request, not on what the judge was asked before.
    """

    max_new_tokens: int = 4096
    temperature: float = 0.0
    top_p: float = 1.0
    thinking: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in (("max_new_tokens", int), ("seed", int), ("thinking", bool)):
            value = getattr(self, name)
            if type(value) is not kind:
                raise TypeError(f"generation option {name} must be a {kind.__name__}, "
                                f"got {value!r}")
        for name in ("temperature", "top_p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"generation option {name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> GenerationOptions:
        """A copy with ``changes``; an unknown name is an error naming the known ones."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise TypeError(f"unknown generation option(s) {unknown}; known: {list(self.names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_generation(options: Mapping[str, Any], base: GenerationOptions | None = None
                     ) -> tuple[GenerationOptions, dict[str, Any]]:
    """``options`` as a GenerationOptions (its fields, on top of ``base``) and the other keys."""
    names = set(GenerationOptions.names())
    generation = {k: v for k, v in options.items() if k in names}
    rest = {k: v for k, v in options.items() if k not in names}
    return (base or GenerationOptions()).replace(**generation), rest
