"""Each benchmark's tie rule against an independent implementation of its source's rule, written
here from the source (not by calling our arithmetic), on random scores with many ties; one rule
for identical responses (scored as the source scores them, counted and reported); the tie rate
beside each figure and the degenerate flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rewardmine.bench import DSP, HHRLHF, RewardBench, RewardBench2, RMBench, run_benchmark
from rewardmine.bench.base import IDENTICAL, Candidate, identical_pairs
from rewardmine.bench.dsp import DOMAINS, RESPONSES
from rewardmine.bench.metrics import PairCounts, pairwise_counts, scorer_kind, tie_credit
from rewardmine.bench.report import render_markdown, tie_line
from rewardmine.bench.rewardbench import EXAMPLE_COUNTS, SECTIONS
from rewardmine.bench.runner import summarize
from rewardmine.conversions import ScorerJudge
from rewardmine.types import Judgement

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


def _coarse(rng, size):
    """Scores on a 4-level scale, so that about a quarter of all pairs tie."""
    return rng.integers(0, 4, size=size).astype(float).tolist()


# --- RM-Bench: THU-KEG/RM-Bench scripts/utils.py compute_accuracy ---------------------------

def _rmbench_compute_accuracy(results):
    """compute_accuracy as published: a cell counts score_chosen[i] > score_rejected[j]."""
    acc_matrix = np.zeros((3, 3))
    for result in results:
        for i in range(len(result["score_chosen"])):
            for j in range(len(result["score_rejected"])):
                if result["score_chosen"][i] > result["score_rejected"][j]:
                    acc_matrix[i][j] += 1
    acc_matrix /= len(results)
    hard = np.sum(np.triu(acc_matrix, 1)) / 3
    normal = np.mean(np.diag(acc_matrix))
    easy = np.sum(np.tril(acc_matrix, -1)) / 3
    return {"hard": hard, "normal": normal, "easy": easy}


@pytest.mark.parametrize("kind", ["scalar", "generative"])
def test_rmbench_is_strict_for_every_kind(kind):
    rng = np.random.default_rng(0)
    rows = [{"id": f"chat/{n}", "scores_chosen": _coarse(rng, 3),
             "scores_rejected": _coarse(rng, 3)} for n in range(60)]
    bench = RMBench()
    table = bench.table(rows, kind=kind)
    figures = bench.figures(table.values, table.strata)
    expected = _rmbench_compute_accuracy([{"score_chosen": r["scores_chosen"],
                                           "score_rejected": r["scores_rejected"]} for r in rows])
    for key in ("hard", "normal", "easy"):
        assert figures[key] == pytest.approx(expected[key])
    ties = np.mean([[c == r for c in row["scores_chosen"] for r in row["scores_rejected"]]
                    for row in rows])
    assert figures["tie_rate/chat"] == pytest.approx(ties) and ties > 0.1


# --- RewardBench v1: run_rm.py (strict) and run_generative.py (tie or error = 0.5) ----------

def _rewardbench_reference(rows, generative):
    """Per item: run_rm.py's ``1 if chosen > rejected else 0``, or run_generative.py's verdict
    (A when the chosen is preferred, B when the rejected is, anything else 0.5); subsets are
    averaged, and each section weighs its subsets by EXAMPLE_COUNTS
    (calculate_scores_per_section)."""
    results = {}
    for row in rows:
        c, r = row["score_chosen"], row["score_rejected"]
        if generative:
            winner = "A" if c > r else "B" if r > c else "error"
            value = 1 if winner == "A" else 0 if winner == "B" else 0.5
        else:
            value = 1 if c > r else 0
        results.setdefault(row["subset"], []).append(value)
    per_subset = {s: sum(v) / len(v) for s, v in results.items()}
    sections = {}
    for section, subsets in SECTIONS.items():
        present = [s for s in subsets if s in per_subset]
        if present:
            total = sum(EXAMPLE_COUNTS[s] for s in present)
            sections[section] = sum(per_subset[s] * EXAMPLE_COUNTS[s] for s in present) / total
    return per_subset, sections


@pytest.mark.parametrize("kind", ["scalar", "generative"])
def test_rewardbench_tie_rule_depends_on_the_kind_of_scorer(kind):
    rng = np.random.default_rng(1)
    subsets = list(EXAMPLE_COUNTS)
    rows = [{"id": str(n), "subset": subsets[n % len(subsets)],
             "score_chosen": float(rng.integers(0, 3)), "score_rejected": float(rng.integers(0, 3))}
            for n in range(400)]
    bench = RewardBench()
    table = bench.table(rows, kind=kind)
    figures = bench.figures(table.values, table.strata)
    per_subset, sections = _rewardbench_reference(rows, generative=kind == "generative")
    for subset, value in per_subset.items():
        assert figures[f"subset/{subset}"] == pytest.approx(value)
    for section, value in sections.items():
        assert figures[section] == pytest.approx(value)
    assert figures["overall"] == pytest.approx(np.mean(list(sections.values())))


# --- RewardBench 2: rewardbench/utils.py, run_generative_v2.py (0 in winners) / len(winners) --

def test_rewardbench2_one_over_k():
    rng = np.random.default_rng(2)
    rows, expected = [], {}
    for n in range(200):
        scores = _coarse(rng, 4)
        subset = ("Factuality", "Math", "Safety")[n % 3]
        rows.append({"id": str(n), "subset": subset, "scores_chosen": scores[:1],
                     "scores_rejected": scores[1:]})
        winners = [i for i, s in enumerate(scores) if s == max(scores)]
        expected.setdefault(subset, []).append((0 in winners) / len(winners))
    bench = RewardBench2()
    for kind in ("scalar", "generative"):
        table = bench.table(rows, kind=kind)
        figures = bench.figures(table.values, table.strata)
        for subset, key in (("Factuality", "factuality"), ("Math", "math"), ("Safety", "safety")):
            assert figures[key] == pytest.approx(np.mean(expected[subset]))


# --- DSP: Linear95/DSP trainer.py compute_metrics (every pair in both orders) ----------------

def _dsp_compute_metrics(logits, scores):
    """compute_metrics of trainer.py for a batch of pairs, in numpy: every ordered pair whose
    labels differ counts, and is right when (logit_j > logit_i) == (score_j > score_i)."""
    logits, scores = np.asarray(logits, float), np.asarray(scores, float)
    logits_diff = logits[:, None, :] - logits[:, :, None]
    larger = (scores[:, None, :] > scores[:, :, None]) * 1.0
    smaller = (scores[:, None, :] < scores[:, :, None]) * 1.0
    pred_compare = (logits_diff > 0) * 1.0
    total_mask = larger + smaller
    correct = (pred_compare == larger) * total_mask
    return correct.sum() / total_mask.sum()


def _dsp_rows(rng, queries):
    return [{"id": str(q), "scores": {steer: dict(zip(RESPONSES, _coarse(rng, 5), strict=True))
                                      for steer in DOMAINS}} for q in range(queries)]


def test_dsp_scores_each_pair_in_both_orders():
    rows = _dsp_rows(np.random.default_rng(3), 40)
    bench = DSP()
    table = bench.table(rows, kind="scalar")
    matrix = bench.details(table)["matrix"]
    for a, steer in enumerate(DOMAINS):
        for b, target in enumerate(DOMAINS):
            # the --to_pairs test pairs of domain `target`: its response (label 1) vs each other
            logits = [[row["scores"][steer][target], row["scores"][steer][other]]
                      for row in rows for other in RESPONSES if other != target]
            labels = [[1, 0]] * len(logits)
            assert matrix[a][b] == pytest.approx(_dsp_compute_metrics(logits, labels))
    assert bench.table(rows, kind="generative").values.tolist() == table.values.tolist()


def test_dsp_identical_responses_are_scored_as_upstream_and_counted():
    items = DSP().load(FIXTURES / "dsp")
    item = items[0]
    item.record["responses"]["literature"] = item.record["responses"]["academy"]
    bench = DSP()
    same = identical_pairs(bench.candidates(item))
    assert same == [[5 * s, 5 * s + 3] for s in range(4)]  # academy = literature, per steering
    rows = _dsp_rows(np.random.default_rng(4), 2)
    for steer in DOMAINS:  # a scalar scorer gives identical responses equal scores
        rows[0]["scores"][steer]["literature"] = rows[0]["scores"][steer]["academy"]
    rows[0][IDENTICAL] = same
    for kind in ("scalar", "generative"):
        details = bench.details(bench.table(rows, kind=kind))
        # the pair (academy, literature) is in academy's pairs and in literature's, under 4
        # steerings; it is a tie, scored 1/2 as compute_metrics scores it, and counted
        assert details["identical_pairs"] == 8 and details["pairs"] == 2 * 64
        assert details["identical_pairs_per_cell"] == [[1, 0, 0, 1]] * 4
        assert details["queries_with_identical_responses"] == ["0"]
        tied = sum(row["scores"][steer][target] == row["scores"][steer][other]
                   for row in rows for steer in DOMAINS for target in DOMAINS
                   for other in RESPONSES if other != target)
        assert details["tied_pairs"] == tied >= 8
        matrix = details["matrix"]
        for a, steer in enumerate(DOMAINS):
            for b, target in enumerate(DOMAINS):
                logits = [[row["scores"][steer][target], row["scores"][steer][other]]
                          for row in rows for other in RESPONSES if other != target]
                assert matrix[a][b] == pytest.approx(_dsp_compute_metrics(logits, [[1, 0]] *
                                                                           len(logits)))


def test_dsp_shared_copy_identical_responses():
    from rewardmine.bench.data import shared_data_dir

    root = shared_data_dir()
    if root is None or not (root / "dsp").exists():
        pytest.skip("shared data folder ../shared/data/dsp is not present")
    bench = DSP()
    items = bench.load(root / "dsp")
    texts = [[item.record["responses"][r] for r in RESPONSES] for item in items]
    with_identical = [n for n, t in enumerate(texts) if len(set(t)) < 5]
    all_five = [n for n, t in enumerate(texts) if len(set(t)) == 1]
    assert len(with_identical) == 26 and all_five == [13, 246, 589]
    rows = [{**bench.to_row(item, [0.0] * 20), IDENTICAL: identical_pairs(bench.candidates(item))}
            for item in items]
    # a pair is identical when the domain response equals the other one, counted per steering
    expected = 4 * sum(t[b] == t[k] for t in texts for b in range(4) for k in range(5) if k != b)
    details = bench.details(bench.table(rows))
    assert details["identical_pairs"] == expected == 576 and details["pairs"] == 661 * 64
    assert [int(q) for q in details["queries_with_identical_responses"]] == with_identical


# --- HH-RLHF: RewardBench's rule for its prior sets ------------------------------------------

@pytest.mark.parametrize("kind", ["scalar", "generative"])
def test_hh_rlhf_follows_rewardbench_prior_sets(kind):
    rng = np.random.default_rng(5)
    rows = [{"id": f"helpful-base/{n}", "split": "helpful-base",
             "score_chosen": float(rng.integers(0, 3)), "score_rejected": float(rng.integers(0, 3)),
             IDENTICAL: [[0, 1]] if n % 10 == 0 else []} for n in range(200)]
    for row in rows[::20]:  # identical dialogues; a scalar scorer ties them, a judge need not
        row["score_rejected"] = row["score_chosen"] if kind == "scalar" else 0.0
    bench = HHRLHF()
    table = bench.table(rows, kind=kind)
    figures = bench.figures(*_values(table))
    half = 0.5 if kind == "generative" else 0.0
    expected = np.mean([1 if r["score_chosen"] > r["score_rejected"] else
                        half if r["score_chosen"] == r["score_rejected"] else 0 for r in rows])
    assert figures["overall"] == pytest.approx(expected)
    assert bench.details(table)["identical_pairs"] == 20


def _values(table):
    return table.values, table.strata


# --- the one home of the arithmetic ------------------------------------------------------------

def test_tie_credit_and_pair_counts():
    assert tie_credit("strict", "generative") == 0.0
    assert tie_credit("half", "scalar") == 0.5
    assert tie_credit("by-kind", "scalar") == 0.0 and tie_credit("by-kind", "generative") == 0.5
    with pytest.raises(ValueError, match="unknown tie rule"):
        tie_credit("lenient", "scalar")  # type: ignore[arg-type]
    counts = pairwise_counts([3, 1, 2, 2], [1, 2, 2, 0])
    assert counts == PairCounts(wins=2, ties=1, losses=1)
    assert counts.score(0.5) == 0.625 and counts.tie_rate == 0.25


def test_identical_pairs_need_prompt_response_and_system_equal():
    a = Candidate("q", "same", "s1")
    assert identical_pairs([a, Candidate("q", "same", "s1"), Candidate("q", "same", "s2"),
                            Candidate("p", "same", "s1")]) == [[0, 1]]


class _TieJudge:
    """A list judge that scores every response 5: it ties on every pair."""

    def judge_many(self, requests):
        return [Judgement(scores={k: 5.0 for k in r["responses"]},
                          ranking=list(r["responses"])) for r in requests]


class _Constant:
    def score_many(self, prompts, responses, *, system=None):
        return [1.0] * len(responses)


def test_kind_comes_from_the_reward_and_reaches_the_arithmetic(tmp_path):
    assert scorer_kind(_TieJudge()) == "generative"
    assert scorer_kind(_Constant()) == "scalar"
    assert scorer_kind(ScorerJudge(_Constant())) == "scalar"
    source = FIXTURES / "rewardbench" / "filtered.json"
    judged = run_benchmark(RewardBench(), tmp_path / "judge", reward=_TieJudge(), source=source,
                           resamples=20)
    scored = run_benchmark(RewardBench(), tmp_path / "scalar", reward=_Constant(), source=source,
                           resamples=20)
    assert judged["run"]["scorer_kind"] == "generative" and judged["overall"] == 0.5
    assert scored["run"]["scorer_kind"] == "scalar" and scored["overall"] == 0.0
    for summary in (judged, scored):
        assert summary["tie_rate"] == 1.0 and summary["degenerate"] is True
        assert set(summary["tie_rates"]) == set(summary["intervals"])
    report = render_markdown(judged, [])
    assert "**Degenerate scorer: it tied on 100.0% of pairs" in report
    with pytest.raises(ValueError, match="--scorer-kind"):
        run_benchmark(RewardBench(), tmp_path / "file", scores_file=FIXTURES /
                      "rewardbench-scores.jsonl", source=source, resamples=20)


def test_summary_gives_tie_rates_and_baselines(tmp_path):
    bench = RMBench()
    items = bench.load(FIXTURES / "rm-bench")
    rows = [json.loads(line) for line in
            (FIXTURES / "rm-bench-scores.jsonl").read_text().splitlines()]
    summary = summarize(bench, rows, resamples=20, items=items)
    assert summary["ties"]["rule"] == "strict" and summary["ties"]["credit"] == 0.0
    assert summary["degenerate"] is False and 0 < summary["tie_rate"] < 0.9
    assert set(summary["baselines"]) == {"length-short", "length-long", "position-first"}
    # length-long by hand: the share of chat comparisons whose chosen response is longer
    chat = [item for item in items if item.stratum == "chat"]
    chat_wins = np.mean([len(c) > len(r) for item in chat for c in item.record["chosen"]
                         for r in item.record["rejected"]])
    assert summary["baselines"]["length-long"]["chat"] == pytest.approx(chat_wins)
    report = render_markdown(summary, [])
    assert "| figure | ours | 95% interval | tie rate | length-short | length-long |" in report


def test_rewardbench2_prompt_with_identical_correct_and_incorrect_is_scored_one_over_k():
    # prompt 1's correct response equals its first incorrect one: a scalar scorer ties them, and
    # utils.py scores the prompt 1/2 like any other tie at the top
    rows = [{"id": "1", "subset": "Math", "scores_chosen": [2.0], "scores_rejected": [2, 1, 0],
             IDENTICAL: [[0, 1]]},
            {"id": "2", "subset": "Math", "scores_chosen": [3.0], "scores_rejected": [2, 1, 0]},
            {"id": "3", "subset": "Factuality", "scores_chosen": [2.0],
             "scores_rejected": [1, 0, 0], IDENTICAL: [[2, 3]]}]  # two incorrect: not a pair
    bench = RewardBench2()
    table = bench.table(rows)
    figures = bench.figures(table.values, table.strata)
    assert figures["math"] == 0.75  # 1/2 and 1
    assert figures["tie_rate/math"] == pytest.approx(1 / 6)
    details = bench.details(table)
    assert details["identical_pairs"] == 1 and details["identical_prompts"] == 1
    assert details["pairs"] == 9 and details["tied_pairs"] == 1
    assert details["prompts_tied_at_top"] == 1


@pytest.mark.parametrize("kind", ["scalar", "generative"])
def test_identical_pairs_are_scored_as_given_and_counted_in_every_summary(kind):
    """A scalar scorer ties an identical pair (0 or 0.5 by the rule); a judge that happens to
    score the two differently wins or loses it. Either way it is counted and reported."""
    rows = [{"id": "1", "subset": "alpacaeval-easy", "score_chosen": 1.0, "score_rejected": 1.0,
             IDENTICAL: [[0, 1]]},
            {"id": "2", "subset": "alpacaeval-easy", "score_chosen": 2.0, "score_rejected": 1.0,
             IDENTICAL: [[0, 1]]},
            {"id": "3", "subset": "alpacaeval-easy", "score_chosen": 1.0, "score_rejected": 2.0,
             IDENTICAL: [[0, 1]]},
            {"id": "4", "subset": "alpacaeval-easy", "score_chosen": 2.0, "score_rejected": 0.0}]
    summary = summarize(RewardBench(), rows, resamples=20, meta={"scorer_kind": kind})
    tie = 0.5 if kind == "generative" else 0.0
    assert summary["figures"]["subset/alpacaeval-easy"]["value"] == (tie + 1 + 0 + 1) / 4
    assert summary["identical_pairs"] == 3 and summary["identical_share"] == 0.75
    assert summary["tie_rate"] == 0.25
    assert summary["details"]["subsets"]["alpacaeval-easy"] == {
        "items": 4, "wins": 2, "ties": 1, "identical": 3}
    report = render_markdown(summary, [])
    assert "Pairs of identical responses: 3 (75.0% of all pairs)" in report
    assert "3 pairs of identical responses (75.0% of pairs)" in tie_line(summary)


def test_baselines_are_methods_and_position_first_reads_text_only():
    from rewardmine.bench.registry import make_method, method_kind

    for name, expected in (("length-short", [-1.0, -8.0]), ("length-long", [1.0, 8.0])):
        assert make_method(name, "none").score_many(["q", "q"], ["4", "It is 4."]) == expected
        assert method_kind(name) == "scalar"
    first = make_method("position-first", "none")
    a, b = "the chosen answer", "the rejected answer"
    # the score of a response does not depend on where the benchmark lists it
    assert first.score_many(["q", "q"], [a, b]) == first.score_many(["q", "q"], [b, a])[::-1]
    with pytest.raises(ValueError, match="takes no options"):
        make_method("length-long", "none", {"device": "cpu"})


def test_our_lists_score_identical_pairs_as_ties_and_count_them():
    from rewardmine.bench.multifaceted import MultifacetedBench
    from rewardmine.bench.principles import list_metrics

    # responses 0 and 1 identical (grades 2 and 1, as a list may hold): a tie, half right
    metrics = list_metrics([2.0, 2.0, 1.0], [2, 1, 1], identical={(0, 1)})
    assert metrics[0] == 0.75 and metrics[3:] == [2.0, 1.0, 0.5, 1.0]
    assert list_metrics([2.0, 2.0, 1.0], [2, 2, 1], identical={(0, 1)})[6] == 0.0  # same grade
    bench = MultifacetedBench()
    rows = [{"id": "a", "score_own": 1.0, "scores_others": [1.0, 0.0], IDENTICAL: [[0, 1]]}]
    table = bench.table(rows)
    figures = bench.figures(table.values, table.strata)
    assert figures["overall"] == 0.75 and figures["top1"] == 0.5
    assert bench.details(table)["identical_pairs"] == 1
