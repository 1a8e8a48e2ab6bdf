from pathlib import Path

import numpy as np
import pytest

from rewardmine.bench.principles import (
    RMBENCH_ORDER,
    RMBENCH_PRINCIPLES,
    PrincipleLists,
    dsp_grades,
    list_metrics,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


def _truth_order(principle):
    # the grades restated from the principle's words, response by response
    correct = {"correct/concise", "correct/plain", "correct/markdown"}
    table = {
        "correct-then-concise": lambda r: (r in correct) + (r == "correct/concise") + 1,
        "format-then-correct": lambda r: r.endswith("markdown") * 2 + (r in correct) + 1,
        "correct-only": lambda r: (r in correct) + 1,
        "correct-then-plain-detail": lambda r: (r in correct) + (r == "correct/plain") + 1,
    }
    return tuple(table[principle](r) for r in RMBENCH_ORDER)


@pytest.mark.parametrize("principle", list(RMBENCH_PRINCIPLES))
def test_rmbench_ground_truth_follows_the_principle(principle):
    assert RMBENCH_PRINCIPLES[principle][1] == _truth_order(principle)


def test_dsp_ground_truth():
    assert dsp_grades("business") == (1, 2, 1, 1, 1)


def test_list_metrics_hand_case():
    grades = (3, 2, 2, 1, 1, 1)
    perfect = list_metrics([6, 5, 4, 3, 2, 1], grades)
    assert perfect[0] == 1.0 and perfect[2] == pytest.approx(1.0)
    assert perfect[3] == 11  # 15 pairs minus 1 tie among grade-2 and 3 among grade-1
    tied = list_metrics([1, 1, 1, 1, 1, 1], grades)
    assert tied[0] == 0.5 and tied[4] == 11 and tied[5] == 1.0 and np.isnan(tied[1])
    assert list_metrics([1, 1, 1, 1, 1, 1], grades, credit=0.0)[0] == 0.0
    reversed_ = list_metrics([1, 2, 3, 4, 5, 6], grades)
    assert reversed_[0] == 0.0 and reversed_[1] < 0


def test_lists_from_fixtures_and_rows():
    bench = PrincipleLists(source="rm-bench")
    items = bench.load(FIXTURES / "rm-bench")
    assert len(items) == 6 * len(RMBENCH_PRINCIPLES)
    first = items[0]
    candidates = bench.candidates(first)
    assert [c.response for c in candidates] == [*first.record["chosen"], *first.record["rejected"]]
    assert candidates[0].system == RMBENCH_PRINCIPLES[first.stratum][0]
    rows = [bench.to_row(item, [6, 5, 4, 3, 2, 1]) for item in items]
    table = bench.table(rows)
    figures = bench.figures(table.values, table.strata)
    # scores 6..1 follow "correct then concise" exactly, but not the format-first order
    assert figures["principle/correct-then-concise"] == 1.0
    assert figures["principle/format-then-correct"] < 1.0
    dsp = PrincipleLists(source="dsp", principles={"academy": "Be scholarly."})
    dsp_items = dsp.load(FIXTURES / "dsp")
    assert len(dsp_items) == 8
    assert dsp.candidates(dsp_items[0])[0].system == "Be scholarly."
    with pytest.raises(ValueError, match="unknown principle"):
        PrincipleLists(source="dsp", principles={"law": "x"})
