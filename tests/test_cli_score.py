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
    assert "1 were already there" in capsys.readouterr().err
    assert main(args) == 0
    assert "all 3 rows already scored" in capsys.readouterr().err


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


@pytest.mark.parametrize("command", ["score", "judge"])
def test_output_that_is_the_input_is_refused(saved_model, tmp_path, cli_error, command):
    """--output naming the input (directly or by a symlink) would read the input back as its
    own results ("all rows already scored") and write nothing; it is refused, and the input is
    left as it was."""
    source = tmp_path / "in.jsonl"
    rows = [{"prompt": "Q?", "responses": ["a", "b"], "principle": "Be brief."}]
    write_rows(source, rows)
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    model = ["--model", str(saved_model)] if command == "score" else [
        "--judge", f"endogenous:{saved_model}"]
    for output in (source, link):
        message = cli_error([command, *model, "--input", str(source), "--output", str(output)])
        assert "is the input file" in message
    assert read_rows(source) == rows


@pytest.mark.parametrize("output", ["out.jsonl", "out.parquet"])
def test_a_second_run_on_the_same_output_is_refused(saved_model, tmp_path, cli_error, output):
    """Two runs on one output would each append every row; the second stops while the first
    holds the output."""
    from rewardmine.io import exclusive_output

    source, out = tmp_path / "in.jsonl", tmp_path / output
    write_rows(source, [ROWS[0], ROWS[2]])  # string prompts: one parquet schema
    argv = ["score", "--model", str(saved_model), "--input", str(source), "--output", str(out)]
    with exclusive_output(out):  # the first run, still writing
        assert "is being written by another run" in cli_error(argv)
    assert main(argv) == 0  # once it is done, the output is free
    assert not Path(f"{out}.lock").exists()


def test_console_script_is_installed():
    assert shutil.which("rewardmine"), "pip install -e . provides the rewardmine command"


def test_a_row_torn_inside_a_character_is_dropped_on_resume(saved_model, tmp_path, capsys):
    """A full disk stopped the last row inside a UTF-8 character: that row was never complete,
    so the rerun drops it (and says so) and writes it again, instead of failing on every rerun."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"prompt": "Q?", "response": "first ✓"}, {"prompt": "Q?", "response": "second ✓"}]
    write_rows(source, rows)
    args = ["score", "--model", str(saved_model), "--input", str(source), "--output", str(out)]
    assert main(args) == 0
    whole = read_rows(out)
    data = out.read_bytes()
    torn = data[:data.rindex("✓".encode()) + 1]  # inside the last row's 3-byte character
    out.write_bytes(torn)
    capsys.readouterr()
    assert main(args) == 0
    assert "the last line was cut off mid-write" in capsys.readouterr().err
    assert read_rows(out) == whole


def test_input_errors_name_the_file_and_line(saved_model, tmp_path, cli_error, monkeypatch):
    """A byte that is not UTF-8 is reported with its file and line; a file without newlines
    (``/dev/zero``) stops at the line limit instead of growing without bound."""
    import rewardmine.io as io

    out = tmp_path / "out.jsonl"
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"prompt": "a", "response": "b"}\n{"prompt": "caf\xe9", "response": "x"}\n')
    message = cli_error(["score", "--model", str(saved_model), "--input", str(bad),
                         "--output", str(out)])
    assert "latin1.jsonl:2: byte 16 of the line is not UTF-8" in message
    monkeypatch.setattr(io, "MAX_LINE_BYTES", 1 << 20)
    message = cli_error(["score", "--model", str(saved_model), "--input", "/dev/zero",
                         "--output", str(out)])
    assert "/dev/zero:1: the line is longer than 1048576 bytes" in message


def test_stdout_carries_only_the_rows(saved_model, tmp_path):
    """`--output /dev/stdout | ...` (documented) gets the JSON rows alone; messages go to stderr."""
    import subprocess
    import sys

    source = tmp_path / "in.jsonl"
    write_rows(source, ROWS)
    done = subprocess.run([sys.executable, "-m", "rewardmine.cli", "score", "--model",
                           str(saved_model), "--input", str(source), "--output", "/dev/stdout"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [{k: r[k] for k in ROWS[i]} for i, r in enumerate(rows)] == ROWS
    assert "scored 3 rows" in done.stderr
    # stderr is no terminal here (as under nohup or a scheduler): progress comes as lines, the
    # first when the work starts and the last with the count, the rate and the time taken
    lines = [line for line in done.stderr.splitlines() if line.startswith("rows:")]
    assert len(lines) >= 2 and "0/3" in lines[0] and "3/3" in lines[-1] and "\r" not in done.stderr


def test_on_overflow_skip_writes_the_row_with_its_reason(saved_model, tmp_path, cli_error,
                                                         capsys):
    """One row over the context refuses the run by default; --on-overflow skip writes that row
    in its place with 'skipped' and the reason, scores the others and counts it: never silent."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"prompt": "Q?", "response": "A."}, {"prompt": "Q?", "response": "long " * 600},
            {"prompt": "R?", "responses": ["x", "y"]}]
    write_rows(source, rows)
    argv = ["score", "--model", str(saved_model), "--input", str(source), "--output", str(out)]
    assert "in.jsonl:2: the response is" in cli_error(argv)
    assert not out.exists()
    capsys.readouterr()
    assert main([*argv, "--on-overflow", "skip"]) == 0
    assert "scored 2 rows (0 were already there; 1 skipped over the context" in \
        capsys.readouterr().err
    got = read_rows(out)
    assert [{k: r[k] for k in rows[i]} for i, r in enumerate(got)] == rows
    assert "score" not in got[1] and "model's context is 512" in got[1]["skipped"]
    reward = EndogenousReward.from_pretrained(str(saved_model), device="cpu")
    assert got[0]["score"] == pytest.approx(reward.score("Q?", ["A."])[0], abs=1e-5)
    assert got[2]["scores"] == pytest.approx(reward.score("R?", ["x", "y"]), abs=1e-5)
    assert main([*argv, "--on-overflow", "skip"]) == 0  # a rerun: every row is already there
    assert read_rows(out) == got


def test_the_loading_flags_reach_the_loaded_model(saved_model, tmp_path):
    from rewardmine.specs import load_scorer

    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(source, ROWS)
    assert main(["score", "--model", str(saved_model), "--input", str(source), "--output",
                 str(out), "--attn-implementation", "eager", "--max-tokens-per-batch", "100",
                 "--dtype", "float32", "--device", "cpu"]) == 0
    # the command's reward, as the loader memoized it for exactly these settings
    reward = load_scorer(f"endogenous:{saved_model}", progress=False, dtype="float32",
                         device="cpu", max_tokens_per_batch=100,
                         model_kwargs={"attn_implementation": "eager"})
    assert reward.max_tokens_per_batch == 100
    assert reward.model.config._attn_implementation == "eager"
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    assert scores[1]["score"] == pytest.approx(
        reward.score_many([ROWS[1]["prompt"]], [ROWS[1]["response"]])[0])
