"""End to end: a tiny real model saved to disk, through the CLI, to a report with plots."""

import json
from pathlib import Path

import pytest

from rewardmine.cli import main
from rewardmine.testing import build_model, build_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tokenizer()
    build_model("llama", len(tokenizer), seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_rm_bench_end_to_end_with_resume_and_compare(tiny_model, tmp_path, capsys, cli_error):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    args = ["bench", "rm-bench", "--model", str(tiny_model), "--data",
            str(FIXTURES / "rm-bench"), "--out", str(out), "--resamples", "50", "--seed", "7",
            "--device", "cpu", "--dtype", "float32"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("overall", "easy", "normal", "hard", "chat", "code", "safety"):
        assert 0.0 <= summary[key] <= 1.0
        low, high = summary["intervals"][key]
        assert low <= summary[key] <= high
    assert "math" not in summary and "math" not in summary["intervals"]
    assert summary["run"]["model"] == f"endogenous:{tiny_model}"
    assert summary["run"]["method"] == "endogenous"
    assert summary["run"]["options"] == {"dtype": "float32", "device": "cpu"}
    assert summary["bootstrap"]["seed"] == 7
    for name in ("report.md", "figures.png", "rmbench_matrix.png"):
        assert (out / name).stat().st_size > 0
    assert "![rmbench_matrix.png](rmbench_matrix.png)" in (out / "report.md").read_text()
    rows = (out / "items.jsonl").read_text()
    assert len(rows.splitlines()) == 6
    # a rerun finds every item scored and scores nothing again
    assert main(args) == 0
    assert (out / "items.jsonl").read_text() == rows
    assert json.loads((out / "summary.json").read_text())["overall"] == summary["overall"]
    # another model's settings cannot be mixed into the same folder
    assert "other settings" in cli_error([*args[:-2], "--dtype", "float32", "--aggregate", "mean"])
    # a scores-file run of the same items, then the paired comparison
    other = tmp_path / "fixture-run"
    assert main(["bench", "rm-bench", "--scores", str(FIXTURES / "rm-bench-scores.jsonl"),
                 "--data", str(FIXTURES / "rm-bench"), "--out", str(other),
                 "--resamples", "50"]) == 0
    capsys.readouterr()
    assert main(["bench", "compare", str(out), str(other), "--resamples", "50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["items_shared"] == 6
    overall = result["figures"]["overall"]
    assert overall["difference"] == pytest.approx(overall["a"] - overall["b"])
    assert overall["b"] == pytest.approx(14.5 / 27)
    # six items: the exact test is printed, a verdict is not
    assert overall["items"] == 6 and 0 <= overall["p"] <= overall["p_holm"] <= 1
    # each figure rests on its own items: the fixture has 2 chat, 1 code and 3 safety items
    assert [result["figures"][k]["items"] for k in ("chat", "code", "safety", "hard")] == \
        [2, 1, 3, 6]
    assert {f["verdict"] for k, f in result["figures"].items()
            if not k.startswith("tie_rate/")} == {"cannot tell at this size"}
    assert main(["bench", "compare", str(out), str(other), "--resamples", "50"]) == 0
    table = capsys.readouterr().out
    assert "Holm p" in table and "cannot tell at this size" in table


def test_dsp_and_principles_through_cli(tiny_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "dsp"
    assert main(["bench", "dsp", "--model", str(tiny_model), "--data", str(FIXTURES / "dsp"),
                 "--out", str(out), "--resamples", "20", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "steering effect on the domain response's margin: " in printed
    assert "2 queries: cannot tell at this size" in printed  # the fixture holds 2 queries
    assert "## Steering effects" in (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["intervals"]) == {"overall", "academy", "business", "entertainment",
                                         "literature"}
    assert (out / "dsp_matrix.png").stat().st_size > 0
    assert summary["details"]["pairs_per_domain"] == 8
    out = tmp_path / "lists"
    assert main(["bench", "principles-dsp", "--scores", str(_list_scores(tmp_path)),
                 "--out", str(out), "--resamples", "20"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairwise_accuracy"] == 1.0 and summary["ndcg"] == pytest.approx(1.0)


def _list_scores(tmp_path):
    from rewardmine.bench.dsp import DOMAINS, RESPONSES
    rows = [{"id": f"{q}|{d}", "principle": d,
             "scores": [1.0 if r == d else 0.0 for r in RESPONSES]}
            for q in range(2) for d in DOMAINS]
    path = tmp_path / "lists.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_unknown_method_names_the_known(tmp_path, cli_error):
    known = ("['classifier', 'endogenous', 'judge', 'judge-pairwise', 'judge-pointwise', 'length-long', "
             "'length-short', 'position-first', 'verifier']")
    assert f"unknown method 'rating'; known: {known}" in cli_error(
        ["bench", "rm-bench", "--model", "x", "--method", "rating", "--out",
         str(tmp_path / "r"), "--data", str(FIXTURES / "rm-bench")])


def test_a_bad_data_path_stops_before_the_model_loads(tmp_path, cli_error, monkeypatch):
    """A typo in --data used to cost a model load first; the data is read before the model."""
    import rewardmine.cli.bench as bench_cli

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the data was checked")

    monkeypatch.setattr(bench_cli, "_reward", no_load)
    message = cli_error(["bench", "rm-bench", "--model", "some/model", "--data",
                         str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "run")])
    assert "no-such-folder" in message


def test_a_run_that_failed_before_scoring_does_not_block_its_corrected_rerun(tmp_path, cli_error):
    """A first try with a wrong --data wrote run.json and nothing else; the corrected command on
    the same --out runs instead of being refused as 'a run with other settings'."""
    scores = Path(__file__).parent / "fixtures" / "bench" / "rm-bench-scores.jsonl"
    out = tmp_path / "run"
    argv = ["bench", "rm-bench", "--scores", str(scores), "--out", str(out)]
    assert "nowhere" in cli_error([*argv, "--data", str(tmp_path / "nowhere")])
    assert main([*argv, "--data", str(Path(__file__).parent / "fixtures" / "bench" /
                                       "rm-bench")]) == 0
    # run.json says what ran it: versions, the commit, the machine, the data
    run = json.loads((out / "run.json").read_text())
    assert run["source"].endswith("rm-bench") and run["environment"]["torch"]
    assert run["environment"]["rewardmine"] and run["environment"]["cpu"]
    assert run["environment"]["commit"] is None or len(run["environment"]["commit"]) == 40


def test_a_limit_that_leaves_a_stratum_out_says_so(tiny_model, tmp_path, capsys):
    """--limit keeps the first N items; where that leaves a split out entirely (HH-RLHF's first
    items are all of one split) the run says so on stderr and its summary records what it kept."""
    out = tmp_path / "hh"
    assert main(["bench", "hh-rlhf", "--model", str(tiny_model), "--data",
                 str(Path(__file__).parent / "fixtures" / "bench" / "hh-rlhf"), "--out",
                 str(out), "--splits", "helpful-base", "harmless-base", "--limit", "2",
                 "--resamples", "20"]) == 0
    err = capsys.readouterr().err
    assert "--limit 2 keeps the first 2 items, so these strata are left out entirely" in err
    kept = json.loads((out / "summary.json").read_text())["run"]["limited_strata"]
    assert sum(k for k, _ in kept.values()) == 2 and any(k == 0 for k, _ in kept.values())
