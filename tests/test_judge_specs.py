"""The judge spec grammar and GenerationOptions, on a real OpenAI-compatible server (loopback stub):
what reaches the wire, panels, factories, refusals, and ``rewardmine serve``'s judge flags."""

from __future__ import annotations

import argparse

import pytest

from openai_stub import serve
from rewardmine.judge.options import GenerationOptions, key_value, split_generation
from rewardmine.judge.panel import JudgePanel
from rewardmine.judge.specs import JudgeSpec, load_judge, parse_spec
from rewardmine.protocols import ScorerJudge

REQUEST = {"principle": "Longer is better.", "prompt": "Q", "responses": {"a": "x", "b": "xxx"}}


class LengthScorer:
    def score_many(self, prompts, responses, *, system=None):
        return [float(len(r)) for r in responses]


def make_length_scorer(**settings):
    """A factory for ``test_judge_specs:make_length_scorer``; records its settings."""
    scorer = LengthScorer()
    scorer.settings = settings
    return scorer


def test_grammar():
    assert parse_spec("principle:/models/judge") == JudgeSpec("principle", "/models/judge")
    assert parse_spec("openai:Qwen/Qwen3-8B@http://h:8000/v1") == JudgeSpec(
        "openai", "Qwen/Qwen3-8B", "http://h:8000/v1")
    assert parse_spec("endogenous:m").kind == "endogenous"
    assert parse_spec("pkg.mod:make") == JudgeSpec("factory", "pkg.mod:make")
    for bad in ("judge", "openai:model-without-url", "openai:m@ftp://x", "a b:c", "principle:"):
        with pytest.raises(ValueError, match="judge spec"):
            parse_spec(bad)


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


def test_factory_and_panel_specs():
    judge = load_judge("test_judge_specs:make_length_scorer", anything=1)
    assert isinstance(judge, ScorerJudge) and judge.scorer.settings == {"anything": 1}
    with serve() as (url, _):
        panel = load_judge([f"openai:one@{url}", "test_judge_specs:make_length_scorer"],
                           defaults={"on_invalid": "return"})
        assert isinstance(panel, JudgePanel) and list(panel.judges) == [
            "j1-one", "j2-test_judge_specs.make_length_scorer"]
        (verdict,) = panel.judge_many([REQUEST])
    assert verdict.ranking == ["b", "a"] and verdict.scores == {"b": 1.0, "a": 0.0}


def serve_args(*argv: str) -> argparse.Namespace:
    from rewardmine.server import cli as serve_cli

    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


def test_serve_sets_every_judge_option():
    pytest.importorskip("fastapi")
    requests = pytest.importorskip("requests")
    from rewardmine.server import cli as serve_cli
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
