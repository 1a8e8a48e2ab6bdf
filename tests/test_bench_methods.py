"""Every ``rewardmine bench --method`` end to end on RM-Bench and DSP: tiny local models, a judge on
a loopback OpenAI-compatible server, a factory, and the listwise path checked against the
scores the judge must have given."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from judge_fixtures import save_tiny_judge
from openai_stub import serve
from rewardmine.bench.dsp import RESPONSES
from rewardmine.cli import main
from rewardmine.testing import build_model, build_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "bench"
JUDGE = ["--option", "constrained=true", "--option", "thinking=false",
         "--option", "max_new_tokens=200", "--device", "cpu"]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tokenizer()
    build_model("llama", len(tokenizer), seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    pytest.importorskip("xgrammar")
    return save_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


def bench(name, out, *args):
    data = FIXTURES / ("rm-bench" if name == "rm-bench" else "dsp")
    assert main(["bench", name, "--data", str(data), "--out", str(out), "--resamples", "20",
                 *args]) == 0
    return json.loads((out / "summary.json").read_text())


def check(summary, name, items, method):
    keys = {"rm-bench": {"overall", "easy", "normal", "hard", "chat"},
            "dsp": {"overall", "academy", "business", "entertainment", "literature"}}[name]
    assert keys <= set(summary["intervals"]) and summary["items"] == items
    assert all(0.0 <= summary[k] <= 1.0 for k in keys)
    assert summary["run"]["method"] == method


@pytest.mark.parametrize("name", ["rm-bench", "dsp"])
@pytest.mark.parametrize("method", ["endogenous", "verifier"])
def test_scorer_methods_on_a_tiny_model(tiny_llama, tmp_path, name, method):
    summary = bench(name, tmp_path / "run", "--model", str(tiny_llama), "--method", method,
                    "--device", "cpu", "--limit", "2")
    check(summary, name, 2, method)


@pytest.mark.parametrize("name", ["rm-bench", "dsp"])
@pytest.mark.parametrize("method", ["judge", "judge-pointwise", "judge-pairwise"])
def test_judge_methods_on_a_tiny_judge(tiny_judge, tmp_path, name, method):
    summary = bench(name, tmp_path / "run", "--model", str(tiny_judge), "--method", method,
                    "--limit", "1", *JUDGE)
    check(summary, name, 1, method)
    assert summary["run"]["options"]["constrained"] is True
    items = (tmp_path / "run" / "items.jsonl").read_text()
    rows = [json.loads(line) for line in items.splitlines()]
    scores = rows[0]["scores_chosen"] + rows[0]["scores_rejected"] if name == "rm-bench" else [
        v for steer in rows[0]["scores"].values() for v in steer.values()]
    low, high = {"judge": (1, 5), "judge-pointwise": (1, 10), "judge-pairwise": (0, 5)}[method]
    assert all(low <= s <= high for s in scores)
    if method == "judge-pairwise":  # win counts: each request's wins add up to its pairs
        per_request = [scores] if name == "rm-bench" else [scores[k:k + 5]
                                                           for k in range(0, 20, 5)]
        n = len(per_request[0])
        assert all(sum(group) == n * (n - 1) / 2 for group in per_request)


def candidate_texts(name):
    """Per item id, the candidate texts in the order of the benchmark's rows."""
    out = {}
    if name == "rm-bench":
        for domain in ("chat", "code", "safety-refuse", "safety-response"):
            path = FIXTURES / "rm-bench" / f"{domain}_filtered.json"
            for record in json.loads(path.read_text()):
                out[f"{domain}/{record['id']}"] = [[*record["chosen"], *record["rejected"]]]
        return out
    records = json.loads((FIXTURES / "dsp" / "domain_specific_preference.test.json").read_text())
    for number, record in enumerate(records):
        out[str(number)] = [[record["responses"][r] for r in RESPONSES]] * 4
    return out


