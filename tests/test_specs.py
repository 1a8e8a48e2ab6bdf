"""The reward spec grammar, its memoized loader and GenerationOptions, on a real OpenAI-compatible
server (loopback stub): what reaches the wire, panels, factories, refusals, and ``rewardmine
serve``'s judge flags."""

from __future__ import annotations

import argparse

import pytest

from openai_stub import serve
from rewardmine.cli.flags import key_value
from rewardmine.conversions import ScorerJudge
from rewardmine.judge.options import GenerationOptions, split_generation
from rewardmine.judge.panel import JudgePanel
from rewardmine.specs import (
    RewardSpec,
    clear_loaded,
    load_judge,
    load_reward,
    load_scorer,
    parse_spec,
)

REQUEST = {"principle": "Longer is better.", "prompt": "Q", "responses": {"a": "x", "b": "xxx"}}


class LengthScorer:
    def score_many(self, prompts, responses, *, system=None):
        return [float(len(r)) for r in responses]


def make_length_scorer(**settings):
    """A factory for ``test_specs:make_length_scorer``; records its settings."""
    scorer = LengthScorer()
    scorer.settings = settings
    return scorer


def test_grammar():
    assert parse_spec("principle:/models/judge") == RewardSpec("principle", "/models/judge")
    assert parse_spec("openai:Qwen/Qwen3-8B@http://h:8000/v1") == RewardSpec(
        "openai", "Qwen/Qwen3-8B", "http://h:8000/v1")
    assert parse_spec("logprobs:org/m@http://h:8000/v1") == RewardSpec(
        "logprobs", "org/m", "http://h:8000/v1")
    assert parse_spec("serve:http://h:8000") == RewardSpec("serve", "http://h:8000")
    assert parse_spec("endogenous:m").kind == "endogenous"
    assert parse_spec("pkg.mod:make") == RewardSpec("factory", "pkg.mod:make")
    for text in ("principle:/models/judge", "openai:Qwen/Qwen3-8B@http://h:8000/v1",
                 "logprobs:org/m@http://h:8000/v1", "serve:http://h:8000", "pkg.mod:make"):
        assert str(parse_spec(text)) == text  # printing a spec gives the spec back
    for bad in ("judge", "openai:model-without-url", "openai:m@ftp://x", "a b:c", "principle:",
                "logprobs:m", "serve:h:8000", "serve:"):
        with pytest.raises(ValueError, match="reward spec"):
            parse_spec(bad)
    # a bare name is the kind a command reads; a bare URL is a reward server
    assert parse_spec("Qwen/Qwen3-8B", default="endogenous") == RewardSpec("endogenous",
                                                                           "Qwen/Qwen3-8B")
    assert parse_spec("m/j", default="principle") == RewardSpec("principle", "m/j")
    assert parse_spec("http://h:8000", default="endogenous") == RewardSpec("serve",
                                                                           "http://h:8000")
    assert parse_spec("openai:m@http://h/v1", default="endogenous").kind == "openai"
    with pytest.raises(ValueError, match="reward spec"):
        parse_spec("Qwen/Qwen3-8B")


def test_loads_are_memoized_per_spec_and_settings(saved_model, monkeypatch):
    clear_loaded()
    one = load_scorer(str(saved_model), progress=False)
    assert load_scorer(f"endogenous:{saved_model}", progress=False) is one
    monkeypatch.chdir(saved_model.parent)  # a relative path names the same model
    assert load_reward(f"endogenous:{saved_model.name}", progress=False) is one
    means = load_scorer(str(saved_model), progress=False, aggregate="mean")
    assert means is not one and means.aggregate == "mean" and one.aggregate == "sum"
    assert load_scorer(str(saved_model), progress=False, memoize=False) is not one
    assert means.score_many(["Q"], ["A"]) == one.score_many(["Q"], ["A"], aggregate="mean")


def test_load_scorer_refuses_a_judge_and_each_kind_checks_its_settings():
    with serve() as (url, _), pytest.raises(ValueError, match="a scorer is needed"):
        load_scorer(f"openai:stub@{url}")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['dtype'\]"):
        load_scorer("logprobs:m@http://127.0.0.1:9/v1", dtype="bfloat16")
    with pytest.raises(ValueError, match="a rewardmine server sums token rewards"):
        load_scorer("serve:http://127.0.0.1:9", aggregate="mean")
    with pytest.raises(ValueError, match=r"\['alpha'\]"):
        load_scorer("serve:http://127.0.0.1:9", alpha=2.0)


