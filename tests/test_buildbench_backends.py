"""build-bench with PrincipleJudge judges and OpenAI-compatible generators: spec parsing, the
endpoint generator against a real HTTP server on loopback, and a run end to end whose judges
include a constrained PrincipleJudge on a tiny local model and one behind the endpoint."""

from __future__ import annotations

import json

import pytest

from judge_fixtures import save_tiny_judge
from openai_stub import serve
from rewardmine.buildbench.specs import Spec, parse_generator
from rewardmine.cli import main
from rewardmine.io import read_jsonl
from rewardmine.specs import RewardSpec, parse_spec
from rewardmine.testing import build_model, build_tokenizer


def test_generator_specs():
    assert parse_generator("models/a") == Spec("local", "models/a")
    assert parse_generator("models/a:none") == Spec("local", "models/a", None, "none")
    assert parse_generator("openai:Qwen/Qwen3-8B@http://h:8000/v1:none") == Spec(
        "openai", "Qwen/Qwen3-8B", "http://h:8000/v1", "none")
    assert parse_generator("openai:m@x@https://h/v1").target == "m@x"
    assert parse_generator("openai:Qwen/Qwen3-8B@http://h/v1").label == "Qwen3-8B"
    for bad in ("openai:m", "openai:@http://h/v1", "openai:m@h:8000/v1", ":none"):
        with pytest.raises(ValueError, match="--generator"):
            parse_generator(bad)


def test_judge_specs_are_the_shared_grammar():
    # build-bench reads --judge with rewardmine.specs, like every command
    assert parse_spec("endogenous:m/j") == RewardSpec("endogenous", "m/j")
    assert parse_spec("openai:gpt-4o@https://api.openai.com/v1").label == "gpt-4o"
    for bad in ("m/j", "principle:", "openai:gpt-4o"):
        with pytest.raises(ValueError, match="reward spec"):
            parse_spec(bad)


TASKS = [{"id": f"p1/q{k}", "principle": "Be brief.", "prompt": f"Question {k}?"}
         for k in range(6)]


def test_endpoint_generator_order_concurrency_and_errors():
    from rewardmine.buildbench.remote import GeneratorError, OpenAIGenerator

    with serve(delay=0.05) as (url, state):
        generator = OpenAIGenerator(url, "stub-model", name="g1", samples=2, temperature=1.0,
                                    seed=10, concurrency=3, max_new_tokens=7)
        answers = generator.generate(TASKS)
        assert answers == [[f"stub-model seed {10 + s} follows: Question {k}?" for s in (0, 1)]
                           for k in range(6)]
        assert 1 < state["peak"] <= 3
        body = state["bodies"][0]
        assert body["max_tokens"] == 7 and body["temperature"] == 1.0
        assert body["messages"][0]["role"] == "system" and "Be brief." in body["messages"][0][
            "content"]
        free = OpenAIGenerator(url, "stub-model", name="g2", instruction="none")
        assert free.generate(TASKS[:1]) == [["stub-model seed 0 free: Question 0?"]]
        failing = OpenAIGenerator(url, "stub-model", name="g3", max_retries=0)
        with pytest.raises(GeneratorError, match=r"generator g3 .*task 'bad'.*request failed"):
            failing.generate([{"id": "bad", "principle": "p", "prompt": "FAIL please"}])
    with pytest.raises(ValueError, match="samples=2 with greedy"):
        OpenAIGenerator(url, "m", name="g4", samples=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    tokenizer = build_tokenizer()
    for name, arch, seed in (("gen", "llama", 1), ("reward", "qwen2", 4)):
        model = build_model(arch, len(tokenizer), seed=seed)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    save_tiny_judge(root / "judge", seed=2)
    return root


def test_run_with_principle_judges_and_an_endpoint_generator(models, tmp_path):
    pytest.importorskip("xgrammar")
    (tmp_path / "principles.jsonl").write_text(json.dumps({"principle": "Be brief.",
                                                           "dimension": "style"}) + "\n")
    (tmp_path / "prompts.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "domain": "chat"}) + "\n" for p in ("Hi?", "2+2?")))
    out = tmp_path / "run"
    with serve() as (url, state):
        assert main([
            "build-bench", "run", "--principles", str(tmp_path / "principles.jsonl"),
            "--prompts", str(tmp_path / "prompts.jsonl"), "--out", str(out),
            "--generator", str(models / "gen"), "--generator", f"openai:stub/chat@{url}",
            "--generator", f"openai:stub/chat@{url}:none",
            "--judge", f"principle:{models / 'judge'}", "--judge", f"openai:stub/judge@{url}",
            "--judge", f"endogenous:{models / 'reward'}", "--k", "2", "--min-responses", "2",
            "--max-new-tokens", "5", "--judge-max-new-tokens", "200", "--judge-thinking", "off",
            "--concurrency", "2"]) == 0
    candidates = read_jsonl(out / "candidates.jsonl")
    assert [sorted(row["sources"].values()) for row in candidates] == [
        ["g1-gen#0", "g2-chat#0", "g3-chat#0"]] * 2
    for row in candidates:
        by_source = {row["sources"][r]: text for r, text in row["responses"].items()}
        assert by_source["g2-chat#0"] == f"stub/chat seed 0 follows: {row['prompt']}"
        assert by_source["g3-chat#0"] == f"stub/chat seed 0 free: {row['prompt']}"
    judged = read_jsonl(out / "judgements.jsonl")
    for row, candidate in zip(judged, candidates, strict=True):
        assert list(row["judgements"]) == ["j1-judge", "j2-judge", "j3-reward"]
        local = row["judgements"]["j1-judge"]
        assert local["status"] == "ok", local["error"]  # constrained decoding: always valid
        assert sorted(local["ranking"]) == sorted(candidate["responses"])
        remote = row["judgements"]["j2-judge"]  # the stub prefers longer responses
        lengths = {r: len(t) for r, t in candidate["responses"].items()}
        assert remote["ranking"] == sorted(lengths, key=lambda r: -lengths[r])
    assert all(body["model"] in ("stub/chat", "stub/judge") for body in state["bodies"])
    assert state["peak"] <= 2
    rows = read_jsonl(out / "consensus.jsonl")
    assert all(row["filter"]["m"] == 3 for row in rows)

    # the finished benchmark is what the list benchmark runner scores
    assert main(["build-bench", "finish", "--out", str(out), "--unverified"]) == 0
    kept = [row["id"] for row in rows if row["keep"]]
    assert main(["bench", "principles-build-bench", "--model", str(models / "reward"),
                 "--data", str(out / "benchmark.jsonl"), "--out", str(tmp_path / "bench"),
                 "--resamples", "20"]) == 0
    summary = json.loads((tmp_path / "bench" / "summary.json").read_text())
    assert summary["items"] == len(kept) > 0
    assert 0 <= summary["pairwise_accuracy"] <= 1


def test_a_judge_context_error_names_the_judge_and_list(models, tmp_path):
    from rewardmine import ContextLengthError
    from rewardmine.buildbench.judging import judge_stage
    from rewardmine.judge import PrincipleJudge

    judge = PrincipleJudge.from_pretrained(str(models / "judge"),
                                           max_new_tokens=100, thinking=False, progress=False)
    candidates = [{"id": f"p1/q{k}", "principle": "p", "prompt": "q",
                   "responses": {"r1": "a", "r2": "b" * (0 if k == 0 else 3000)}}
                  for k in range(2)]
    with pytest.raises(ContextLengthError, match=r"judge big: list 'p1/q1' needs"):
        judge_stage(candidates, {"big": judge}, tmp_path / "judgements.jsonl")
