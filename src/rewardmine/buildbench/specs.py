"""The ``--generator`` specs of ``rewardmine build-bench run``, parsed.

Generators: ``PATH`` (a local transformers model) or ``openai:MODEL@BASE_URL`` (an
OpenAI-compatible endpoint), either followed by ``:follow`` (the default: the principle goes in a
system prompt) or ``:none`` (it is left out). For endpoints the API key is read from the
``OPENAI_API_KEY`` environment variable when it is set. Judges are chosen with the judge spec
grammar of every command, :mod:`rewardmine.specs`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

GeneratorKind = Literal["local", "openai"]


@dataclass(frozen=True)
class Spec:
    """A parsed generator spec: ``target`` is a path (local) or a model name (openai)."""

    kind: str
    target: str
    base_url: str | None = None
    instruction: Literal["follow", "none"] = "follow"

    @property
    def label(self) -> str:
        """A short name for the run's files: the path's last part or the model's name."""
        return self.target.rstrip("/").rsplit("/", 1)[-1]


def _endpoint(flag: str, spec: str, rest: str) -> tuple[str, str]:
    model, sep, url = rest.rpartition("@")
    if not sep or not model or not url.startswith(("http://", "https://")):
        raise ValueError(f"{flag} {spec!r}: write openai:MODEL@BASE_URL, e.g. "
                         "openai:Qwen/Qwen3-8B@http://localhost:8000/v1")
    return model, url


def parse_generator(spec: str) -> Spec:
    """``PATH[:follow|:none]`` or ``openai:MODEL@BASE_URL[:follow|:none]``."""
    body, instruction = spec, "follow"
    for suffix in (":follow", ":none"):
        if spec.endswith(suffix):
            body, instruction = spec[:-len(suffix)], suffix[1:]
    if not body:
        raise ValueError(f"--generator {spec!r}: give a model path or openai:MODEL@BASE_URL")
    if body.startswith("openai:"):
        model, url = _endpoint("--generator", spec, body[len("openai:"):])
        return Spec("openai", model, url, instruction)  # type: ignore[arg-type]
    return Spec("local", body, None, instruction)  # type: ignore[arg-type]


def api_key() -> str | None:
    """The endpoint API key from ``OPENAI_API_KEY``, or None (servers that need none)."""
    return os.environ.get("OPENAI_API_KEY") or None
