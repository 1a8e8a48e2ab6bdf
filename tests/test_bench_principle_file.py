"""The principle-following list benchmark reads the file build-bench writes: metrics against the
consensus scores by hand, and a file written by rewardmine.buildbench.final scored end to end."""

from __future__ import annotations

import itertools
import json

import pytest

from rewardmine.bench.principle_file import PrincipleFile
from rewardmine.buildbench.final import benchmark_rows, write_benchmark
from rewardmine.cli import main
from rewardmine.io import read_jsonl
from rewardmine.testing import build_model, build_tokenizer


def consensus_row(number, dimension, scores, prompt="What is 2+2?"):
    ranking = sorted(scores, key=lambda r: -scores[r])
    return {"id": f"p{number}/q1", "principle": f"Principle {number}.", "dimension": dimension,
            "domain": "math", "prompt": prompt,
            "responses": {rid: f"answer {rid} " * (k + 1) for k, rid in enumerate(scores)},
            "ranking": ranking, "scores": scores, "keep": True, "judges": ["j1", "j2"],
            "filter": {"k": 2, "m": 2}}


def brute_accuracy(scores, grades):
    pairs = [(i, j) for i, j in itertools.permutations(range(len(grades)), 2)
             if grades[i] > grades[j]]
    return sum(scores[i] > scores[j] for i, j in pairs) / len(pairs)


def test_scores_file_metrics_by_hand(tmp_path):
    rows = [{"id": "a", "dimension": "style", "grades": [1.0, 0.5, 0.0], "scores": [3, 2, 1]},
            {"id": "b", "dimension": "tone", "grades": [1.0, 0.0, 0.0], "scores": [0, 1, 2]},
            {"id": "c", "dimension": "tone", "grades": [0.0, 1.0], "scores": [5, 5]}]
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["bench", "principles-build-bench", "--scores", str(path),
                 "--out", str(tmp_path / "run"), "--resamples", "20"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # a: 3 of 3 pairs right; b: 0 of 2 (the tied grades 0, 0 are not a pair); c: its one pair
    # is a tie, half right (strictly, it is wrong)
    assert [brute_accuracy(r["scores"], r["grades"]) for r in rows] == [1.0, 0.0, 0.0]
    assert summary["pairwise_accuracy"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert summary["tie_rates"]["pairwise_accuracy"] == pytest.approx(1 / 3)
    assert summary["figures"]["dimension/style"]["value"] == 1.0
    assert summary["figures"]["dimension/tone"]["value"] == 0.25
    # tau-b: a is +1; b by hand: concordant 0, discordant 2, ties in grades 1 -> -2/sqrt(3*2)
    assert summary["kendall_tau_b"] == pytest.approx((1 - 2 / 6 ** 0.5) / 2)  # c undefined
    assert summary["details"]["dimensions"]["tone"]["tied_pairs"] == 1


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"--data PATH/benchmark\.jsonl"):
        PrincipleFile().load(None)
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"id": "x", "principle": "p", "prompt": "q"}) + "\n")
    with pytest.raises(ValueError, match=r"b.jsonl:1 \(list 'x'\) lacks \['dimension'"):
        PrincipleFile().load(path)
    row = consensus_row(1, "style", {"r1": 0.5, "r2": 0.5})
    write_benchmark(path, benchmark_rows([row], None))
    with pytest.raises(ValueError, match="every consensus score is equal"):
        PrincipleFile().load(path)


def test_build_bench_file_scored_end_to_end(tmp_path):
    tokenizer = build_tokenizer()
    build_model("llama", len(tokenizer), seed=3).save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    rows = [consensus_row(1, "style", {"r1": 1.0, "r2": 0.25, "r3": 0.5}),
            consensus_row(2, "tone", {"r1": 0.0, "r2": 1.0}, prompt=[
                {"role": "user", "content": "Say hi."}]),
            {**consensus_row(3, "tone", {"r1": 1.0, "r2": 0.0}), "keep": False}]
    data = tmp_path / "benchmark.jsonl"
    write_benchmark(data, benchmark_rows(rows, None))
    out = tmp_path / "run"
    assert main(["bench", "principles-build-bench", "--model", str(tmp_path / "rm"),
                 "--data", str(data), "--out", str(out), "--resamples", "20"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    items = read_jsonl(out / "items.jsonl")
    assert summary["items"] == 2 and [r["id"] for r in items] == ["p1/q1", "p2/q1"]
    assert items[0]["grades"] == [1.0, 0.25, 0.5] and items[0]["responses"] == ["r1", "r2", "r3"]

    from rewardmine.endogenous import EndogenousReward

    reward = EndogenousReward.from_pretrained(str(tmp_path / "rm"))
    for row, item in zip(rows, items, strict=False):
        expected = reward.score(row["prompt"], list(row["responses"].values()),
                                system=row["principle"])
        assert item["scores"] == pytest.approx([float(v) for v in expected], rel=1e-5)
    accuracy = [brute_accuracy(item["scores"], item["grades"]) for item in items]
    assert summary["pairwise_accuracy"] == pytest.approx(sum(accuracy) / 2)
