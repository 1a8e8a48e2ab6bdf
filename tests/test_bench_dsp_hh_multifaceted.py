from pathlib import Path

import numpy as np
import pytest

from rewardmine.bench.base import IDENTICAL, identical_pairs
from rewardmine.bench.data import read_json_records, shared_data_dir
from rewardmine.bench.dsp import DSP, SYSTEM_PROMPTS, pairs_per_domain
from rewardmine.bench.hhrlhf import HHRLHF, parse_dialogue
from rewardmine.bench.multifaceted import MultifacetedBench
from rewardmine.bench.runner import figure_items, summarize

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


def test_dsp_cross_domain_matrix_hand_computed():
    bench = DSP()
    table = bench.table(read_json_records(FIXTURES / "dsp-scores.jsonl"))
    figures = bench.figures(table.values, table.strata)
    # steered for academy, query 0: academy 3 beats business 1, entertainment 1, normal 0 and
    # ties literature 3 (a tie is half right) -> 3.5/4; query 1 -> 4/4.
    assert figures["academy"] == pytest.approx(7.5 / 8)
    # business steered for business: query 0 ties all four (2/4), query 1 wins all four
    assert figures["business"] == pytest.approx(6 / 8)
    assert figures["entertainment"] == figures["literature"] == 0.5  # every pair tied
    assert figures["tie_rate/entertainment"] == 1.0
    assert figures["tie_rate/academy"] == pytest.approx(1 / 8)
    assert figures["overall"] == pytest.approx((7.5 / 8 + 6 / 8 + 0.5 + 0.5) / 4)
    details = bench.details(table)
    # academy reward, literature pairs: query 0 3 wins and a tie, query 1 a loss and 3 ties
    assert details["matrix"][0][3] == pytest.approx(5 / 8)
    assert details["matrix"][0][1] == pytest.approx(3 / 8)
    assert details["tied_pairs_per_cell"][0][0] == 1
    assert details["pairs_per_domain"] == 8 and details["identical_pairs"] == 0


def test_dsp_candidates_steer_with_domain_prompts():
    bench = DSP(systems={**SYSTEM_PROMPTS, "academy": "Be scholarly."})
    items = bench.load(FIXTURES / "dsp")
    candidates = bench.candidates(items[0])
    assert len(candidates) == 20
    assert candidates[0].system == "Be scholarly."
    assert candidates[5].system == SYSTEM_PROMPTS["business"]
    row = bench.to_row(items[0], list(range(20)))
    assert row["scores"]["business"]["normal"] == 9
    with pytest.raises(ValueError, match="missing \\['literature'\\]"):
        DSP(systems={k: v for k, v in SYSTEM_PROMPTS.items() if k != "literature"})


def test_dsp_shared_pair_count():
    root = shared_data_dir()
    if root is None or not (root / "dsp").exists():
        pytest.skip("shared data folder ../shared/data/dsp is not present")
    items = DSP().load(root / "dsp")
    assert len(items) == 661
    assert pairs_per_domain(items) == 2644
    assert sum(1 for i in items if not i.record["responses"]["normal"]) == 1


