"""The benchmarks and the scoring methods of ``rewardmine bench``, created by name.

A method is a factory ``factory(model, options)`` returning a :class:`~rewardmine.protocols.Scorer`
(one score per response) or a :class:`~rewardmine.protocols.ListJudge` (all candidates of an item
judged in one call); ``model`` is one string, or a list of them where a method takes several
(the judge methods: a panel). Built in:

- ``endogenous``: the endogenous reward; ``model`` is a scorer spec (``endogenous:PATH``,
  ``logprobs:MODEL@URL``, ``serve:URL``; a bare path means ``endogenous:PATH``), options
  ``dtype``, ``device``, ``alpha``, ``terminal``, ``aggregate``, ... (:mod:`rewardmine.specs`).
- ``classifier``: a trained reward model (:class:`~rewardmine.classifier.ClassifierReward`,
  ``AutoModelForSequenceClassification`` with one output; ``model`` a path or hub id).
- ``verifier``: :class:`~rewardmine.judge.baselines.GenerativeVerifier`, log p("Yes").
- ``judge``: the listwise :class:`~rewardmine.PrincipleJudge`; ``judge-pointwise`` rates each
  response alone on 1-10 (GenRM-pointwise); ``judge-pairwise`` compares every pair (GenRM-pairwise).
  ``model`` is a reward spec (:mod:`rewardmine.specs`: ``principle:PATH``, ``openai:MODEL@URL``,
  ``endogenous:PATH``, ``MODULE:FUNCTION``, ...; a bare path means ``principle:PATH``); several
  make a Kemeny panel.
- ``length-short``, ``length-long``, ``position-first``: the model-free baselines of
  :mod:`rewardmine.bench.baselines` (``--model`` is ignored; give any text, e.g. ``none``).
- ``MODULE:FUNCTION``: any importable factory with the signature above.

A method registered with a ``kind`` ("scalar" or "generative") says which tie rule applies to it
before it is built (``--engine ray`` builds it elsewhere); otherwise the kind is read from the
reward it returns (:func:`rewardmine.bench.metrics.scorer_kind`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardmine.bench.base import Benchmark
from rewardmine.bench.baselines import BASELINES, BaselineScorer
from rewardmine.bench.dsp import DSP
from rewardmine.bench.hhrlhf import HHRLHF, SPLITS
from rewardmine.bench.metrics import ScorerKind
from rewardmine.bench.multifaceted import MultifacetedBench
from rewardmine.bench.preferences import PreferenceData
from rewardmine.bench.principle_file import PrincipleFile
from rewardmine.bench.principles import PrincipleLists
from rewardmine.bench.rewardbench import RewardBench
from rewardmine.bench.rewardbench2 import RewardBench2
from rewardmine.bench.rmbench import RMBench
from rewardmine.judge.modes import GENRM_PAIRWISE, GENRM_POINTWISE
from rewardmine.protocols import ListJudge, Scorer, is_list_judge, is_scorer

Reward = Scorer | ListJudge
MethodFactory = Callable[[Any, Mapping[str, Any]], Reward]
BenchmarkFactory = Callable[[Mapping[str, Any]], Benchmark]
_METHODS: dict[str, MethodFactory] = {}
_KINDS: dict[str, ScorerKind] = {}


def register_method(name: str, factory: MethodFactory, *, kind: ScorerKind | None = None) -> None:
    """Make ``--method name`` build its reward with ``factory(model, options)``; ``kind`` says
    whether it is a scalar scorer or a generative judge (for the tie rule) before it is built."""
    _METHODS[name] = factory
    if kind is not None:
        _KINDS[name] = kind
    else:
        _KINDS.pop(name, None)


def method_kind(method: str) -> ScorerKind | None:
    """The kind a method was registered with, or None when only its reward can tell."""
    return _KINDS.get(method)


def methods() -> list[str]:
    return sorted(_METHODS)


def make_method(method: str, model: str | Sequence[str],
                options: Mapping[str, Any] | None = None) -> Reward:
    """The scorer or list judge of ``method`` for ``model``; unknown methods name the known ones."""
    if method in _METHODS:
        factory = _METHODS[method]
    elif ":" in method:
        factory = _import_factory(method)
    else:
        raise ValueError(f"unknown method {method!r}; known: {methods()} or MODULE:FUNCTION "
                         "(others register themselves with rewardmine.bench.register_method)")
    if not isinstance(model, str):
        model = list(model)
        if len(model) == 1:
            model = model[0]
    reward = factory(model, dict(options or {}))
    if not (is_scorer(reward) or is_list_judge(reward)):
        raise TypeError(f"method {method!r} returned a {type(reward).__name__}, which has neither "
                        "score_many (a scorer) nor judge_many (a list judge)")
    return reward


def _import_factory(target: str) -> MethodFactory:
    from rewardmine.specs import import_target

    return import_target(target, f"method {target!r}", hint=f"known methods: {methods()}")


def _one_model(method: str, model: Any) -> str:
    if not isinstance(model, str):
        raise ValueError(f"method {method!r} takes one --model, got {len(model)}; several models "
                         "make a panel with the judge methods only")
    return model


def _endogenous(model: Any, options: Mapping[str, Any]) -> Scorer:
    from rewardmine.specs import load_scorer

    return load_scorer(_one_model("endogenous", model), defaults={"progress": False}, **options)


def _verifier(model: Any, options: Mapping[str, Any]) -> Scorer:
    from rewardmine.judge.baselines import GenerativeVerifier

    # an unknown option is refused before the model loads, naming the accepted ones
    return GenerativeVerifier.from_pretrained(_one_model("verifier", model), **options)


def _judge_method(preset: Mapping[str, Any]) -> MethodFactory:
    """A factory of judges in one mode: a PrincipleJudge, or a panel of them for several specs."""

    def factory(model: Any, options: Mapping[str, Any]) -> ListJudge:
        from rewardmine.judge.baselines import DEFAULT_PRINCIPLE
        from rewardmine.specs import load_judge

        # a benchmark item needs numbers: an invalid verdict comes back to the runner, which
        # names the item; benchmarks without a steering text are judged by the default principle
        defaults = {**preset, "on_invalid": "return", "progress": False,
                    "principle": DEFAULT_PRINCIPLE}
        return load_judge(model, defaults=defaults, **options)

    return factory


JUDGE_METHODS = {"judge": {"mode": "listwise"}, "judge-pointwise": GENRM_POINTWISE,
                 "judge-pairwise": GENRM_PAIRWISE}
"""The methods whose ``model`` is a judge spec (a bare path: ``principle:PATH``)."""

def _baseline(name: str) -> MethodFactory:
    def factory(model: Any, options: Mapping[str, Any]) -> Scorer:
        if options:
            raise ValueError(f"method {name!r} takes no options, got {sorted(options)}")
        return BaselineScorer(name)  # type: ignore[arg-type]

    return factory


def _classifier(model: Any, options: Mapping[str, Any]) -> Scorer:
    from rewardmine.specs import load_scorer

    return load_scorer(_one_model("classifier", model), default="classifier", **options)


register_method("endogenous", _endogenous, kind="scalar")
register_method("classifier", _classifier, kind="scalar")
register_method("verifier", _verifier, kind="scalar")
for _name, _preset in JUDGE_METHODS.items():
    register_method(_name, _judge_method(_preset), kind="generative")
for _name in BASELINES:
    register_method(_name, _baseline(_name), kind="scalar")


def _texts(options: Mapping[str, Any], key: str) -> dict[str, str] | None:
    path = options.get(key)
    return json.loads(Path(path).read_text(encoding="utf-8")) if path else None


_BENCHMARKS: dict[str, BenchmarkFactory] = {
    "rm-bench": lambda o: RMBench(),
    "rewardbench": lambda o: RewardBench(),
    "rewardbench2": lambda o: RewardBench2(),
    "dsp": lambda o: DSP(systems=_texts(o, "system_prompts")),
    "hh-rlhf": lambda o: HHRLHF(splits=o.get("splits") or SPLITS),
    "multifaceted": lambda o: MultifacetedBench(),
    "principles-rm-bench": lambda o: PrincipleLists(source="rm-bench",
                                                    principles=_texts(o, "principles")),
    "principles-dsp": lambda o: PrincipleLists(source="dsp", principles=_texts(o, "principles")),
    "principles-build-bench": lambda o: PrincipleFile(),
    "preferences": lambda o: PreferenceData(columns=o.get("columns"),
                                            split=o.get("split") or "test"),
}
BENCHMARKS = tuple(_BENCHMARKS)
"""The benchmark names, in the order the command line lists them."""


def make_benchmark(name: str, settings: Mapping[str, Any] | None = None) -> Benchmark:
    """The benchmark called ``name``; ``settings`` are its own (``system_prompts``,
    ``principles``: JSON files of texts; ``splits``: the HH-RLHF splits; ``columns``, ``split``:
    the preference file's column mapping and hub split)."""
    if name not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {list(BENCHMARKS)}")
    return _BENCHMARKS[name](dict(settings or {}))
