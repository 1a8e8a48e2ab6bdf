"""How a reward is named and loaded: one spec grammar for both families, one memoized loader.

Scorers (one number per response, ``score_many(prompts, responses, *, system=None)``):

- ``endogenous:PATH`` -- :class:`~rewardmine.EndogenousReward` of a local causal LM (a folder,
  a GGUF file or a hub id).
- ``logprobs:MODEL@BASE_URL`` -- the same reward from a vLLM or SGLang server's prompt
  log-probabilities: log pi(y|x), the local reward minus V(s_1), a constant per prompt
  (:class:`~rewardmine.endogenous.remote.RemoteEndogenousReward`; alpha 1 and terminal "zero").
- ``serve:URL`` -- the endogenous reward a ``rewardmine serve`` holds at URL
  (:class:`~rewardmine.endogenous.served.ServedReward`; it sums).
- ``classifier:PATH`` -- a trained reward model, ``AutoModelForSequenceClassification`` with one
  output (:class:`~rewardmine.classifier.ClassifierReward`).

List judges (``judge_many(requests)``: several responses to one prompt judged together):

- ``principle:PATH`` -- a :class:`~rewardmine.PrincipleJudge` on a local transformers model.
- ``openai:MODEL@BASE_URL`` -- a PrincipleJudge on an OpenAI-compatible chat server (vLLM,
  SGLang, OpenAI, ``transformers serve``).
- ``openai-completions:MODEL@BASE_URL`` -- the same through ``/v1/completions``: the prompt is
  rendered here with the judge model's tokenizer (the ``tokenizer`` setting, default MODEL) and
  sent as token ids, so text in a response is never a control token.

Either family: ``MODULE:FUNCTION`` -- ``FUNCTION(**settings)`` from an importable module,
returning a scorer or a list judge. Several specs make a
:class:`~rewardmine.judge.panel.JudgePanel` (Kemeny consensus; a scorer in it ranks by score).

For the model kinds the API key is the ``api_key`` setting, else ``$OPENAI_API_KEY``. A command
that takes one family may let a bare name mean its usual kind (``default=`` of
:func:`parse_spec`): a path or hub id is ``endogenous:`` or ``principle:``, a bare ``http(s)://``
URL is a ``serve:`` reward.

Settings: generation settings travel in one :class:`~rewardmine.judge.options.GenerationOptions`
(kinds that generate nothing leave them aside, so one command can set them for a mix); the
others are the keyword arguments of the reward and its loader (``aggregate``, ``alpha``,
``dtype``, ``mode``, ``constrained``, ``concurrency``, ...). An unknown one is refused with the
list of accepted ones before any model loads. :func:`load_reward` loads each (spec, settings)
once per process (trainers call their reward files over and over, from many threads).
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardmine.conversions import ScorerJudge, as_list_judge
from rewardmine.judge.options import GenerationOptions, split_generation
from rewardmine.models import LoadOptions
from rewardmine.protocols import ListJudge, Scorer, is_list_judge, is_scorer

ENDOGENOUS_KINDS = ("endogenous", "logprobs", "serve")
SCORER_KINDS = (*ENDOGENOUS_KINDS, "classifier")
JUDGE_KINDS = ("principle", "openai", "openai-completions")
KINDS = SCORER_KINDS + JUDGE_KINDS
_AT_URL = ("logprobs", "openai", "openai-completions")
_LOCAL = ("endogenous", "classifier", "principle")  # kinds whose target is a model path
GRAMMAR = ("endogenous:PATH, logprobs:MODEL@BASE_URL, serve:URL, classifier:PATH, principle:PATH, "
           "openai:MODEL@BASE_URL, openai-completions:MODEL@BASE_URL or MODULE:FUNCTION")

Reward = Scorer | ListJudge


@dataclass(frozen=True)
class RewardSpec:
    """A parsed spec: ``kind`` is one of :data:`KINDS` or "factory"; ``target`` is the path,
    the model's name (``MODEL@URL`` kinds), the URL (``serve``) or ``module:function``."""

    kind: str
    target: str
    base_url: str | None = None

    def __str__(self) -> str:
        if self.kind == "factory":
            return self.target
        at = f"@{self.base_url}" if self.base_url else ""
        return f"{self.kind}:{self.target}{at}"

    @property
    def label(self) -> str:
        """A short name for files and logs: the path's or model's last part."""
        return self.target.rstrip("/").rsplit("/", 1)[-1].replace(":", ".")


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def parse_spec(spec: str | RewardSpec, *, default: str | None = None) -> RewardSpec:
    """Parse one spec; a malformed one is an error that shows the grammar.

    ``default`` is the kind of a bare name (no ``KIND:`` prefix, or an existing path): a
    command of one family names its usual kind ("endogenous" or "principle"). With the
    default "endogenous", a bare ``http(s)://`` URL is a ``serve:`` reward.
    """
    if isinstance(spec, RewardSpec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a reward spec is a string ({GRAMMAR}), not {type(spec).__name__}")
    kind, sep, rest = spec.partition(":")
    if default is not None and kind not in KINDS:
        if default == "endogenous" and _is_url(spec):
            return RewardSpec("serve", spec)
        if not sep or Path(spec).exists():
            if default not in _LOCAL:
                raise ValueError(f"a bare name means one of {list(_LOCAL)}, not {default!r}")
            return _checked(spec, RewardSpec(default, spec))
    if not sep or not kind or not rest:
        raise ValueError(f"reward spec {spec!r}: write {GRAMMAR}")
    if kind in _AT_URL:
        model, at, url = rest.rpartition("@")
        if not at or not model or not _is_url(url):
            raise ValueError(f"reward spec {spec!r}: write {kind}:MODEL@BASE_URL, e.g. "
                             f"{kind}:Qwen/Qwen3-8B@http://localhost:8000/v1")
        return RewardSpec(kind, model, url)
    if kind == "serve":
        if not _is_url(rest):
            raise ValueError(f"reward spec {spec!r}: write serve:URL, e.g. "
                             "serve:http://localhost:8000")
        return RewardSpec(kind, rest)
    if kind in KINDS:
        return _checked(spec, RewardSpec(kind, rest))
    if not all(part.isidentifier() for part in kind.split(".")) or not rest.isidentifier():
        raise ValueError(f"reward spec {spec!r}: write {GRAMMAR}")
    return RewardSpec("factory", spec)


def _checked(spec: str, parsed: RewardSpec) -> RewardSpec:
    if not parsed.target.strip():
        raise ValueError(f"reward spec {spec!r} names no model; write {GRAMMAR}")
    return parsed


def resolve_spec(spec: str | RewardSpec, *, default: str | None = None) -> str:
    """``spec`` with a local model path made absolute (:func:`rewardmine.models.resolve_source`),
    so that it names the same model in a Ray worker or another working directory."""
    from rewardmine.models import resolve_source

    parsed = parse_spec(spec, default=default)
    if parsed.kind in _LOCAL:
        return f"{parsed.kind}:{resolve_source(parsed.target)}"
    return str(parsed)


# ------------------------------------------------------------------------------------ loading

_LOADED: dict[str, Reward] = {}
_LOCK = threading.Lock()


def load_reward(spec: str | RewardSpec | Sequence[str | RewardSpec], *,
                options: GenerationOptions | None = None,
                defaults: Mapping[str, Any] | None = None, default: str | None = None,
                memoize: bool = True, **settings: Any) -> Reward:
    """The scorer or list judge a spec names (several specs: a panel of them, a list judge).

    Args:
        spec: one spec (see the module docstring), or several for a
            :class:`~rewardmine.judge.panel.JudgePanel` whose members share the settings.
        options: generation options of the PrincipleJudge kinds; the fields may also come one by
            one in ``settings`` (``max_new_tokens=``, ``thinking=``, ...).
        defaults: settings for the kinds that take them, skipped by the others (a command's
            own defaults, such as ``on_invalid="return"``); ``settings`` override them.
        default: the kind of a bare name (see :func:`parse_spec`).
        memoize: return the reward already loaded in this process for the same spec and
            settings (settings that are not plain data, such as a tokenizer object, load anew).
        settings: keyword arguments of the reward and its loader; a factory receives them.

    Example:
        >>> reward = load_reward("endogenous:HuggingFaceTB/SmolLM2-135M-Instruct",
        ...                      aggregate="mean")                                  # doctest: +SKIP
        >>> judge = load_reward("openai:Qwen/Qwen3-8B@http://localhost:8000/v1",
        ...                     options=GenerationOptions(max_new_tokens=1024))    # doctest: +SKIP
    """
    if not isinstance(spec, (str, RewardSpec)):
        specs = [parse_spec(s, default=default) for s in spec]
        if not specs:
            raise ValueError(f"no reward spec given; write {GRAMMAR}")
        if len(specs) == 1:
            return load_reward(specs[0], options=options, defaults=defaults, memoize=memoize,
                               **settings)
        from rewardmine.judge.panel import JudgePanel

        for parsed in specs:  # refuse bad settings before loading any model
            check_settings(parsed, settings)
        return JudgePanel({f"j{k}-{p.label}": load_judge(p, options=options, defaults=defaults,
                                                         memoize=memoize, **settings)
                           for k, p in enumerate(specs, start=1)})
    parsed = parse_spec(spec, default=default)
    check_settings(parsed, settings)
    if defaults and parsed.kind != "factory":
        accepted = set(accepted_settings(parsed.kind))
        settings = {**{k: v for k, v in defaults.items() if k in accepted}, **settings}
    if parsed.kind in _LOCAL:
        from rewardmine.models import resolve_source

        parsed = RewardSpec(parsed.kind, resolve_source(parsed.target))
    key = _memo_key(parsed, options, settings) if memoize else None
    if key is None:
        return _load(parsed, options, settings)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(parsed, options, settings)
        return _LOADED[key]


def load_judge(spec: str | RewardSpec | Sequence[str | RewardSpec], *,
               options: GenerationOptions | None = None,
               defaults: Mapping[str, Any] | None = None, default: str | None = "principle",
               memoize: bool = True, **settings: Any) -> ListJudge:
    """:func:`load_reward` as a list judge: a scorer ranks each request's responses by score,
    with the request's principle written into the ``system_template`` setting (default
    ``"{principle}"``) as its system prompt. A bare path is a ``principle:`` judge."""
    template = settings.pop("system_template", "{principle}")
    reward = load_reward(spec, options=options, defaults=defaults, default=default,
                         memoize=memoize, **settings)
    if is_list_judge(reward):
        return reward  # type: ignore[return-value]
    return ScorerJudge(reward, system_template=template)  # type: ignore[arg-type]


def load_scorer(spec: str | RewardSpec, *, default: str | None = "endogenous",
                defaults: Mapping[str, Any] | None = None, memoize: bool = True,
                **settings: Any) -> Scorer:
    """:func:`load_reward` where a scorer is needed (one number per response, token ids for the
    RL adapters); a list judge is refused with the kinds that fit. A bare path is an
    ``endogenous:`` reward, a bare URL a ``serve:`` one."""
    reward = load_reward(spec, default=default, defaults=defaults, memoize=memoize, **settings)
    if not is_scorer(reward):
        raise ValueError(f"{spec} is a list judge, and a scorer is needed here: use "
                         "endogenous:PATH, logprobs:MODEL@BASE_URL, serve:URL or a "
                         "MODULE:FUNCTION returning an object with score_many")
    return reward  # type: ignore[return-value]


def _memo_key(spec: RewardSpec, options: GenerationOptions | None,
              settings: Mapping[str, Any]) -> str | None:
    """The identity of a load, or None when a setting is not plain data (objects load anew)."""

    def plain(value: Any) -> bool:
        if value is None or isinstance(value, (str, int, float, bool)):
            return True
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        if isinstance(value, Mapping):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return False

    if not all(plain(v) for v in settings.values()):
        return None
    return json.dumps([str(spec), options.to_dict() if options else None, dict(settings)],
                      sort_keys=True)


def clear_loaded() -> None:
    """Forget the memoized rewards (tests; a long-lived process that swaps models)."""
    with _LOCK:
        _LOADED.clear()


def _load(spec: RewardSpec, options: GenerationOptions | None,
          settings: Mapping[str, Any]) -> Reward:
    settings = dict(settings)
    if spec.kind == "factory":
        return _factory(spec.target, options, settings)
    if spec.kind in SCORER_KINDS:
        settings = {k: v for k, v in settings.items() if k not in GenerationOptions.names()}
        if spec.kind == "serve":
            from rewardmine.endogenous.served import ServedReward

            return ServedReward(spec.target, **settings)
        if spec.kind == "classifier":
            from rewardmine.classifier import ClassifierReward

            return ClassifierReward.from_pretrained(spec.target, **settings)
        from rewardmine.endogenous import EndogenousReward

        if spec.kind == "endogenous":
            return EndogenousReward.from_pretrained(spec.target, **settings)
        assert spec.base_url is not None
        settings["api_key"] = settings.get("api_key") or os.environ.get("OPENAI_API_KEY") or None
        return EndogenousReward.from_server(spec.base_url, spec.target, **settings)
    from rewardmine.judge.judge import PrincipleJudge

    generation, rest = split_generation(settings, options)
    if spec.kind == "principle":
        return PrincipleJudge.from_pretrained(spec.target, options=generation, **rest)
    assert spec.base_url is not None
    api_key = rest.pop("api_key", None) or os.environ.get("OPENAI_API_KEY") or None
    if spec.kind == "openai-completions":
        rest["endpoint"] = "completions"
    return PrincipleJudge.from_openai(spec.base_url, spec.target, api_key=api_key,
                                      options=generation, **rest)


def _factory(target: str, options: GenerationOptions | None, settings: Mapping[str, Any]
             ) -> Reward:
    factory = import_target(target, f"reward spec {target!r}", hint=f"or write {GRAMMAR}")
    extra = dict(settings) if options is None else {**settings, "options": options}
    reward = factory(**extra)
    if is_scorer(reward) or is_list_judge(reward):
        return reward
    return as_list_judge(reward)  # raises, naming what the factory returned


def import_target(target: str, where: str, *, hint: str = "") -> Any:
    """The object ``MODULE:NAME`` names (every ``MODULE:FUNCTION`` option imports through here);
    a missing module or name is a one-line error that starts with ``where``."""
    module_name, _, name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), name)
    except ModuleNotFoundError as error:
        if error.name and not module_name.startswith(error.name):
            raise  # the module exists but an import inside it failed: that is its own error
        raise ValueError(f"{where}: no module {module_name!r} (is it on PYTHONPATH?)"
                         + (f"; {hint}" if hint else "")) from None
    except AttributeError:
        raise ValueError(f"{where}: module {module_name!r} has no {name!r}") from None


