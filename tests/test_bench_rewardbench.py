from pathlib import Path

import numpy as np
import pytest

from rewardmine.bench.data import read_json_records
from rewardmine.bench.rewardbench import EXAMPLE_COUNTS, SECTIONS, RewardBench
from rewardmine.bench.rewardbench2 import RewardBench2, best_of_n

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


def test_v1_sections_weighted_by_official_counts():
    bench = RewardBench()
    table = bench.table(read_json_records(FIXTURES / "rewardbench-scores.jsonl"))
    figures = bench.figures(table.values, table.strata)
    assert figures["subset/alpacaeval-easy"] == 0.5  # one win, one tie (a tie is wrong)
    assert figures["chat"] == pytest.approx((0.5 * 100 + 1.0 * 28) / 128)
    assert figures["chat_hard"] == 0.0
    assert figures["reasoning"] == pytest.approx(984 / (984 + 164))
    assert "safety" not in figures
    assert figures["overall"] == pytest.approx(np.mean([78 / 128, 0.0, 984 / 1148]))
    details = bench.details(table)
    assert details["subsets"]["alpacaeval-easy"] == {"items": 2, "wins": 1, "ties": 1,
                                                     "identical": 0}
    assert details["sections_scored"] == ["chat", "chat_hard", "reasoning"]


def test_v1_math_weighs_as_much_as_all_code():
    code = sum(EXAMPLE_COUNTS[s] for s in SECTIONS["reasoning"] if s.startswith("hep-"))
    assert EXAMPLE_COUNTS["math-prm"] == code == 984
    assert sum(EXAMPLE_COUNTS.values()) - 984 + 447 == 2985  # the filtered split's size


def test_v1_loader_official_schema():
    bench = RewardBench()
    items = bench.load(FIXTURES / "rewardbench")
    assert [i.stratum for i in items][:2] == ["alpacaeval-easy", "alpacaeval-easy"]
    assert [c.response for c in bench.candidates(items[0])] == ["7 is prime.", "8 is prime."]
    assert bench.to_row(items[0], [1.5, 0.5]) == {
        "id": "0", "subset": "alpacaeval-easy", "score_chosen": 1.5, "score_rejected": 0.5}
    with pytest.raises(ValueError, match="'subset' must be one of"):
        RewardBench().table([{"id": "x", "subset": "shp", "score_chosen": 1,
                              "score_rejected": 0}])


def test_best_of_n_tie_share():
    assert best_of_n(2, [1, 2, 0]) == 0.5
    assert best_of_n(1, [1, 1, 1]) == 0.25
    assert best_of_n(3, [1, 1, 1]) == 1.0
    assert best_of_n(0, [1, 0, 0]) == 0.0


def test_v2_hand_computed_with_ties_subset():
    bench = RewardBench2()
    table = bench.table(read_json_records(FIXTURES / "rewardbench2-scores.jsonl"))
    figures = bench.figures(table.values, table.strata)
    assert figures["factuality"] == pytest.approx(0.5)
    assert figures["math"] == pytest.approx(0.25)
    # prompt 1: ref gap 3, tied spread 2 and gap 2 -> accurate, not preferred, tanh(0) = 0
    # prompt 2: ref gap -1 (wrong), tied spread 0 and gap 3 -> preferred, not hard, tanh(-inf)=-1
    components = bench.details(table)["ties_components"]
    assert components == {"ref_accuracy": 0.5, "tied_accuracy": 1.0,
                          "correctness_preferred": 0.5, "correctness_preferred_hard": 0.0,
                          "margin_score": -0.5}
    assert figures["ties"] == pytest.approx(0.3 * 1.0 + 0.3 * 0.5 + 0.2 * 0.5 + 0.01 * -0.5)
    assert figures["overall"] == pytest.approx((0.5 + 0.25 + 0.545) / 3)
    assert set(table.ids) >= {"ties:1", "ties:2"}


def test_v2_loader_and_rows():
    bench = RewardBench2()
    items = bench.load(FIXTURES / "rewardbench2")
    tied = next(i for i in items if i.id == "tied:1")
    assert len(bench.candidates(tied)) == 5
    row = bench.to_row(tied, [1, 2, 3, 4, 5])
    assert row["scores_chosen"] == [1, 2, 3] and row["scores_rejected"] == [4, 5]
    with pytest.raises(ValueError, match="Ties ids are 'ref:N' or 'tied:N'"):
        bench.table([{"id": "7", "subset": "Ties", "scores_chosen": [1],
                      "scores_rejected": [0]}])
    with pytest.raises(ValueError, match="one correct response"):
        bench.table([{"id": "7", "subset": "Math", "scores_chosen": [1, 2],
                      "scores_rejected": [0]}])


def test_v2_reads_the_hub_parquet_format(tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    records = read_json_records(FIXTURES / "rewardbench2" / "test.json")
    path = tmp_path / "test-00000-of-00001.parquet"
    pandas.DataFrame(records).to_parquet(path)
    items = RewardBench2().load(path)
    assert [i.id for i in items] == [r["id"] for r in records]
    assert items[5].record["chosen"] == ["Red.", "Blue.", "Yellow."]


@pytest.mark.parametrize("name, kind, model_type", [
    ("rewardbench", "scalar", "Custom Classifier"), ("rewardbench2", "generative", "Generative")])
def test_runs_write_the_leaderboards_result_file(tmp_path, name, kind, model_type):
    """leaderboard.json: the keys allenai/reward-bench's result files hold, each subset's figure
    under the subset's own name, equal to the run's own figures."""
    import json

    from rewardmine.bench.registry import make_benchmark
    from rewardmine.bench.runner import run_benchmark

    fixtures = Path(__file__).parent / "fixtures" / "bench"
    bench = make_benchmark(name)
    summary = run_benchmark(bench, tmp_path, scores_file=fixtures / f"{name}-scores.jsonl",
                            source=fixtures / name, kind=kind, resamples=20,
                            meta={"model": "org/model", "method": "m"})
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert (board["model"], board["model_type"], board["chat_template"]) == (
        "org/model", model_type, "tokenizer")
    subsets = {k: v for k, v in board.items() if k not in ("model", "model_type", "chat_template")}
    assert subsets
    for subset, value in subsets.items():
        key = f"subset/{subset}" if name == "rewardbench" else subset.lower().replace(" ", "_")
        assert value == summary["figures"][key]["value"]
    other = tmp_path / "dsp"
    run_benchmark(make_benchmark("dsp"), other, scores_file=fixtures / "dsp-scores.jsonl",
                  source=fixtures / "dsp", resamples=20)
    assert not (other / "leaderboard.json").exists()  # no public leaderboard format
