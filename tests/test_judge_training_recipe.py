"""Training a judge: lists from every source, the split by principle, the GRPO rows as the judge
renders them, and the train-judge command end to end with a real GRPOTrainer on a tiny model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rewardmine.judge.prompt import system_prompt
from rewardmine.judgetraining.data import (
    JudgeList,
    format_rows,
    grpo_rows,
    load_lists,
    pairs_of,
    split_by_principle,
    write_lists,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


def lists(principles=("brevity", "accuracy", "safety", "tone"), per=3):
    return [JudgeList(f"{p}-{k}", p, f"Judge by {p}.", f"Question {k}?",
                      {"a": "x" * (k + 1), "b": "yy", "c": "zzz z"}, {"a": 3.0, "b": 2.0, "c": 1.0})
            for p in principles for k in range(per)]


def test_a_build_bench_file_and_a_principle_benchmark_both_load(tmp_path):
    path = tmp_path / "benchmark.jsonl"
    write_lists(lists(), path)
    loaded = load_lists(path)
    assert loaded == lists()  # write_lists writes build-bench rows; they read back as they were
    dsp = load_lists("principles-dsp", data=FIXTURES / "dsp")
    assert {x.principle for x in dsp} == {"academy", "business", "entertainment", "literature"}
    first = dsp[0]
    assert len(first.responses) == 5 and max(first.truth.values()) > min(first.truth.values())
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"principle": "p", "prompt": "q", "responses": ["a", "b"],
                               "scores": [1, 1]}) + "\n")
    with pytest.raises(ValueError, match="row 1: a list needs two or more responses with "
                                         "different scores"):
        load_lists(bad)


def test_the_split_is_by_principle_never_by_row():
    train, held, names = split_by_principle(lists(), held_out=0.25, seed=3)
    assert len(names) == 1 and {x.principle for x in held} == set(names)
    assert not {x.principle for x in train} & set(names)
    assert len(train) + len(held) == 12 and len(held) == 3
    train, held, names = split_by_principle(lists(), held_out=["tone", "safety"])
    assert names == ["safety", "tone"] and len(held) == 6
    for bad in (["nope"], ["brevity", "accuracy", "safety", "tone"], 0.0, 1.5):
        with pytest.raises(ValueError):
            split_by_principle(lists(), held_out=bad)
    with pytest.raises(ValueError, match="two or more"):
        split_by_principle(lists(("one",)), held_out=0.5)


def test_rows_are_the_judges_prompt_with_ids_and_positions_drawn_per_row():
    rows = grpo_rows(lists(per=30), seed=0)
    row = rows[0]
    system, user = row["prompt"]
    assert system == {"role": "system", "content": system_prompt((1, 5))}
    shown = json.loads(user["content"])
    assert set(shown) == {"principle", "prompt", "responses"}
    assert shown["principle"] == "Judge by brevity." and list(shown["responses"]) == row["ids"]
    truth_by_text = {"x": 3.0, "yy": 2.0, "zzz z": 1.0}
    assert row["truth_scores"] == [truth_by_text[shown["responses"][i]] for i in row["ids"]]
    # which masked id, and which position, the best response gets varies from row to row
    best_ids = Counter(r["ids"][r["truth_scores"].index(3.0)] for r in rows)
    assert len(best_ids) == 3 and min(best_ids.values()) > 10
    assert grpo_rows(lists(per=30), seed=0) == rows and grpo_rows(lists(per=30), seed=1) != rows


def test_pairwise_rows_are_every_pair_the_truth_orders_each_shown_as_the_judge_shows_it():
    tied = JudgeList("t", "tone", "Judge by tone.", "Q?", {"a": "x", "b": "yy", "c": "zzz"},
                     {"a": 2.0, "b": 2.0, "c": 1.0})
    assert [(x.id, dict(x.truth)) for x in pairs_of([tied])] == [
        ("t/a-c", {"a": 2.0, "c": 1.0}), ("t/b-c", {"b": 2.0, "c": 1.0})]  # a-b: a tie, left out
    source = lists(per=30)
    rows = grpo_rows(source, seed=0, mode="pairwise")
    assert len(rows) == 3 * len(source)  # three responses, three distinct truths: C(3, 2) pairs
    assert grpo_rows(pairs_of(source), seed=0) == rows  # one row per pair, as for any list
    def truth_of(text):  # lists(): "a" is a run of x's (3.0), "b" is "yy" (2.0), "c" 1.0
        return 3.0 if set(text) == {"x"} else {"yy": 2.0, "zzz z": 1.0}[text]

    for row in rows:
        shown = json.loads(row["prompt"][1]["content"])["responses"]
        assert len(row["ids"]) == 2 and list(shown) == row["ids"]
        assert row["truth_scores"] == [truth_of(shown[i]) for i in row["ids"]]
        assert len(set(row["truth_scores"])) == 2
    # the better response is first as often as second: position carries no signal
    first_better = sum(r["truth_scores"][0] > r["truth_scores"][1] for r in rows)
    assert 0.35 * len(rows) < first_better < 0.65 * len(rows)
    with pytest.raises(ValueError, match="mode must be one of"):
        grpo_rows(source, mode="pointwise")


def train_args(tmp_path, out, *extra):
    """train-judge on a tiny random Qwen2 saved under tmp_path, one GRPO step on the DSP
    fixture's lists with literature held out, and ``extra`` flags."""
    from rewardmine.testing import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    start = tmp_path / "start"
    build_model("qwen2", len(tokenizer), seed=0, max_position_embeddings=2048).save_pretrained(
        start)
    tokenizer.save_pretrained(start)
    return ["train-judge", "--data", "principles-dsp", "--bench-data", str(FIXTURES / "dsp"),
            "--model", str(start), "--out", str(out), "--held-out", "literature",
            "--steps", "1", "--batch-size", "4", "--num-generations", "2",
            "--max-completion-length", "8", *extra]