# ----------------------------------------------------------------------------------- settings

def accepted_settings(kind: str) -> list[str]:
    """The setting names a spec kind takes: the ``OPTIONS`` its classes declare, plus the
    :class:`~rewardmine.models.LoadOptions` fields for a local model (a factory: whatever its
    function takes)."""
    load = set(LoadOptions.names())
    if kind == "endogenous":
        from rewardmine.endogenous import EndogenousReward

        return sorted(load | EndogenousReward.OPTIONS)
    if kind == "logprobs":
        from rewardmine.endogenous.remote import RemoteEndogenousReward

        # EndogenousReward.from_server's own: the judge model's tokenizer, alpha and terminal
        return sorted(RemoteEndogenousReward.OPTIONS | {"tokenizer", "alpha", "terminal"})
    if kind == "serve":
        from rewardmine.endogenous.served import ServedReward

        return sorted(ServedReward.OPTIONS)
    if kind == "classifier":
        from rewardmine.classifier import ClassifierReward

        return sorted(load | ClassifierReward.OPTIONS)
    from rewardmine.judge.judge import PrincipleJudge

    judge = PrincipleJudge.OPTIONS - {"options"} | set(GenerationOptions.names())
    if kind == "principle":
        from rewardmine.judge.backends.local import TransformersBackend

        return sorted(judge | TransformersBackend.OPTIONS | load)
    if kind in ("openai", "openai-completions"):
        from rewardmine.judge.backends.openai import OpenAIBackend

        fixed = {"endpoint"} if kind == "openai-completions" else set()
        return sorted(judge | OpenAIBackend.OPTIONS - fixed)
    raise ValueError(f"unknown reward kind {kind!r}; known: {list(KINDS)}")


def check_settings(spec: RewardSpec, settings: Mapping[str, Any]) -> None:
    """Refuse settings a spec does not take, naming the accepted ones. Generation settings are
    left aside by the kinds that generate nothing, so one command can set them for a mix."""
    if spec.kind == "factory":
        return
    accepted = accepted_settings(spec.kind)
    ignored = set(GenerationOptions.names()) if spec.kind in SCORER_KINDS else set()
    unknown = sorted(set(settings) - set(accepted) - ignored)
    if unknown:
        raise ValueError(f"{spec}: unknown option(s) {unknown}; accepted: {accepted}")
