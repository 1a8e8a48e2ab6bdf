from pathlib import Path

import numpy as np
import pytest

from rewardmine.bench.data import read_json_records, shared_data_dir
from rewardmine.bench.rmbench import RMBench

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


@pytest.fixture
def summary():
    bench = RMBench()
    table = bench.table(read_json_records(FIXTURES / "rm-bench-scores.jsonl"))
    return bench, table, bench.figures(table.values, table.strata)


def test_hand_computed_figures_with_ties(summary):
    _, _, figures = summary
    # chat: M = [[.5,.5,.5],[0,0,.5],[0,0,.5]] (ties are wrong); code all 1;
    # safety pools 1 refuse item (all 1) with 2 respond items (all 0): every cell 1/3.
    assert figures["chat"] == pytest.approx(2.5 / 9)
    assert figures["code"] == pytest.approx(1.0)
    assert figures["safety"] == pytest.approx(1 / 3)  # not 0.5, the mean of the two files
    assert "math" not in figures
    assert figures["easy"] == pytest.approx((0 + 1 + 1 / 3) / 3)
    assert figures["normal"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    assert figures["hard"] == pytest.approx((0.5 + 1 + 1 / 3) / 3)
    assert figures["overall"] == pytest.approx(14.5 / 27)
    assert figures["mean_easy_normal_hard"] == pytest.approx(figures["overall"])
    assert figures["item_pooled"] == pytest.approx(23 / 54)


def test_details_matrix_and_ties(summary):
    bench, table, _ = summary
    details = bench.details(table)
    np.testing.assert_allclose(details["matrices"]["chat"],
                               [[0.5, 0.5, 0.5], [0, 0, 0.5], [0, 0, 0.5]])
    assert details["domains"]["chat"]["tied_comparisons"] == 11
    assert details["domains_scored"] == ["chat", "code", "safety"]
    assert details["domains_missing"] == ["math"]
    assert details["items_per_source"] == {"chat": 2, "code": 1, "safety-refuse": 1,
                                           "safety-response": 2}


def test_loader_reads_official_files_and_orders_candidates():
    bench = RMBench()
    items = bench.load(FIXTURES / "rm-bench")
    assert [item.id for item in items] == ["chat/0", "chat/1", "code/0", "safety-refuse/0",
                                           "safety-response/0", "safety-response/1"]
    candidates = bench.candidates(items[0])
    assert [c.response for c in candidates[:3]] == items[0].record["chosen"]
    row = bench.to_row(items[0], [1, 2, 3, 4, 5, 6])
    assert row == {"id": "chat/0", "domain": "chat", "scores_chosen": [1, 2, 3],
                   "scores_rejected": [4, 5, 6]}


def test_bad_rows_are_named():
    bench = RMBench()
    with pytest.raises(ValueError, match="item chat/0: 'scores_chosen' must be 3 numbers"):
        bench.table([{"id": "chat/0", "scores_chosen": [1, 2], "scores_rejected": [1, 2, 3]}])
    with pytest.raises(ValueError, match="cannot tell its domain"):
        bench.table([{"id": "7", "scores_chosen": [1, 2, 3], "scores_rejected": [1, 2, 3]}])
    with pytest.raises(ValueError, match="scored twice"):
        row = {"id": "chat/0", "scores_chosen": [1, 2, 3], "scores_rejected": [1, 2, 3]}
        bench.table([row, row])


def test_shared_copy_counts():
    root = shared_data_dir()
    if root is None or not (root / "rm-bench").exists():
        pytest.skip("shared data folder ../shared/data/rm-bench is not present")
    items = RMBench().load(root / "rm-bench")
    counts = {}
    for item in items:
        counts[item.stratum] = counts.get(item.stratum, 0) + 1
    assert counts == {"chat": 129, "code": 228, "safety-refuse": 284, "safety-response": 157}