def test_train_judge_end_to_end_on_a_tiny_model(tmp_path):
    pytest.importorskip("trl")
    from rewardmine import PrincipleJudge
    from rewardmine.cli import main

    out = tmp_path / "run"
    assert main(train_args(tmp_path, out, "--learning-rate", "1e-3")) == 0
    split = json.loads((out / "split.json").read_text())
    assert split["held_out_principles"] == ["literature"]
    assert "literature" not in split["train_principles"]
    held = [json.loads(line) for line in (out / "heldout.jsonl").read_text().splitlines()]
    assert held and {row["dimension"] for row in held} == {"literature"}
    log = json.loads((out / "log.json").read_text())["log"]
    assert any("rewards/verdict_reward/mean" in h for h in log)
    judge = PrincipleJudge.from_pretrained(str(out / "model"), max_new_tokens=8, thinking=False,
                                           on_invalid="return")
    (verdict,) = judge.judge_many([{"principle": "p", "prompt": "q",
                                    "responses": {"a": "1", "b": "2"}}])
    assert verdict.status in ("ok", "invalid")  # the trained weights load and generate
    # the held-out file is what bench reads: the trained judge evaluated on it, as documented
    assert main(["bench", "principles-build-bench", "--data", str(out / "heldout.jsonl"),
                 "--method", "judge", "--model", f"principle:{out / 'model'}",
                 "--option", "constrained=true", "--option", "thinking=false",
                 "--option", "max_new_tokens=600", "--out", str(tmp_path / "eval"),
                 "--resamples", "20"]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["items"] == len(held) and summary["run"]["scorer_kind"] == "generative"


def test_the_documented_export_command_runs_as_written(tmp_path):
    import re
    import shutil
    import subprocess

    pytest.importorskip("pandas")
    page = (Path(__file__).resolve().parents[1] / "docs" / "judge.md").read_text()
    (command,) = re.findall(r"```bash\n(rewardmine train-judge --data benchmark\.jsonl.*?)```",
                            page, flags=re.S)
    write_lists(lists(), tmp_path / "benchmark.jsonl")
    assert shutil.which("rewardmine"), "the rewardmine command is installed with the package"
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "data" / "train.parquet").exists()
    assert (tmp_path / "data" / "heldout.parquet").exists()


