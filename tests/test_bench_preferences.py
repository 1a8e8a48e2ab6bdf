"""Your own preference data as a benchmark: every supported shape read, the column mapping, and
the figures against an independent computation of the pairwise rule."""

from __future__ import annotations

import json

import pytest

from rewardmine.bench.preferences import PreferenceData, read_preference
from rewardmine.bench.registry import make_benchmark
from rewardmine.bench.runner import run_benchmark

CHAT = [{"role": "user", "content": "2+2?"}]


def test_every_shape_gives_prompt_responses_and_grades():
    assert read_preference({"prompt": "Q", "chosen": "a", "rejected": "b"}, "r") == (
        "Q", ["a", "b"], [1.0, 0.0])
    explicit = {"prompt": CHAT, "chosen": [{"role": "assistant", "content": "4"}],
                "rejected": [{"role": "assistant", "content": "5"}]}
    assert read_preference(explicit, "r") == (CHAT, ["4", "5"], [1.0, 0.0])
    implicit = {"chosen": [*CHAT, {"role": "assistant", "content": "4"}],
                "rejected": [*CHAT, {"role": "assistant", "content": "5"}]}
    assert read_preference(implicit, "r") == (CHAT, ["4", "5"], [1.0, 0.0])
    ranked = {"prompt": "Q", "responses": ["a", "b", "c"], "ranks": [2, 1, 3]}
    assert read_preference(ranked, "r") == ("Q", ["a", "b", "c"], [1.0, 2.0, 0.0])
    scored = {"prompt": "Q", "responses": ["a", "b"], "scores": [-3, 4.5]}
    assert read_preference(scored, "r")[2] == [0.0, 7.5]


@pytest.mark.parametrize("record, message", [
    ({"prompt": "Q", "chosen": "a"}, "needs both 'chosen' and 'rejected'"),
    ({"chosen": [*CHAT, {"role": "assistant", "content": "4"}],
      "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "5"}]},
     "share every turn but the last"),
    ({"prompt": "Q", "responses": ["a", "b"], "ranks": [1, 2], "scores": [1, 2]}, "one of"),
    ({"prompt": "Q", "responses": ["a", "b"], "scores": [1, 1]}, "same grade"),
    ({"prompt": "Q", "responses": ["a"], "scores": [1]}, "two or more"),
    ({"question": "Q", "good": "a"}, "--columns"),
    ({"prompt": 3, "chosen": "a", "rejected": "b"}, "'prompt'"),
])
def test_bad_records_are_refused_naming_the_record(record, message):
    with pytest.raises(ValueError, match=message) as info:
        read_preference(record, "file.jsonl record 7")
    assert str(info.value).startswith("file.jsonl record 7")


class LengthScorer:
    def score_many(self, prompts, responses, *, system=None):
        return [float(len(r)) for r in responses]


def test_a_run_with_mapped_columns_matches_the_pairwise_rule(tmp_path):
    rows = [{"q": f"Q{i}", "good": "x" * (i % 4 + 1), "bad": "x" * (i % 3 + 1),
             "src": "a" if i % 2 else "b"} for i in range(30)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = make_benchmark("preferences", {"columns": {"prompt": "q", "chosen": "good",
                                                       "rejected": "bad", "stratum": "src"}})
    summary = run_benchmark(bench, tmp_path / "run", reward=LengthScorer(), source=data,
                            resamples=50, progress=False)
    wins = [len(r["good"]) > len(r["bad"]) for r in rows]
    ties = [len(r["good"]) == len(r["bad"]) for r in rows]
    assert summary["pairwise_accuracy"] == pytest.approx(sum(wins) / 30)  # a tie scores 0
    assert summary["tie_rates"]["pairwise_accuracy"] == pytest.approx(sum(ties) / 30)
    odd = [w for w, r in zip(wins, rows, strict=True) if r["src"] == "a"]
    assert summary["figures"]["stratum/a"]["value"] == pytest.approx(sum(odd) / len(odd))
    assert summary["baselines"]["length-long"]["pairwise_accuracy"] == pytest.approx(
        sum(wins) / 30)


def test_parquet_and_unknown_roles(tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "prefs.parquet"
    pandas.DataFrame([{"prompt": "Q", "chosen": "aa", "rejected": "b"}]).to_parquet(path)
    (item,) = PreferenceData().load(path)
    assert item.record == {"prompt": "Q", "responses": ["aa", "b"]}
    with pytest.raises(ValueError, match=r"unknown column role\(s\) \['answer'\]"):
        PreferenceData(columns={"answer": "x"})
    with pytest.raises(ValueError, match="pass --data"):
        PreferenceData().load(None)