def test_hh_parse_and_accuracy_per_split():
    messages, reply = parse_dialogue("\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d",
                                     "x")
    assert messages == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                        {"role": "user", "content": "c"}]
    assert reply == "d"
    with pytest.raises(ValueError, match="ending with an Assistant turn"):
        parse_dialogue("\n\nHuman: a", "record 3")
    bench = HHRLHF(splits=("harmless-base", "helpful-base"))
    items = bench.load(FIXTURES / "hh-rlhf")
    assert [i.id for i in items] == ["harmless-base/0", "helpful-base/0", "helpful-base/1",
                                     "helpful-base/2"]
    assert bench.candidates(items[1])[0].prompt[-1] == {"role": "user", "content": "Yes."}
    scores = [[1, 0], [2, 1], [1, 1], [0, 0]]
    rows = [{**bench.to_row(item, s), IDENTICAL: identical_pairs(bench.candidates(item))}
            for item, s in zip(items, scores, strict=True)]  # as the runner writes them
    table = bench.table(rows)
    figures = bench.figures(table.values, table.strata)
    # helpful-base: one win and two ties (wrong for a scalar scorer), one of them the identical
    # pair, scored like any other as RewardBench does
    assert figures == {"harmless_base": 1.0, "helpful_base": pytest.approx(1 / 3),
                       "overall": 0.5, "tie_rate/harmless_base": 0.0,
                       "tie_rate/helpful_base": pytest.approx(2 / 3), "tie_rate/overall": 0.5}
    assert bench.details(table)["splits"]["helpful-base"] == {
        "pairs": 3, "identical_pairs": 1, "malformed_pairs": 0, "wins": 1, "ties": 2}
    summary = summarize(bench, rows, resamples=200, seed=0)
    assert summary["helpful_base"] == pytest.approx(1 / 3)
    assert summary["identical_pairs"] == 1 and summary["identical_share"] == 0.25
    assert summary["tie_rate"] == 0.5  # the identical pair is one of the two ties
    # what each figure rests on, for the verdict floor: a split's pairs, and all of them overall
    # (the mean over pairs stays finite when one is left out, as a pair with no reply is)
    keys = ["overall", "helpful_base", "harmless_base"]
    assert figure_items(bench, table.values, table.strata, keys) == {
        "overall": 4, "helpful_base": 3, "harmless_base": 1}
    malformed = bench.table([*rows, {"id": "helpful-base/9", "split": "helpful-base",
                                     "malformed": "no reply"}])
    assert figure_items(bench, malformed.values, malformed.strata, keys) == {
        "overall": 4, "helpful_base": 3, "harmless_base": 1}


def test_hh_shared_copy_parses_and_flags_malformed_pairs():
    root = shared_data_dir()
    if root is None or not (root / "hh-rlhf").exists():
        pytest.skip("shared data folder ../shared/data/hh-rlhf is not present")
    bench = HHRLHF()
    items = bench.load(root / "hh-rlhf")
    assert len(items) == 8552
    assert [i.id for i in items if "malformed" in i.extra] == ["helpful-online/785",
                                                               "helpful-online/1055"]
    identical = [identical_pairs(bench.candidates(i)) for i in items]
    assert sum(map(bool, identical)) == 36
    # a scalar scorer that prefers every chosen reply, and ties the identical ones
    rows = [{**bench.to_row(i, [0.0, 0.0] if same else [1.0, 0.0]), IDENTICAL: same}
            for i, same in zip(items, identical, strict=True)]
    table = bench.table(rows)
    details = bench.details(table)
    assert details["splits"]["helpful-online"]["malformed_pairs"] == 2
    assert details["identical_pairs"] == details["tied_pairs"] == 36
    assert details["pairs"] == 8552 - 2  # the two without a reply are left out
    figures = bench.figures(table.values, table.strata)
    assert figures["overall"] == pytest.approx((8550 - 36) / 8550)


def test_multifaceted_pairing_protocol():
    bench = MultifacetedBench()
    items = bench.load(FIXTURES / "multifaceted.json")
    assert len(bench.candidates(items[0])) == 3
    assert bench.candidates(items[0])[0].system == "You write for children, simply."
    assert bench.candidates(items[3]) == []  # its prompt appears once
    rows = [bench.to_row(items[0], [3, 1, 2]), bench.to_row(items[1], [1, 1, 0]),
            bench.to_row(items[2], [0, 1, 2]), bench.to_row(items[3], [])]
    table = bench.table(rows)
    figures = bench.figures(table.values, table.strata)
    # 2 wins; a tie (half) and a win; 2 losses. top1: 1, the top shared by 2 (1/2), 0
    assert figures["overall"] == pytest.approx(3.5 / 6)
    assert figures["top1"] == pytest.approx(1.5 / 3)
    assert figures["tie_rate/overall"] == pytest.approx(1 / 6)
    assert bench.details(table) == {"rows": 4, "rows_without_partner": 1, "pairs": 6,
                                    "tied_pairs": 1, "identical_pairs": 0}


def dsp_rows(grids):
    from rewardmine.bench.dsp import DOMAINS, RESPONSES

    return [{"id": str(q), "scores": {steer: {r: float(grid[a][k]) for k, r in enumerate(RESPONSES)}
                                      for a, steer in enumerate(DOMAINS)}}
            for q, grid in enumerate(grids)]


