import json
from pathlib import Path

import pytest

from rewardmine.bench import DSP, RMBench, Scorer, run_benchmark, score_items
from rewardmine.bench.runner import ITEMS

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


class LengthScorer:
    """A real, deterministic scorer: longer responses (plus the system's length) score higher."""

    def __init__(self):
        self.calls = []

    def score_many(self, prompts, responses, *, system=None):
        self.calls.append((system, len(responses)))
        return [float(len(r)) + (len(system) if system else 0) / 1000 for r in responses]


def test_scorer_protocol_and_grouping_by_system(tmp_path):
    scorer = LengthScorer()
    assert isinstance(scorer, Scorer)
    bench = DSP()
    items = bench.load(FIXTURES / "dsp")
    rows = score_items(bench, items, scorer, tmp_path / ITEMS, progress=False)
    # one call per steering domain, each over both queries' five responses
    assert sorted(n for _, n in scorer.calls) == [10, 10, 10, 10]
    assert rows[0]["scores"]["academy"]["normal"] == pytest.approx(
        len(items[0].record["responses"]["normal"]) + len(bench.systems["academy"]) / 1000)


def test_resume_scores_only_missing_items(tmp_path):
    bench = RMBench()
    items = bench.load(FIXTURES / "rm-bench")
    path = tmp_path / ITEMS
    first = LengthScorer()
    score_items(bench, items[:2], first, path, progress=False)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "code/0", "scores_ch')  # a row cut off by a crash
    second = LengthScorer()
    rows = score_items(bench, items, second, path, progress=False)
    assert sum(n for _, n in second.calls) == 6 * 4  # the 4 items not finished
    assert [r["id"] for r in rows] == [i.id for i in items]
    assert len(path.read_text().splitlines()) == 6
    # an output file of another benchmark is refused, not mixed in
    with pytest.raises(ValueError, match="items not in this benchmark"):
        score_items(DSP(), DSP().load(FIXTURES / "dsp"), LengthScorer(), path, progress=False)


def test_total_dataset_format_and_domains_reported(tmp_path):
    summary = run_benchmark(RMBench(), tmp_path / "run", reward=LengthScorer(),
                            source=FIXTURES / "rm-bench-total", resamples=30, seed=1,
                            meta={"model": "length", "method": "test", "options": {}})
    assert set(summary["intervals"]) == {"overall", "easy", "normal", "hard", "chat", "math",
                                         "safety"}
    assert summary["details"]["domains_missing"] == ["code"]
    assert summary["run"]["seed"] == 1 and summary["run"]["model"] == "length"
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["overall"] == summary["overall"]
    with pytest.raises(ValueError, match="exactly one of"):
        run_benchmark(RMBench(), tmp_path / "x")


def test_a_list_judge_gets_each_items_candidates_in_one_request(tmp_path):
    from rewardmine.conversions import ScorerJudge

    class Recording(ScorerJudge):
        def judge_many(self, requests):
            self.requests = list(requests)
            return super().judge_many(requests)

    judge = Recording(LengthScorer())
    bench = DSP()
    items = bench.load(FIXTURES / "dsp")
    rows = score_items(bench, items, judge, tmp_path / ITEMS, progress=False)
    assert [len(r["responses"]) for r in judge.requests] == [5] * 8  # 2 items x 4 domains
    assert {r["principle"] for r in judge.requests} == set(bench.systems.values())
    # the listwise path writes the same rows as scoring each response alone
    alone = score_items(bench, items, LengthScorer(), tmp_path / "alone.jsonl", progress=False)
    assert rows == alone
    with pytest.raises(TypeError, match="neither a scorer"):
        score_items(bench, items, object(), tmp_path / "x.jsonl", progress=False)