def test_the_verl_export_holds_the_rows_verls_reward_function_reads(tmp_path):
    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from rewardmine.cli import main
    from rewardmine.rl.verl import judge_training_score

    out = tmp_path / "verl"
    assert main(["train-judge", "--data", "principles-dsp", "--bench-data", str(FIXTURES / "dsp"),
                 "--model", "unused", "--out", str(out), "--held-out", "academy",
                 "--export-verl"]) == 0
    assert not (out / "model").exists()  # nothing trained
    train = pandas.read_parquet(out / "train.parquet")
    assert set(train.columns) == {"data_source", "prompt", "ability", "reward_model",
                                  "extra_info"}
    assert "academy" not in set(train["extra_info"].map(lambda e: e["principle"]))
    row = train.iloc[0]
    truth = json.loads(row["reward_model"]["ground_truth"])
    best = truth["ids"][truth["truth_scores"].index(max(truth["truth_scores"]))]
    scores = {i: (5 if i == best else 1) for i in truth["ids"]}
    verdict = json.dumps({"scores": scores, "best-to-worst": sorted(scores, key=lambda i:
                                                                    -scores[i])})
    assert judge_training_score("rewardmine-judge", verdict, row["reward_model"]["ground_truth"],
                                dict(row["extra_info"])) > judge_training_score(
        "rewardmine-judge", "", row["reward_model"]["ground_truth"], None)
    # --mode pairwise exports one row per pair of a list's responses the truth orders
    pairs = tmp_path / "pairs"
    assert main(["train-judge", "--data", "principles-dsp", "--bench-data", str(FIXTURES / "dsp"),
                 "--model", "unused", "--out", str(pairs), "--held-out", "academy",
                 "--mode", "pairwise", "--export-verl"]) == 0
    paired = pandas.read_parquet(pairs / "train.parquet")
    train_lists = [x for x in load_lists("principles-dsp", data=FIXTURES / "dsp")
                   if x.principle != "academy"]
    assert len(paired) == len(pairs_of(train_lists)) > len(train)
    assert {len(json.loads(g["ground_truth"])["ids"]) for g in paired["reward_model"]} == {2}
    assert json.loads((pairs / "split.json").read_text())["mode"] == "pairwise"


def test_warm_start_rows_are_valid_verdicts_that_know_nothing_of_the_truth():
    from rewardmine.judge.training import verdict_accuracy_score, verdict_format_score

    rows = grpo_rows(lists(per=20), seed=0)
    warm = format_rows(rows, seed=0)
    assert [w["prompt"] for w in warm] == [r["prompt"] for r in rows]
    answers = [w["completion"][0]["content"] for w in warm]
    assert all(verdict_format_score(a, r["ids"], require_thinking=False) == 1.0
               for a, r in zip(answers, rows, strict=True))
    # the same rows with the truth reversed get the same answers: the scores are not the truth's
    flipped = [{**r, "truth_scores": r["truth_scores"][::-1]} for r in rows]
    assert format_rows(flipped, seed=0) == warm
    accuracy = [verdict_accuracy_score(a, r["ids"], r["truth_scores"])
                for a, r in zip(answers, rows, strict=True)]
    assert 0.3 < sum(accuracy) / len(accuracy) < 0.7  # chance, on 80 lists


def test_a_warm_start_runs_before_grpo_and_lowers_its_loss(tmp_path):
    pytest.importorskip("trl")
    from rewardmine.cli import main

    out = tmp_path / "run"
    assert main(train_args(tmp_path, out, "--warm-start-steps", "12",
                           "--warm-start-learning-rate", "3e-3")) == 0
    log = json.loads((out / "log.json").read_text())
    losses = [h["loss"] for h in log["warm_start"] if "loss" in h]
    assert len(losses) == 12 and losses[-1] < 0.8 * losses[0]  # 5.98 -> 4.03 when measured
    assert any("rewards/verdict_reward/mean" in h for h in log["log"])  # GRPO ran after it
