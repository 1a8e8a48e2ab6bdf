"""scripts/real_results.py end to end on tiny random models and the bench fixtures: the page shows
the JSON's numbers, the one-pass endogenous variants equal the official ``rewardmine bench``
scorers, and a rerun resumes without scoring anything again."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from rewardmine.cli import main as rewardmine_main
from rewardmine.testing import build_model, build_tokenizer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "bench"
PLAN = {"rm-bench": {"chat": [2, 1], "code": [1, 0], "safety-refuse": [1, 0],
                     "safety-response": [1, 1]},
        "dsp": {"dsp": [1, 1]},
        "hh-rlhf": {"helpful-base": [2, 1], "harmless-base": [2, 1]}}


def _script():
    """scripts/real_results.py as a module (scripts/ is not a package)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    return importlib.import_module("real_results")


def _tiny(folder: Path, *, template: bool) -> Path:
    tokenizer = build_tokenizer() if template else build_tokenizer(chat_template=None)
    build_model("llama", len(tokenizer), seed=0 if template else 1,
                max_position_embeddings=4096).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _cell(f):
    return f"{100 * f['value']:.1f} [{100 * f['low']:.1f}, {100 * f['high']:.1f}]"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    pytest.importorskip("xgrammar")
    root = tmp_path_factory.mktemp("real-results")
    smol = _tiny(root / "smol", template=True)
    gemma = _tiny(root / "gemma", template=False)
    (root / "plan.json").write_text(json.dumps(PLAN))
    args = ["--out", str(root / "out"), "--docs", str(root / "docs"), "--data", str(FIXTURES),
            "--smollm2", str(smol), "--gemma", str(gemma), "--plan", str(root / "plan.json"),
            "--resamples", "50", "--items", str(root / "items"),
            "--only", "check", "*/endogenous-*", "*/gemma-*", "hh-rlhf/verifier",
            "hh-rlhf/judge-pairwise", "*/length-short"]
    return root, args, smol


def _run(capsys, args):
    assert _script().main(args) == 0
    return capsys.readouterr().out


