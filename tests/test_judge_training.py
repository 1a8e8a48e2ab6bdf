"""GRPO rewards for training a judge, against hand-computed values."""

from __future__ import annotations

import json
import math
import random

import pytest

from rewardmine.judge.training import (
    training_example,
    verdict_accuracy_reward,
    verdict_accuracy_score,
    verdict_format_reward,
    verdict_format_score,
    verdict_reward,
    verdict_reward_fn,
    weighted_pair_score,
)
from rewardmine.statistics import kendall_tau_b

IDS = ["model-1", "model-2", "model-3"]
TRUTH = [5.0, 3.0, 1.0]  # pair weights: (1,2) 3, (1,3) 5, (2,3) 3; total 11


def answer(scores, ranking, think="I compared them."):
    return f"<think>{think}</think>\n" + json.dumps({"scores": dict(zip(IDS, scores, strict=True)),
                                                    "best-to-worst": ranking})


def test_weighted_pairs_by_hand():
    assert weighted_pair_score([5, 3, 1], TRUTH) == 1.0
    # (1,2) tie: 1.5 of 3; (1,3) reversed: 0 of 5; (2,3) reversed: 0 of 3
    assert weighted_pair_score([4, 4, 5], TRUTH) == pytest.approx(1.5 / 11)
    # (1,2) right 3; (1,3) right 5; (2,3) tie 1.5
    assert weighted_pair_score([5, 2, 2], TRUTH) == pytest.approx(9.5 / 11)
    # truth tie on (2,3) is not scored: pairs (1,2) w=3 right, (1,3) w=3 reversed
    assert weighted_pair_score([3, 1, 4], [3, 1, 1]) == pytest.approx(3 / 6)
    assert weighted_pair_score([1, 2, 3], [2, 2, 2]) is None


def test_kendall_tau_b_by_hand_and_against_scipy():
    # C=0, D=2, one tie in x only: (0-2)/sqrt((0+2+1)*(0+2+0))
    assert kendall_tau_b([4, 4, 5], TRUTH) == pytest.approx(-2 / math.sqrt(6))
    assert kendall_tau_b([1, 2, 3], [1, 2, 3]) == 1.0
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))  # undefined, as in scipy
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(50):
        x = [rng.randint(1, 5) for _ in range(6)]
        y = [rng.randint(1, 5) for _ in range(6)]
        expected = stats.kendalltau(x, y).statistic
        got = kendall_tau_b(x, y)
        assert math.isnan(got) if math.isnan(expected) else got == pytest.approx(expected)


def test_accuracy_by_hand():
    text = answer([4, 4, 5], ["model-3", "model-1", "model-2"])
    tau = (-2 / math.sqrt(6) + 1) / 2
    assert verdict_accuracy_score(text, IDS, TRUTH) == pytest.approx(0.5 * 1.5 / 11 + 0.5 * tau)
    perfect = answer([5, 3, 1], ["model-1", "model-2", "model-3"])
    assert verdict_accuracy_score(perfect, IDS, TRUTH) == 1.0
    assert verdict_accuracy_score(perfect, IDS, TRUTH, tau_weight=0.0) == 1.0


@pytest.mark.parametrize("text", [
    "", "<think>no answer</think>", '{"scores": {}, "best-to-worst": []}',
    '{"scores": {"model-1": 5, "model-2": 3}, "best-to-worst": ["model-1", "model-2"]}',
])
def test_missing_or_empty_predictions_score_zero(text):
    assert verdict_accuracy_score(text, IDS, TRUTH) == 0.0


def test_format_checks_by_hand():
    good = answer([5, 3, 1], ["model-1", "model-2", "model-3"])
    assert verdict_format_score(good, IDS) == 1.0
    # no thinking: 3 of 4
    assert verdict_format_score(good.split("\n", 1)[1], IDS) == 0.75
    assert verdict_format_score(good.split("\n", 1)[1], IDS, require_thinking=False) == 1.0
    # ranking disagrees with the scores: 3 of 4
    assert verdict_format_score(answer([5, 3, 1], ["model-2", "model-1", "model-3"]), IDS) == 0.75
    # a missing id: thinking and JSON only
    assert verdict_format_score(answer([5, 3, 1], ["model-1", "model-2"]), IDS) == 0.5
    # trailing comma: the JSON does not parse as written, so nothing past thinking counts
    assert verdict_format_score('<think>x</think>{"scores": {"model-1": 5,}}', IDS) == 0.25
    # a misspelt key is a format defect
    bad_key = good.replace("best-to-worst", "best_to_worst")
    assert verdict_format_score(bad_key, IDS) == 0.25
    assert verdict_format_score("", IDS) == 0.0


