"""Bad input to the CLIs and the JSONL helpers: one-line errors naming the physical line, checks
before any scoring, resuming only regular files, and the ``--traceback`` / Ctrl-C behaviour."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from rewardmine import EndogenousReward
from rewardmine.cli import main
from rewardmine.io import completed_rows, read_jsonl_lines

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


def write(path: Path, rows, blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) + "\n" for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "\n")
    path.write_text("".join(lines))
    return path


def score_args(model, source, out, *extra):
    return ["score", "--model", str(model), "--input", str(source), "--output", str(out), *extra]


def test_a_user_error_is_one_line_and_traceback_shows_the_trace(tmp_path, cli_error,
                                                                monkeypatch):
    missing = tmp_path / "missing.jsonl"
    argv = score_args("m", missing, tmp_path / "o.jsonl")
    assert "missing.jsonl" in cli_error(argv) and "No such file" in cli_error(argv)
    with pytest.raises(FileNotFoundError):
        main(["--traceback", *argv])
    monkeypatch.setenv("REWARDMINE_TRACEBACK", "1")
    with pytest.raises(FileNotFoundError):
        main(argv)


def test_ctrl_c_prints_one_line(tmp_path, capsys):
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)  # opening it blocks until someone writes: the run is waiting
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        assert main(score_args("m", fifo, tmp_path / "o.jsonl")) == 130
    finally:
        timer.cancel()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rewardmine score: interrupted"]


def test_rows_are_checked_before_scoring_and_name_the_physical_line(saved_model, tmp_path,
                                                                    cli_error):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = [{"prompt": f"q{i}", "response": "a"} for i in range(99)]
    write(source, [*good, {"prompt": "q", "responses": ["a", 7]}], blank_after=1)
    message = cli_error(score_args(saved_model, source, out, "--rows-per-write", "8"))
    assert "in.jsonl:101: 'responses'[1] is a int" in message  # line 101: a blank line above
    assert not out.exists()  # nothing was scored
    write(source, [*good, {"prompt": "q", "response": "y " * 2000}])
    message = cli_error(score_args(saved_model, source, out))
    assert "in.jsonl:100: the response is" in message and "context is 512" in message
    assert not out.exists()
    write(source, [*good[:3], {"prompt": {"role": "user"}, "response": "a"}])
    assert "in.jsonl:4: 'prompt': prompt must be a string" in cli_error(
        score_args(saved_model, source, out))


def test_rows_that_already_carry_the_output_fields_are_refused(saved_model, tmp_path,
                                                               cli_error):
    source = write(tmp_path / "in.jsonl", [{"prompt": "q", "response": "a", "score": 3}])
    message = cli_error(score_args(saved_model, source, tmp_path / "out.jsonl"))
    assert "in.jsonl:1: the row already has 'score'" in message
    source = write(tmp_path / "j.jsonl", [{"prompt": "q", "responses": ["a"], "principle": "p",
                                           "judgement": {}}])
    assert "j.jsonl:1: the row already has 'judgement'" in cli_error(
        ["judge", "--judge", "principle:m", "--input", str(source), "--output", str(tmp_path / "o")])


def test_judge_rows_name_the_physical_line_and_duplicate_ids(tmp_path, cli_error):
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "q", "responses": ["a"], "principle": "p"}\n\n'
                      '{"prompt": "q", "responses": {"a": "x", "a": "y"}, "principle": "p"}\n')
    argv = ["judge", "--judge", "principle:m", "--input", str(source), "--output", str(tmp_path / "o")]
    assert "in.jsonl:3: the key 'a' appears twice in one object" in cli_error(argv)
    source.write_text('\n{"prompt": "q", "responses": {"a": 1}, "principle": "p"}\n')
    assert "in.jsonl:2: 'responses': response 'a' is a int" in cli_error(argv)


def test_a_byte_order_mark_is_accepted_and_lone_surrogates_are_named(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"prompt": "q"}\n')
    assert read_jsonl_lines(path) == [(1, {"prompt": "q"})]
    path.write_text('{"prompt": "q", "responses": ["ok", "\\ud800"]}\n')
    with pytest.raises(ValueError, match=r"bom.jsonl:1: responses\[1\] holds a lone surrogate"):
        read_jsonl_lines(path)


def test_resume_reads_only_regular_files(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    found: list = []
    reader = threading.Thread(target=lambda: found.append(completed_rows(fifo)), daemon=True)
    reader.start()
    reader.join(5)
    assert found == [[]]  # did not block reading a pipe
    assert completed_rows("/dev/full") == []  # did not read zeros


def test_output_to_a_full_device_is_one_line(saved_model, tmp_path, cli_error):
    source = write(tmp_path / "in.jsonl", [{"prompt": "q", "response": "a"}])
    assert "No space left on device" in cli_error(score_args(saved_model, source, "/dev/full"))


def test_resume_after_a_last_row_without_newline(saved_model, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"prompt": f"q{i}", "response": "a"} for i in range(5)]
    write(source, rows[:3])
    assert main(score_args(saved_model, source, out)) == 0
    out.write_text(out.read_text().rstrip("\n"))  # complete rows, the last without its newline
    write(source, rows)
    assert main(score_args(saved_model, source, out)) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 5 and [json.loads(line)["prompt"] for line in lines] == \
        [r["prompt"] for r in rows]


# ------------------------------------------------------------------ bench --scores and --limit

def rm_rows(tmp_path, *extra):
    rows = [json.loads(line) for line in (FIXTURES / "rm-bench-scores.jsonl").read_text()
            .splitlines()]
    return write(tmp_path / "scores.jsonl", [*rows, *extra])


def bench_scores(path, out):
    return ["bench", "rm-bench", "--scores", str(path), "--data", str(FIXTURES / "rm-bench"),
            "--out", str(out), "--resamples", "20"]


def test_scores_files_are_checked_against_the_benchmark(tmp_path, cli_error):
    out = tmp_path / "run"
    stray = rm_rows(tmp_path, {"id": "chat/999", "scores_chosen": [1, 2, 3],
                               "scores_rejected": [0, 0, 0]})
    assert "scores.jsonl:7: 'chat/999' is not an item of rm-bench" in cli_error(
        bench_scores(stray, out))
    for bad, shown in (("Infinity", "infinite"), ('"1e3"', "'1e3'"), ("true", "True")):
        path = tmp_path / "scores.jsonl"
        rows = (FIXTURES / "rm-bench-scores.jsonl").read_text().splitlines()
        rows[2] = rows[2].replace("[", f"[{bad}, ", 1).replace(", 1]", "]", 1)
        row = json.loads(rows[2]) if bad != "Infinity" else None
        assert row is None or len(row["scores_chosen"]) == 3
        path.write_text("\n".join(rows) + "\n")
        message = cli_error(bench_scores(path, tmp_path / f"run-{len(bad)}"))
        assert "scores.jsonl:3:" in message and shown in message
    twice = rm_rows(tmp_path, json.loads((FIXTURES / "rm-bench-scores.jsonl").read_text()
                                         .splitlines()[0]))
    assert "scores.jsonl:7: item 'chat/0' was already scored on line 1" in cli_error(
        bench_scores(twice, tmp_path / "run-twice"))


def test_limit_must_be_positive_and_a_smaller_rerun_says_why(saved_model, tmp_path, capsys,
                                                             cli_error):
    out = tmp_path / "run"
    args = ["bench", "rm-bench", "--model", str(saved_model), "--data", str(FIXTURES / "rm-bench"),
            "--out", str(out), "--resamples", "20"]
    with pytest.raises(SystemExit) as caught:
        main([*args, "--limit", "-1"])
    assert caught.value.code == 2 and "must be at least 1" in capsys.readouterr().err
    assert main([*args, "--limit", "4"]) == 0
    message = cli_error([*args, "--limit", "2"])
    assert "already holds 2 items beyond the first 2" in message
    assert "not in this benchmark" not in message


def test_scorer_inputs_are_typed(saved_model):
    reward = EndogenousReward.from_pretrained(str(saved_model))
    with pytest.raises(TypeError, match=r"not a dict \(its keys would be scored\); pass "
                       r"list\(responses.values\(\)\)"):
        reward.score("q", {"a": "x", "b": "y"})
    with pytest.raises(TypeError, match="prompts must be a list, not a single str"):
        reward.score_many("ab", "cd")
    with pytest.raises(TypeError, match="responses must be a list, not None"):
        reward.score("q", None)
    with pytest.raises(TypeError, match=r"item 0: action_ids\[1\] is 1.7 \(float\)"):
        reward.score_ids([[1, 2]], [[3, 1.7]])
    with pytest.raises(TypeError, match=r"item 0: prompt_ids\[0\] is '1' \(str\)"):
        reward.score_ids([["1"]], [[3]])
    with pytest.raises(ValueError, match=r"responses\[0\] holds a lone surrogate"):
        reward.score("q", ["\ud800"])
    assert reward.score("q", ("a",)) == pytest.approx(reward.score("q", ["a"]))


@pytest.mark.parametrize("module, argv, extra", [
    ("fastapi", ["serve", "--endogenous-model", "no/such-model"], "server"),
    ("pyarrow", ["score", "--model", "MODEL", "--input", "IN", "--output", "out.parquet"],
     "parquet"),
])
def test_a_missing_extra_is_one_line_naming_it_before_any_model_loads(
        module, argv, extra, saved_model, tmp_path, monkeypatch, cli_error):
    """A command whose extra is not installed says which extra to install, as a user error (no
    traceback), and ``serve`` says it before loading a model (the model here does not exist)."""
    rows = tmp_path / "in.jsonl"
    rows.write_text('{"prompt": "a", "response": "b"}\n')
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without it imports
    monkeypatch.chdir(tmp_path)
    argv = [str(saved_model) if a == "MODEL" else str(rows) if a == "IN" else a for a in argv]
    line = cli_error(argv)
    assert line.endswith(f"{module} is needed for "
                         f"{'the reward server' if extra == 'server' else 'parquet files'}: "
                         f"pip install 'rewardmine[{extra}]'"), line


def test_a_generator_endpoint_that_is_down_is_one_line(tmp_path, cli_error):
    """build-bench run against a closed port: the generator, the task and the endpoint in one
    line, exit 2 (it printed a traceback: GeneratorError was not a rewardmine error)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    write(tmp_path / "principles.jsonl", [{"id": "p", "principle": "Be brief.", "dimension": "style"}])
    write(tmp_path / "prompts.jsonl", [{"id": "q", "prompt": "Hi", "domain": "chat"}])
    line = cli_error(["build-bench", "run", "--principles", str(tmp_path / "principles.jsonl"),
                      "--prompts", str(tmp_path / "prompts.jsonl"), "--out", str(tmp_path / "run"),
                      "--generator", f"openai:m@http://127.0.0.1:{port}/v1",
                      "--judge", "MODULE:FUNCTION", "--k", "1"])
    assert f"127.0.0.1:{port}" in line and "task 'p/q'" in line and "is the server up?" in line