def row_scores(name, row):
    if name == "rm-bench":
        return [row["scores_chosen"] + row["scores_rejected"]]
    return [[row["scores"][steer][r] for r in RESPONSES] for steer in row["scores"]]


@pytest.mark.parametrize("name", ["rm-bench", "dsp"])
def test_listwise_judge_over_http_scores_each_candidate_by_its_verdict(tmp_path, name):
    with serve() as (url, state):
        summary = bench(name, tmp_path / "run", "--model", f"openai:stub@{url}", "--method",
                        "judge", "--option", "thinking=false")
        bodies = state["bodies"]
    # one call per item (RM-Bench: all six candidates) or per item and domain (DSP: five each)
    shown = [len(json.loads(b["messages"][-1]["content"])["responses"]) for b in bodies]
    assert shown == ([6] * summary["items"] if name == "rm-bench" else [5] * 4 * summary["items"])
    principles = {json.loads(b["messages"][-1]["content"])["principle"] for b in bodies}
    assert len(principles) == (1 if name == "rm-bench" else 4)
    # the stub scores the shown responses by length, longest 5, then 4, ... down to 1; so each
    # candidate's score must follow its own length whatever order it was shown in
    texts = candidate_texts(name)
    rows = [json.loads(line) for line in (tmp_path / "run" / "items.jsonl").read_text().split("\n")
            if line]
    assert sorted(r["id"] for r in rows) == sorted(texts)
    for row in rows:
        for group, scores in zip(texts[row["id"]], row_scores(name, row), strict=True):
            assert sorted(scores) == sorted(5 - min(k, 4) for k in range(len(group)))
            for i in range(len(group)):
                for j in range(len(group)):
                    if len(group[i]) > len(group[j]):
                        assert scores[i] >= scores[j], (row["id"], i, j)
                    if len(group[i]) == len(group[j]) and min(scores[i], scores[j]) > 1:
                        assert scores[i] != scores[j] or i == j


def make_length_scorer(model, options):
    """``--method test_bench_methods:make_length_scorer``: longer is better, model unused."""
    class Length:
        def score_many(self, prompts, responses, *, system=None):
            return [float(len(r)) for r in responses]
    assert model == "anything" and options == {"k": 1}
    return Length()


def test_factory_method_and_panel_of_judges(tmp_path):
    summary = bench("rm-bench", tmp_path / "factory", "--model", "anything", "--method",
                    "test_bench_methods:make_length_scorer", "--option", "k=1")
    assert summary["run"]["method"] == "test_bench_methods:make_length_scorer"
    with serve() as (url, state):
        summary = bench("dsp", tmp_path / "panel", "--model", f"openai:a@{url}", "--model",
                        f"openai:b@{url}", "--method", "judge", "--limit", "1")
        assert {b["model"] for b in state["bodies"]} == {"a", "b"}
    assert summary["run"]["model"] == [f"openai:a@{url}", f"openai:b@{url}"]
    # two identical judges agree, so the panel's order is theirs: D response longest or not
    check(summary, "dsp", 1, "judge")


def test_unknown_method_and_option_are_refused(tiny_llama, tmp_path, cli_error):
    def refused(out, *args):
        return cli_error(["bench", "rm-bench", "--data", str(FIXTURES / "rm-bench"), "--out",
                          str(tmp_path / out), "--resamples", "20", *args])

    assert re.search(r"unknown method 'judges'; known: .*'judge-pairwise'",
                     refused("a", "--model", "x", "--method", "judges"))
    assert re.search(r"unknown option\(s\) \['beams'\].*accepted: \[",
                     refused("b", "--model", "x", "--method", "judge", "--option", "beams=4"))
    assert re.search(r"GenerativeVerifier.from_pretrained\(\) got unknown option\(s\) \['beams'\]",
                     refused("c", "--model", str(tiny_llama), "--method", "verifier",
                             "--option", "beams=4"))
    assert "takes one --model" in refused("d", "--model", "x", "--model", "y")
