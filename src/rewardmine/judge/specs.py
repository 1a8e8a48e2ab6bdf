"""Choosing a judge by a string: the one spec grammar of every rewardmine command and adapter.

- ``principle:PATH`` -- a :class:`~rewardmine.PrincipleJudge` on a local transformers model
  (a folder or a hub id).
- ``openai:MODEL@BASE_URL`` -- a PrincipleJudge on an OpenAI-compatible server (vLLM, SGLang,
  OpenAI, ``transformers serve``); the API key is the ``api_key`` setting or ``$OPENAI_API_KEY``.
- ``openai-completions:MODEL@BASE_URL`` -- the same through ``/v1/completions`` (vLLM, SGLang):
  the prompt is rendered here with the judge model's tokenizer (the ``tokenizer`` setting,
  default MODEL) and sent as token ids, so text in a response is never a control token.
- ``endogenous:PATH`` -- the endogenous reward of a local model, each response scored with the
  principle as its system prompt, ranked by score.
- ``MODULE:FUNCTION`` -- ``FUNCTION(**settings)`` from an importable module, returning a list
  judge (``judge_many``) or a scorer (``score_many``, wrapped as a list judge).

Several specs make a :class:`~rewardmine.judge.panel.JudgePanel` (Kemeny consensus), which is a
list judge too. Generation settings travel in one :class:`GenerationOptions` (a judge that
generates nothing, ``endogenous:``, leaves them aside); the other
settings (``mode``, ``permutations``, ``constrained``, ``dtype``, ``concurrency``, ...) are the
keyword arguments of the judge and its backend, and an unknown one is refused with the list of
the accepted ones before any model is loaded.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rewardmine.judge.options import GenerationOptions, split_generation
from rewardmine.protocols import ListJudge, Scorer, ScorerJudge, as_list_judge

KINDS = ("principle", "openai", "openai-completions", "endogenous")
GRAMMAR = ("principle:PATH, openai:MODEL@BASE_URL, openai-completions:MODEL@BASE_URL, "
           "endogenous:PATH or MODULE:FUNCTION")


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed spec: ``kind`` is one of :data:`KINDS` or "factory"; ``target`` is the path,
    the model name (openai) or ``module:function`` (factory)."""

    kind: str
    target: str
    base_url: str | None = None

    @property
    def label(self) -> str:
        """A short name for files and logs: the path's or model's last part."""
        return self.target.rstrip("/").rsplit("/", 1)[-1].replace(":", ".")


def parse_spec(spec: str) -> JudgeSpec:
    """Parse one judge spec; a malformed one is an error that shows the grammar."""
    if not isinstance(spec, str):
        raise TypeError(f"a judge spec is a string ({GRAMMAR}), not {type(spec).__name__}")
    kind, sep, rest = spec.partition(":")
    if not sep or not kind or not rest:
        raise ValueError(f"judge spec {spec!r}: write {GRAMMAR}")
    if kind in ("openai", "openai-completions"):
        model, at, url = rest.rpartition("@")
        if not at or not model or not url.startswith(("http://", "https://")):
            raise ValueError(f"judge spec {spec!r}: write {kind}:MODEL@BASE_URL, e.g. "
                             f"{kind}:Qwen/Qwen3-8B@http://localhost:8000/v1")
        return JudgeSpec(kind, model, url)
    if kind in KINDS:
        return JudgeSpec(kind, rest)
    if not all(part.isidentifier() for part in kind.split(".")) or not rest.isidentifier():
        raise ValueError(f"judge spec {spec!r}: write {GRAMMAR}")
    return JudgeSpec("factory", spec)


def resolve_spec(spec: str) -> str:
    """``spec`` with a local model path made absolute (:func:`rewardmine.models.resolve_source`),
    so it names the same model in a Ray worker; a bare path is a ``principle:`` judge's."""
    from rewardmine.models import resolve_source

    kind, sep, rest = spec.partition(":")
    if not sep:
        return resolve_source(spec)
    if kind in ("principle", "endogenous"):
        return f"{kind}:{resolve_source(rest)}"
    return spec


def load_judge(spec: str | JudgeSpec | Sequence[str | JudgeSpec], *,
               options: GenerationOptions | None = None,
               defaults: Mapping[str, Any] | None = None, **settings: Any) -> ListJudge:
    """The list judge a spec names (several specs: a panel of them).

    Args:
        spec: one spec (see the module docstring), or several for a
            :class:`~rewardmine.judge.panel.JudgePanel` whose members share the settings.
        options: generation options of the PrincipleJudge kinds; the fields may also come one by
            one in ``settings`` (``max_new_tokens=``, ``thinking=``, ...).
        defaults: settings for the spec kinds that take them, skipped by the others (a
            command's own defaults, such as ``on_invalid="return"``); ``settings`` override them.
        settings: keyword arguments of the judge and its backend (``mode``, ``permutations``,
            ``on_invalid``, ``constrained``, ``dtype``, ``device``, ``concurrency``, ``api_key``...);
            a factory receives them as its keyword arguments.

    Example:
        >>> judge = load_judge("openai:Qwen/Qwen3-8B@http://localhost:8000/v1",
        ...                    options=GenerationOptions(max_new_tokens=1024))  # doctest: +SKIP
        >>> panel = load_judge(["principle:judge-a", "principle:judge-b"])      # doctest: +SKIP
    """
    if not isinstance(spec, (str, JudgeSpec)):
        specs = list(spec)
        if len(specs) == 1:
            return load_judge(specs[0], options=options, defaults=defaults, **settings)
        from rewardmine.judge.panel import JudgePanel

        parsed = [s if isinstance(s, JudgeSpec) else parse_spec(s) for s in specs]
        check_settings(parsed, options, settings)  # refuse bad settings before loading any model
        return JudgePanel({f"j{k}-{p.label}": load_judge(p, options=options, defaults=defaults,
                                                         **settings)
                           for k, p in enumerate(parsed, start=1)})
    parsed = spec if isinstance(spec, JudgeSpec) else parse_spec(spec)
    check_settings([parsed], options, settings)
    if defaults and parsed.kind != "factory":
        accepted = set(accepted_settings(parsed.kind))
        settings = {**{k: v for k, v in defaults.items() if k in accepted}, **settings}
    if parsed.kind == "factory":
        return _factory(parsed.target, options, settings)
    if parsed.kind == "endogenous":
        settings = {k: v for k, v in settings.items() if k not in _ignored(parsed)}
        template = settings.pop("system_template", "{principle}")
        return ScorerJudge(endogenous_scorer(parsed.target, **settings),
                           system_template=template)
    from rewardmine.judge.judge import PrincipleJudge

    generation, rest = split_generation(settings, options)
    if parsed.kind == "principle":
        return PrincipleJudge.from_pretrained(parsed.target, options=generation, **rest)
    assert parsed.base_url is not None
    api_key = rest.pop("api_key", None) or os.environ.get("OPENAI_API_KEY") or None
    if parsed.kind == "openai-completions":
        rest["endpoint"] = "completions"
    return PrincipleJudge.from_openai(parsed.base_url, parsed.target, api_key=api_key,
                                      options=generation, **rest)