def test_generation_options_are_typed_and_reach_the_server():
    with pytest.raises(TypeError, match="max_new_tokens must be a int"):
        GenerationOptions(max_new_tokens="5")
    with pytest.raises(ValueError, match="top_p"):
        GenerationOptions(top_p=0)
    with pytest.raises(TypeError, match="unknown generation option"):
        GenerationOptions().replace(max_tokens=3)
    options, rest = split_generation({"thinking": False, "mode": "pairwise"})
    assert options == GenerationOptions(thinking=False) and rest == {"mode": "pairwise"}
    assert key_value("scale=[1, 10]") == ("scale", [1, 10]) and key_value("x=a b") == ("x", "a b")
    with serve() as (url, state):
        judge = load_judge(f"openai:stub@{url}",
                           options=GenerationOptions(max_new_tokens=77, temperature=0.5,
                                                     top_p=0.9, thinking=False, seed=3),
                           permutations=2)
        (verdict,) = judge.judge_many([REQUEST])
        assert verdict.ok and verdict.ranking == ["b", "a"]
        bodies = state["bodies"]
    assert len(bodies) == 2  # two permutations
    for body in bodies:
        assert (body["max_tokens"], body["temperature"], body["top_p"]) == (77, 0.5, 0.9)
        assert body["chat_template_kwargs"] == {"enable_thinking": False}
    # the seed fixes the sampling seeds and the orders shown
    with serve() as (url, state):
        load_judge(f"openai:stub@{url}", seed=3, permutations=2).judge_many([REQUEST])
        assert sorted(b["seed"] for b in state["bodies"]) == sorted(b["seed"] for b in bodies)


def test_unknown_settings_are_refused_before_loading():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['permutation'\]; accepted: \["):
        load_judge("principle:/does/not/exist", permutation=2)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['mode'\]"):
        load_judge("endogenous:/does/not/exist", mode="pairwise", max_new_tokens=5)
    with pytest.raises(ValueError, match="no module 'no_such_module'"):
        load_judge("no_such_module:make")
    with pytest.raises(ValueError, match="has no 'nothing'"):
        load_judge("test_specs:nothing")


def test_factory_and_panel_specs():
    judge = load_judge("test_specs:make_length_scorer", anything=1)
    assert isinstance(judge, ScorerJudge) and judge.scorer.settings == {"anything": 1}
    with serve() as (url, _):
        panel = load_judge([f"openai:one@{url}", "test_specs:make_length_scorer"],
                           defaults={"on_invalid": "return"})
        assert isinstance(panel, JudgePanel) and list(panel.judges) == [
            "j1-one", "j2-test_specs.make_length_scorer"]
        (verdict,) = panel.judge_many([REQUEST])
    assert verdict.ranking == ["b", "a"] and verdict.scores == {"b": 1.0, "a": 0.0}


def serve_args(*argv: str) -> argparse.Namespace:
    from rewardmine.cli import serve as serve_cli

    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


def test_serve_sets_every_judge_option():
    pytest.importorskip("fastapi")
    requests = pytest.importorskip("requests")
    from rewardmine.cli import serve as serve_cli
    from rewardmine.server.run import BackgroundServer

    with serve() as (url, state):
        app = serve_cli.build(serve_args(
            "--in-process", "--judge", f"openai:stub@{url}", "--judge-max-new-tokens", "64",
            "--judge-thinking", "off", "--judge-top-p", "0.5", "--judge-temperature", "0.7",
            "--judge-option", "permutations=3", "--judge-option", "response_format=none"))
        with BackgroundServer(app) as server:
            verdict = requests.post(server.url + "/v1/judge", json=REQUEST, timeout=30).json()
        assert verdict["ranking"] == ["b", "a"] and verdict["repairs"] == []
        assert len(state["bodies"]) == 3
        for body in state["bodies"]:
            assert (body["max_tokens"], body["top_p"], body["temperature"]) == (64, 0.5, 0.7)
            assert body["chat_template_kwargs"] == {"enable_thinking": False}
            assert "response_format" not in body
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['beams'\]"):
        serve_cli.build(serve_args("--judge", f"openai:stub@{url}", "--judge-option", "beams=2"))
    with pytest.raises(SystemExit, match="judge options need a judge"):
        serve_cli.build(serve_args("--endogenous-model", "m", "--judge-max-new-tokens", "5"))


@pytest.mark.parametrize("cls", [
    "rewardmine.endogenous.scorer:EndogenousReward",
    "rewardmine.endogenous.remote:RemoteEndogenousReward",
    "rewardmine.endogenous.served:ServedReward",
    "rewardmine.classifier:ClassifierReward",
    "rewardmine.judge.judge:PrincipleJudge",
    "rewardmine.judge.backends.local:TransformersBackend",
    "rewardmine.judge.backends.openai:OpenAIBackend",
    "rewardmine.judge.baselines:GenerativeVerifier",
    "rewardmine.buildbench.generate:TransformersGenerator",
])
def test_declared_options_are_the_constructor_keywords(cls):
    """Each class declares its keyword options once (``OPTIONS``, read by the spec loader, the
    ``from_pretrained`` checks and the judge's option split instead of introspecting at run time);
    this holds the declaration to the constructor, so adding a keyword without declaring it fails."""
    import inspect

    from rewardmine.specs import import_target

    target = import_target(cls, "test")
    keywords = {p.name for p in inspect.signature(target.__init__).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == target.OPTIONS


def test_logprob_settings_are_what_from_server_takes():
    """``logprobs:`` specs load through ``EndogenousReward.from_server``: its own keywords plus the
    options it passes on to ``RemoteEndogenousReward``."""
    import inspect

    from rewardmine.endogenous import EndogenousReward
    from rewardmine.endogenous.remote import RemoteEndogenousReward
    from rewardmine.specs import accepted_settings

    own = {p.name for p in inspect.signature(EndogenousReward.from_server).parameters.values()
           if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(accepted_settings("logprobs")) == own | RemoteEndogenousReward.OPTIONS