def test_trl_signature_and_combination():
    good = answer([5, 3, 1], ["model-1", "model-2", "model-3"])
    wrong = answer([1, 3, 5], ["model-3", "model-2", "model-1"])  # valid format, reversed
    completions = [good, [{"role": "assistant", "content": wrong}], "garbage"]
    rows = dict(ids=[IDS] * 3, truth_scores=[TRUTH] * 3, prompts=["p"] * 3)
    assert verdict_format_reward(completions, **rows) == [1.0, 1.0, 0.0]
    assert verdict_accuracy_reward(completions, **rows) == [1.0, 0.0, 0.0]
    assert verdict_reward(completions, **rows) == pytest.approx([1.0, 0.15, 0.0])
    custom = verdict_reward_fn(format_weight=0.5, accuracy_weight=0.5)
    assert custom(completions, **rows) == pytest.approx([1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="'ids'"):
        verdict_format_reward(completions)
    with pytest.raises(ValueError, match="truth_scores has 2 values for 3 ids"):
        verdict_accuracy_reward([good], ids=[IDS], truth_scores=[[1, 2]])


def test_training_example_aligns_truth_with_masked_ids():
    row = training_example("p", "q", {"a": "A", "b": "B", "c": "C"}, {"a": 1, "b": 5, "c": 3},
                           rng=random.Random(4))
    shown = json.loads(row["prompt"][-1]["content"])["responses"]
    truth_by_text = {"A": 1.0, "B": 5.0, "C": 3.0}
    assert row["ids"] == list(shown)
    assert row["truth_scores"] == [truth_by_text[shown[i]] for i in row["ids"]]


def test_the_training_reward_and_the_benchmark_share_one_kendall_tau():
    """One tau-b for every consumer (two hand-written ones disagreed on constant input): the
    accuracy reward's tau part is rewardmine.statistics' (scipy's), a constant side counting
    as no agreement."""
    import json

    from scipy import stats

    from rewardmine.judge.training import verdict_accuracy_score

    ids, truth = ["a", "b", "c", "d"], [4.0, 3.0, 3.0, 1.0]
    for predicted in ([5, 2, 2, 1], [1, 2, 3, 4], [3, 3, 3, 3]):
        text = json.dumps({"scores": dict(zip(ids, predicted, strict=True)),
                           "best-to-worst": [i for _, i in sorted(
                               zip(predicted, ids, strict=True), key=lambda p: -p[0])]})
        score = verdict_accuracy_score(text, ids, truth, tau_weight=1.0)
        tau = stats.kendalltau(predicted, truth, variant="b").statistic
        assert score == pytest.approx(0.5 if len(set(predicted)) == 1 else (tau + 1) / 2)


def audit_outputs(prompt_text):
    """Outputs a policy in training could try, none of them a correct, complete verdict."""
    good_scores = {"model-1": 5, "model-2": 3, "model-3": 1}
    ranking = ["model-1", "model-2", "model-3"]

    def verdict(scores, order, think="I compared them."):
        return f"<think>{think}</think>\n" + json.dumps({"scores": scores, "best-to-worst": order})

    return {
        "empty": "",
        "thinking only": "<think>they are all fine</think>",
        "omits an id": verdict({"model-1": 5, "model-2": 3}, ["model-1", "model-2"]),
        "repeats an id in the ranking": verdict(good_scores, ["model-1", "model-1", "model-3"]),
        "repeats an id in the scores": ('<think>x</think>\n{"scores": {"model-1": 5, '
                                        '"model-1": 4, "model-2": 3, "model-3": 1}, '
                                        '"best-to-worst": ["model-1", "model-2", "model-3"]}'),
        "scores above the scale": verdict({"model-1": 9, "model-2": 3, "model-3": 1}, ranking),
        "scores below the scale": verdict({"model-1": 5, "model-2": 3, "model-3": 0}, ranking),
        "non-integer scores": verdict({"model-1": 4.5, "model-2": 3, "model-3": 1}, ranking),
        "ranking disagrees with the scores": verdict(good_scores, ["model-3", "model-2",
                                                                   "model-1"]),
        "an unknown id": verdict({**good_scores, "model-4": 2}, [*ranking, "model-4"]),
        "everything tied": verdict({"model-1": 3, "model-2": 3, "model-3": 3}, ranking),
        "copies the prompt": prompt_text,
        "two answers": verdict(good_scores, ranking) + "\n" + verdict(
            {"model-1": 1, "model-2": 3, "model-3": 5}, ranking[::-1]),
    }


def test_no_flawed_verdict_earns_what_a_correct_one_earns():
    """The reward audit: each reward gives its maximum only to a correct, complete verdict (the
    published package's accuracy reward gave an empty prediction 1.0)."""
    row = training_example("Prefer correct answers.", "What is 2+2?",
                           {"model-1": "4", "model-2": "four-ish", "model-3": "5"},
                           {"model-1": 5, "model-2": 3, "model-3": 1}, rng=random.Random(0))
    ids, truth = IDS, TRUTH
    prompt_text = "\n".join(m["content"] for m in row["prompt"])
    correct = answer([5, 3, 1], ["model-1", "model-2", "model-3"])
    best = {"format": verdict_format_score(correct, ids),
            "accuracy": verdict_accuracy_score(correct, ids, truth),
            "combined": verdict_reward([correct], ids=[ids], truth_scores=[truth])[0]}
    assert best == {"format": 1.0, "accuracy": 1.0, "combined": pytest.approx(1.0)}
    for name, text in audit_outputs(prompt_text).items():
        got = {"format": verdict_format_score(text, ids),
               "accuracy": verdict_accuracy_score(text, ids, truth),
               "combined": verdict_reward([text], ids=[ids], truth_scores=[truth])[0]}
        assert got["combined"] < best["combined"], (name, got)
        assert got["format"] < 1.0 or got["accuracy"] < 1.0, (name, got)
    assert verdict_accuracy_score("", ids, truth) == 0.0  # never a perfect score for nothing