def _names(fn: Any) -> set[str]:
    import inspect

    return {p.name for p in inspect.signature(fn).parameters.values()
            if p.kind is not p.VAR_KEYWORD} - {"self", "cls"}


def endogenous_settings() -> set[str]:
    """What ``EndogenousReward.from_pretrained`` takes besides the model: its loading arguments
    and the constructor's options (``alpha``, ``terminal``, ...) that it passes on."""
    from rewardmine.endogenous import EndogenousReward

    return ((_names(EndogenousReward.from_pretrained) - {"name_or_path"})
            | (_names(EndogenousReward.__init__) - {"model", "tokenizer"}))


def accepted_settings(kind: str) -> list[str]:
    """The setting names a spec kind takes (a factory: whatever its function takes)."""

    if kind == "endogenous":
        return sorted({*endogenous_settings(), "aggregate", "system_template"})
    from rewardmine.judge.judge import PrincipleJudge

    judge = _names(PrincipleJudge.__init__) - {"backend", "options"} | set(GenerationOptions.names())
    if kind == "principle":
        from rewardmine.judge.backends.local import TransformersBackend

        backend = _names(TransformersBackend.__init__) | _names(TransformersBackend.load)
        return sorted(judge | backend - {"model", "tokenizer"})
    if kind in ("openai", "openai-completions"):
        from rewardmine.judge.backends.openai import OpenAIBackend

        fixed = {"base_url", "model"} | ({"endpoint"} if kind == "openai-completions" else set())
        return sorted(judge | _names(OpenAIBackend.__init__) - fixed)
    raise ValueError(f"unknown judge kind {kind!r}")


def check_settings(specs: Sequence[JudgeSpec], options: GenerationOptions | None,
                   settings: Mapping[str, Any]) -> None:
    """Refuse settings a spec does not take, naming the accepted ones."""
    for spec in specs:
        if spec.kind == "factory":
            continue
        accepted = accepted_settings(spec.kind)
        unknown = sorted(set(settings) - set(accepted) - _ignored(spec))
        if unknown:
            raise ValueError(f"judge {spec.kind}:{spec.target}: unknown option(s) {unknown}; "
                             f"accepted: {accepted}")


def _ignored(spec: JudgeSpec) -> set[str]:
    """Generation options, which a judge that generates nothing (endogenous) leaves aside, so
    that one command can set them for a mix of judges."""
    return set(GenerationOptions.names()) if spec.kind == "endogenous" else set()


def endogenous_scorer(path: str, *, aggregate: str = "sum", **load: Any) -> Scorer:
    """The endogenous reward of the model at ``path`` as a scorer, its aggregate fixed."""
    from rewardmine.endogenous import EndogenousReward

    accepted = endogenous_settings()
    unknown = sorted(set(load) - accepted)
    if unknown:
        raise ValueError(f"endogenous reward of {path}: unknown option(s) {unknown}; accepted: "
                         f"{sorted(accepted | {'aggregate'})}")
    if aggregate not in ("sum", "mean"):
        raise ValueError(f"aggregate must be 'sum' or 'mean', not {aggregate!r}")
    reward = EndogenousReward.from_pretrained(path, **load)
    reward.progress = False
    return reward if aggregate == "sum" else _MeanReward(reward)


class _MeanReward:
    """An endogenous reward scored by its mean log-likelihood instead of its return."""

    def __init__(self, reward: Any) -> None:
        self.reward = reward

    def score_many(self, prompts: Sequence[Any], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        return self.reward.score_many(prompts, responses, system=system, aggregate="mean")


def _factory(target: str, options: GenerationOptions | None, settings: Mapping[str, Any]
             ) -> ListJudge:
    module_name, _, name = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), name)
    except ModuleNotFoundError:
        raise ValueError(f"judge spec {target!r}: no module {module_name!r} (is it on "
                         f"PYTHONPATH?); or write {GRAMMAR}") from None
    except AttributeError:
        raise ValueError(f"judge spec {target!r}: module {module_name!r} has no {name!r}") from None
    extra = dict(settings) if options is None else {**settings, "options": options}
    return as_list_judge(factory(**extra))
