"""experiments/self_improvement_smollm2 (Q3 with its controls): the answer check, the three
splits, the length control's reward, the per-question statistics against scipy and statsmodels
directly, and the whole run (both arms, resume, render) on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from experiments.self_improvement_smollm2 import compare, report
from experiments.self_improvement_smollm2 import task as si
from experiments.self_improvement_smollm2.__main__ import load, main
from experiments.self_improvement_smollm2.train import length_reward
from scipy import stats
from statsmodels.stats.multitest import multipletests


@pytest.mark.parametrize("reply, expected", [
    ("59 + 63 = 122", 122),
    ("To solve this, add 61 and 48. 61 + 48 equals 109.", 109),
    ("The answer is 1,234.", 1234),
    ("15 - 43 = -28", -28),
    ("I cannot tell.", None),
    ("", None),
])
def test_the_last_integer_of_the_reply_is_the_answer(reply, expected):
    assert si.parse_answer(reply) == expected


def test_correctness_needs_the_exact_integer():
    assert si.is_correct("47 + 5 = 52", 52)
    assert not si.is_correct("47 + 5 = 53", 52)
    assert not si.is_correct("52.5", 52)  # the last integer is 5
    assert si.correct_func([None, None], ["= 52", [{"role": "assistant", "content": "12"}]],
                           answer=[52, 13]) == [1.0, 0.0]


def test_every_task_answer_is_its_arithmetic():
    for name, (_, build) in si.TASKS.items():
        for question, answer in build():
            words = question.replace("?", " ").replace(".", " ").split()
            a, b = [int(n) for n in words if n.isdigit()]
            assert answer == (a - b if " - " in question else a + b), (name, question)


def test_the_three_splits_are_fixed_and_disjoint():
    splits = si.split("add-2d1d", test=300, validation=200, seed=0)
    again = si.split("add-2d1d", test=300, validation=200, seed=0)
    assert splits == again
    assert (len(splits.test), len(splits.validation), len(splits.train)) == (300, 200, 310)
    sets = [{q for q, _ in part} for part in (splits.test, splits.validation, splits.train)]
    assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]
    # the test set is the earlier run's held-out set: the first of the same shuffle
    assert si.split("add-2d1d", test=300, validation=0, seed=0).test == splits.test
    assert si.split("add-2d1d", test=300, validation=200, seed=1).test != splits.test
    with pytest.raises(ValueError, match=r"add-1d.*100 distinct problems"):
        si.split("add-1d", test=60, validation=40, seed=0)


def test_the_prompt_asks_for_the_number_alone():
    assert si.messages("What is 2 + 3?") == [
        {"role": "user", "content": "What is 2 + 3? Reply with only the number."}]


def test_the_length_control_rewards_fewer_tokens_and_nothing_else():
    assert length_reward(["p"] * 3, ["a", "b", "c"], completion_ids=[[1, 2, 3], [4], []]) \
        == [-3.0, -1.0, -0.0]
    with pytest.raises(ValueError, match="2 completions but 1 id lists"):
        length_reward(["p"] * 2, ["a", "b"], completion_ids=[[1]])


def _block(correct, temperature=None):
    correct = np.asarray(correct).tolist()
    return {"temperature": temperature, "samples": len(correct[0]), "correct": correct,
            "tokens": [[3] * len(row) for row in correct],
            "ended": [[1] * len(row) for row in correct], "examples": []}


def _synthetic(seed=0, questions=30):
    rng = np.random.default_rng(seed)

    def blocks(p_greedy, p_sampled):
        return {"greedy": _block(rng.random((questions, 1)) < p_greedy),
                "T=1": _block(rng.random((questions, 4)) < p_sampled, 1.0)}

    runs = [{"arm": arm, "seed": s, "log": [], "train_seconds": 1.0,
             "after": {"test": blocks(0.3, p)}}
            for arm, p in (("endogenous", 0.6), ("length", 0.2)) for s in (0, 1)]
    return {"config": {"train_temperature": 1.0},
            "before": {"test": blocks(0.3, 0.1),
                       # on validation greedy is best; on test T=1 never is: the choice must
                       # come from validation
                       "validation": {"greedy": _block(np.ones((questions, 1))),
                                      "T=1": _block(np.zeros((questions, 4)), 1.0)}},
            "runs": runs}


def test_the_comparisons_are_per_question_wilcoxon_tests_holm_adjusted_together():
    result = _synthetic()
    found = compare.comparisons(result)
    names = [(x["comparison"], x["decoding"]) for x in found]
    assert names == [("endogenous - before", "greedy"), ("endogenous - before", "T=1"),
                     ("length - before", "greedy"), ("length - before", "T=1"),
                     ("endogenous - length", "greedy"), ("endogenous - length", "T=1"),
                     ("endogenous at T=1 - before at greedy (best on validation)", "T=1 vs greedy"),
                     ("length at T=1 - before at greedy (best on validation)", "T=1 vs greedy")]

    def rate(block):
        return np.mean(block["correct"], axis=1)

    def seeds_mean(arm, mode):
        return np.mean([rate(r["after"]["test"][mode]) for r in result["runs"]
                        if r["arm"] == arm], axis=0)

    before = {m: rate(b) for m, b in result["before"]["test"].items()}
    expected = [seeds_mean("endogenous", "greedy") - before["greedy"],
                seeds_mean("endogenous", "T=1") - before["T=1"],
                seeds_mean("length", "greedy") - before["greedy"],
                seeds_mean("length", "T=1") - before["T=1"],
                seeds_mean("endogenous", "greedy") - seeds_mean("length", "greedy"),
                seeds_mean("endogenous", "T=1") - seeds_mean("length", "T=1"),
                seeds_mean("endogenous", "T=1") - before["greedy"],
                seeds_mean("length", "T=1") - before["greedy"]]
    p = [stats.wilcoxon(d).pvalue if np.count_nonzero(d) else 1.0 for d in expected]
    for x, d, p_one, p_adj in zip(found, expected, p, multipletests(p, method="holm")[1],
                                  strict=True):
        assert x["n"] == 30 and x["mean"] == pytest.approx(d.mean())
        assert x["interval"] == pytest.approx(list(stats.ttest_1samp(d, 0).confidence_interval()))
        assert x["p_wilcoxon"] == pytest.approx(p_one) and x["p_holm"] == pytest.approx(p_adj)
    assert found[1]["verdict"] == "trained higher"  # 0.6 against 0.1 on 30 questions x 4
    assert found[5]["verdict"] == "endogenous higher"


def test_the_untrained_models_best_decoding_is_chosen_on_validation_first_on_a_tie():
    result = _synthetic()
    assert compare.best_decoding(result) == "greedy"
    result["before"]["validation"]["T=1"] = _block(np.ones((30, 4)), 1.0)
    assert compare.best_decoding(result) == "greedy"  # a tie: the first in the modes' order
    result["before"]["validation"]["greedy"] = _block(np.zeros((30, 1)))
    assert compare.best_decoding(result) == "T=1"


def test_below_twenty_questions_no_verdict_is_printed():
    result = _synthetic(questions=12)
    assert {x["verdict"] for x in compare.comparisons(result)} == {"cannot tell at this size"}


def _tiny_model(tmp_path):
    from rewardmine.testing import build_model, build_tokenizer

    corpus = [f"What is {a} + {b}? Reply with only the number. {a} + {b} = {a + b}"
              for a in range(10, 40) for b in range(10, 13)]
    tokenizer = build_tokenizer(corpus, vocab_size=500)
    folder = tmp_path / "tiny"
    build_model("llama", len(tokenizer), seed=3).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_both_arms_run_resume_and_render_from_the_file_alone(tmp_path, capsys):
    page = tmp_path / "page.md"
    page.write_text(f"# Q3\n\nbefore\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n")
    out = tmp_path / "result"
    argv = ["--model", str(_tiny_model(tmp_path)), "--steps", "1", "--batch", "4", "--group", "2",
            "--test-items", "6", "--validation-items", "4", "--temperatures", "1.0",
            "--samples", "2", "--seeds", "0", "--eval-batch", "8", "--out", str(out),
            "--plot", str(tmp_path / "plot.png"), "--page", str(page), "--threads", "1"]
    main([*argv, "--arms"])  # no arm: the untrained model alone, rendered as such
    assert sorted(p.name for p in out.rglob("*.json")) == ["before.json", "config.json"]
    assert "**No run trained yet**" in page.read_text() and "| before | " in page.read_text()
    main(argv)
    assert sorted(p.name for p in out.rglob("*.json")) == [
        "before.json", "config.json", "endogenous-seed0.json", "length-seed0.json"]
    result = load(out)
    assert [(r["arm"], r["seed"]) for r in result["runs"]] == [("endogenous", 0), ("length", 0)]
    test = result["before"]["test"]
    assert list(test) == ["greedy", "T=1"] and len(result["before"]["validation"]["T=1"]
                                                   ["correct"]) == 4
    assert [len(row) for row in test["T=1"]["correct"]] == [2] * 6
    assert all(0 <= n <= 16 for row in test["T=1"]["tokens"] for n in row)
    for run in result["runs"]:
        assert len(run["log"]) == 1 and {"endogenous", "length_reward", "correct"} <= set(
            run["log"][0])
        assert list(run["after"]["test"]) == ["greedy", "T=1"]
    # a length-arm step is rewarded by minus the completion length it logs
    length_run = result["runs"][1]["log"][0]
    assert length_run["length_reward"] == pytest.approx(-length_run["length"], abs=1e-3)
    body = page.read_text()
    assert body.startswith("# Q3\n\nbefore\n\n") and body.endswith("\n\nafter\n")
    assert "old" not in body and "| endogenous - length | T=1 |" in body
    assert "arms `endogenous` (seed 0), `length` (seed 0)" in body
    assert (tmp_path / "plot.png").stat().st_size > 10_000

    # a rerun with the same settings trains nothing; the page renders the same from the file
    capsys.readouterr()
    main(argv)
    assert "endogenous seed 0: in" in capsys.readouterr().out
    assert load(out) == result
    main(["--render", "--out", str(out), "--page", str(page)])
    assert page.read_text() == body
    with pytest.raises(SystemExit, match=r"other settings \(lr\)"):
        main([*argv, "--lr", "1e-3"])