def test_page_numbers_are_the_json_and_a_rerun_scores_nothing(generated, capsys):
    root, args, _ = generated
    first = _run(capsys, args)
    results = json.loads((root / "docs" / "results" / "results.json").read_text())
    page = (root / "docs" / "results.md").read_text()
    expected_runs = {f"{b}/{r}" for b in ("rm-bench", "dsp", "hh-rlhf")
                     for r in ("endogenous-sum-zero", "endogenous-sum-value", "endogenous-mean",
                               "gemma-endogenous-sum-zero")}
    expected_runs |= {"hh-rlhf/verifier", "hh-rlhf/judge-pairwise"}
    expected_runs |= {f"{b}/length-short" for b in ("rm-bench", "dsp", "hh-rlhf")}
    assert set(results["runs"]) == expected_runs
    # every figure of every run is on the page, in its run's row of its benchmark's table,
    # exactly as the JSON has it; and the command printed that row
    names = _script().NAMES
    for key, summary in results["runs"].items():
        benchmark, run = key.split("/")
        section = page.split(f"(`{benchmark}`)\n")[1].split("\n### ")[0]
        lines = [line for line in section.splitlines() if line.startswith("| ")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        row = next(line for line in lines if line.startswith(f"| {names[run]} ("
                                                             if summary["degenerate"]
                                                             else f"| {names[run]} |"))
        shown = dict(zip(header, [c.strip() for c in row.strip("|").split("|")], strict=True))
        assert shown["items"] == str(summary["items"])
        assert ("**degenerate**" in shown["method"]) == summary["degenerate"]
        for figure, value in summary["figures"].items():
            if figure in header:  # with its tie rate where any of its pairs tied
                tie = summary["figures"][f"tie_rate/{figure}"]["value"]
                expected = _cell(value) + (f", ties {100 * tie:.1f}%" if tie > 0 else "")
                assert shown[figure] == expected, (key, figure)
        assert row in first
    # the subset: baselines' items are the first of the endogenous items, per stratum
    for strata in results["subsets"].values():
        for part in strata.values():
            assert part["baselines"] == part["endogenous"][:len(part["baselines"])]
    # the paired comparisons on the page are bench compare's, on the baseline items
    for comp in results["comparisons"]:
        if comp["run_b"] == "verifier":
            f = comp["figures"]["overall"]
            d = f"{100 * f['difference']:+.1f} [{100 * f['low']:+.1f}, {100 * f['high']:+.1f}]"
            assert d in page
    # the model-free baseline scored every endogenous item
    assert results["runs"]["rm-bench/length-short"]["items"] == \
        results["runs"]["rm-bench/endogenous-sum-zero"]["items"] == 5
    # terminal value's spread: per RM-Bench item its six responses, 15 pairs
    assert results["terminal_value"]["rm-bench"]["pairs"] == 15 * 5
    assert results["terminal_value"]["rm-bench"]["median_sd_terminal_value"] > 0
    # the one-pass variants equal the official scorers on the check items
    for run, check in results["check"]["runs"].items():
        assert check["max_abs_difference"] == 0.0, run
    assert (root / "docs" / "results" / "rm-bench.png").stat().st_size > 0

    before = {p: p.read_bytes() for p in (root / "out").rglob("items.jsonl")}
    second = _run(capsys, args)
    assert "loading" not in second and "dequantizing" not in second
    assert re.findall(r"(\d+) to score", second) and set(re.findall(r"(\d+) to score",
                                                                   second)) == {"0"}
    assert {p: p.read_bytes() for p in (root / "out").rglob("items.jsonl")} == before
    again = json.loads((root / "docs" / "results" / "results.json").read_text())
    assert ({k: v["figures"] for k, v in again["runs"].items()}
            == {k: v["figures"] for k, v in results["runs"].items()})

    # the committed per-item files alone give the same page: render into a fresh folder
    fresh = [a if a != str(root / "out") else str(root / "fresh") for a in args]
    fresh = [*fresh[:fresh.index("--only")], "--only", "render", "--docs", str(root / "docs2")]
    rendered = _run(capsys, fresh)
    assert "restored" in rendered and "loading" not in rendered
    def body(text):  # the page less the line that quotes the command that rendered it
        return [line for line in text.splitlines() if "scripts/real_results.py" not in line]

    assert body((root / "docs2" / "results.md").read_text()) == body(page)


def test_variants_equal_the_bench_command(generated, tmp_path):
    """Each variant's rows equal `rewardmine bench rm-bench --method endogenous` with the
    matching --terminal/--aggregate on every fixture item (one block of items, like the runner's)."""
    root, _, smol = generated
    flags = {"endogenous-sum-zero": [], "endogenous-sum-value": ["--terminal", "value"],
             "endogenous-mean": ["--aggregate", "mean"]}
    for run, extra in flags.items():
        ours = {}
        path = root / "out" / "runs" / "rm-bench" / run / "items.jsonl"
        if not path.exists():  # the first test makes the runs; this one can run alone
            _script().main(generated[1])
        for line in path.read_text().splitlines():
            row = json.loads(line)
            ours[row["id"]] = row
        out = tmp_path / run
        assert rewardmine_main(["bench", "rm-bench", "--model", str(smol), "--data",
                               str(FIXTURES / "rm-bench"), "--out", str(out), "--dtype",
                               "float32", "--device", "cpu", "--resamples", "20", *extra]) == 0
        official = {json.loads(x)["id"]: json.loads(x)
                    for x in (out / "items.jsonl").read_text().splitlines()}
        assert set(ours) <= set(official)
        for item_id, row in ours.items():
            for key in ("scores_chosen", "scores_rejected"):
                assert row[key] == pytest.approx(official[item_id][key], rel=1e-5, abs=1e-5)


def test_q1_reading_holm_floor_and_degenerate_baselines():
    """Q1 reads RM-Bench only; each verdict rests on the interval and the exact test after Holm
    over Q1's comparisons; a baseline that ties on 90% of its pairs cannot be tested."""
    _script()
    from real_results_page import reading_q1

    def comp(benchmark, baseline, p, low, high, items=24):
        return {"benchmark": benchmark, "run_a": "endogenous-sum-zero", "run_b": baseline,
                "figures": {"overall": {"a": 0.6, "b": 0.5, "difference": (low + high) / 2,
                                        "low": low, "high": high, "p": p, "items": items}}}

    runs = {f"rm-bench/{b}": {"degenerate": b == "judge-pointwise", "tie_rate": 0.97}
            for b in ("verifier", "judge-listwise", "judge-pointwise", "judge-pairwise")}
    comparisons = [comp("rm-bench", "verifier", 0.01, 0.05, 0.2),
                   comp("rm-bench", "judge-listwise", 0.03, 0.01, 0.1),
                   comp("rm-bench", "judge-pointwise", 0.001, 0.2, 0.4),  # degenerate
                   comp("rm-bench", "judge-pairwise", 0.001, 0.1, 0.3, items=12),  # < 20 items
                   comp("hh-rlhf", "verifier", 0.001, -0.4, -0.2)]       # not a Q1 benchmark
    text = reading_q1({"comparisons": comparisons, "runs": runs})
    lines = text.split("\n\n")[1].splitlines()
    assert len(lines) == 4 and all(line.startswith("- rm-bench") for line in lines)
    # Holm over the two that can be tested: 0.01 -> 0.02, 0.03 -> 0.03
    assert lines[0].endswith("(Holm over the 2 tested: 0.02): **the endogenous reward is "
                             "higher**.")
    assert lines[1].endswith("(Holm over the 2 tested: 0.03): **the endogenous reward is "
                             "higher**.")
    assert lines[2].endswith("**cannot be tested at this size** (the baseline tied on 97.0% of "
                             "its pairs, so its accuracy measures the tie rule, not a preference).")
    assert lines[3].endswith("**cannot be tested at this size** (fewer than 20 items).")
    assert text.startswith("**Q1 holds here against some baselines**")
    # the second alone would pass at 0.03; after Holm (0.06) it shows no difference
    comparisons[1]["figures"]["overall"]["p"] = 0.03
    comparisons[0]["figures"]["overall"]["p"] = 0.04
    lines = reading_q1({"comparisons": comparisons, "runs": runs}).split("\n\n")[1]
    assert "(Holm over the 2 tested: 0.06): **no difference shown**." in lines