@pytest.mark.parametrize("queries, verdict", [(25, "matched steering raises it"),
                                              (5, "cannot tell at this size")])
def test_dsp_steering_effect_is_the_matched_bonus_whatever_the_lengths_and_system_shifts(
        queries, verdict):
    """A reward that adds b to the matched response (and a shift per system prompt to every
    response, as V(s_1) does) has a steering effect of b + b/4 on every domain: under its own
    steering the D response gains b; under another steering A, one of D's four rivals (A's
    response) gains b, lowering D's margin by b/4."""
    rng = np.random.default_rng(0)
    grids, bonuses = [], []
    for _ in range(queries):
        base = rng.normal(-300, 80, size=5)  # the responses' own scores (length, say)
        shift = rng.normal(0, 30, size=4)    # what each system prompt adds to every response
        bonus = rng.uniform(0.5, 2.0)
        grid = base[None, :] + shift[:, None]
        grid[np.arange(4), np.arange(4)] += bonus
        grids.append(grid)
        bonuses.append(bonus)
    steering = DSP().details(DSP().table(dsp_rows(grids)))["steering"]
    assert steering["margin"]["mean"] == pytest.approx(1.25 * np.mean(bonuses))
    for effect in steering["margin_per_domain"].values():
        assert effect["mean"] == pytest.approx(1.25 * np.mean(bonuses))
    assert steering["margin"]["verdict"] == verdict
    assert steering["margin"]["n"] == queries
    # the four domains are read together: Holm over their p-values decides their verdicts
    from rewardmine.statistics import holm

    per = list(steering["margin_per_domain"].values())
    assert [e["p_wilcoxon_holm"] for e in per] == pytest.approx(holm([e["p_wilcoxon"]
                                                                      for e in per]))
    # the report and the command's printout say the same, with the interval and the test
    from rewardmine.bench.report import steering_lines

    lines = steering_lines({"details": {"steering": steering}})
    low, high = steering["margin"]["interval"]
    assert lines[0] == (f"steering effect on the domain response's margin: "
                        f"{1.25 * np.mean(bonuses):+.2f} score units [{low:+.2f}, {high:+.2f}], "
                        f"Wilcoxon p {steering['margin']['p_wilcoxon']:.2g}, {queries} queries: "
                        f"{verdict}")
    assert [x.split(":")[0].strip() for x in lines[1:5]] == list(steering["margin_per_domain"])
    assert all("Holm-adjusted Wilcoxon p" in x for x in lines[1:5])
    assert lines[5].startswith("steering effect on pairwise accuracy: ")
    assert steering_lines({"details": {"steering": steering}}, per_domain=False) == [
        lines[0], lines[5]]
    assert steering_lines({"details": {}}) == []


def test_dsp_steering_accuracy_effect_is_diagonal_minus_off_diagonal_per_query():
    from rewardmine.bench.dsp import DOMAINS

    # every steering prefers the academy response; no steering changes an order
    grid = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]] * 4)
    steering = DSP().details(DSP().table(dsp_rows([grid] * 3)))["steering"]
    # diagonal: academy wins 4/4, business 3/4, entertainment 2/4, literature 1/4 -> 10/16;
    # each column's off-diagonal cells equal its diagonal cell here -> effect 0
    assert steering["accuracy"]["mean"] == 0.0
    assert steering["margin"]["mean"] == 0.0 and len(steering["margin_per_domain"]) == len(DOMAINS)


def test_dsp_steering_a_scorer_the_system_prompt_does_not_move_has_no_effect_not_rounding_noise():
    """Scores that ignore the steering (a length baseline, a scorer without system prompts)
    give effects of exactly 0, so the rank test sees nothing, rather than differences of a few
    ulps whose signs it would read as a significant effect."""
    rng = np.random.default_rng(3)
    grids = [np.tile(rng.normal(-300, 80, size=5), (4, 1)) for _ in range(60)]
    steering = DSP().details(DSP().table(dsp_rows(grids)))["steering"]
    for effect in [steering["margin"], steering["accuracy"],
                   *steering["margin_per_domain"].values()]:
        assert effect["mean"] == 0.0 and effect["interval"] == [0.0, 0.0]
        assert effect["p_wilcoxon"] == 1.0 and effect["verdict"] == "no difference shown"
