"""`rewardmine score` end to end on a tiny model saved to disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rewardmine import EndogenousReward
from rewardmine.cli import main

ROWS = [
    {"prompt": "What is 2+2?", "responses": ["4", "5", ""]},
    {"prompt": [{"role": "user", "content": "Sort: 3 1 2"}], "response": "1 2 3"},
    {"id": "x", "prompt": "Name a colour.", "response": "Blue."},
]


def write_rows(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_rows(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_file_matches_library_and_resumes(saved_model, tmp_path, capsys):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(source, ROWS)
    args = ["score", "--model", str(saved_model), "--input", str(source), "--output", str(out),
            "--system", "Be brief.", "--rows-per-write", "2"]
    assert main(args) == 0
    rows = read_rows(out)
    reward = EndogenousReward.from_pretrained(str(saved_model), device="cpu")
    assert rows[0]["scores"] == pytest.approx(
        reward.score("What is 2+2?", ["4", "5", ""], system="Be brief."), abs=1e-5)
    assert rows[1]["score"] == pytest.approx(
        reward.score(ROWS[1]["prompt"], ["1 2 3"], system="Be brief.")[0], abs=1e-5)
    assert [{k: r[k] for k in ROWS[i]} for i, r in enumerate(rows)] == ROWS

    # a crash left one complete row and half of the next: the rerun finishes without duplicates
    text = out.read_text().splitlines(keepends=True)
    out.write_text(text[0] + text[1][:20])
    assert main(args) == 0
    assert read_rows(out) == rows
    assert "1 were already there" in capsys.readouterr().out
    assert main(args) == 0
    assert "all 3 rows already scored" in capsys.readouterr().out


def test_token_rewards_and_value_terminal(saved_model, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(source, ROWS[1:])
    assert main(["score", "--model", str(saved_model), "--input", str(source), "--output",
                 str(out), "--token-rewards", "--terminal", "value", "--alpha", "0.5"]) == 0
    row = read_rows(out)[0]
    reward = EndogenousReward.from_pretrained(str(saved_model), device="cpu", alpha=0.5,
                                              terminal="value")
    want = reward.token_rewards(ROWS[1]["prompt"], "1 2 3")
    assert row["token_rewards"]["rewards"] == pytest.approx(want.rewards, abs=1e-5)
    assert row["score"] == pytest.approx(want.total, abs=1e-5)


def test_bad_input_rows_are_refused_before_loading(saved_model, tmp_path, cli_error):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    argv = ["score", "--model", str(saved_model), "--input", str(source), "--output", str(out)]
    write_rows(source, [{"prompt": "a", "response": "b", "responses": ["c"]}])
    assert "in.jsonl:1: give exactly one" in cli_error(argv)
    source.write_text('{"prompt": "a", "response": "b"}\n{not json\n')
    assert "in.jsonl:2: not valid JSON" in cli_error(argv)


def test_output_of_another_input_is_refused(saved_model, tmp_path, cli_error):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(source, ROWS[1:])
    write_rows(out, [{"prompt": "something else", "response": "z", "score": 1.0}])
    assert "output of another input" in cli_error(
        ["score", "--model", str(saved_model), "--input", str(source), "--output", str(out)])


def test_console_script_is_installed():
    assert shutil.which("rewardmine"), "pip install -e . provides the rewardmine command"
