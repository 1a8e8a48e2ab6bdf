"""``rewardmine judge`` on a tiny local model: output rows, resume after a crash, bad input."""

from __future__ import annotations

import json

import pytest

from judge_fixtures import save_tiny_judge
from rewardmine.cli import main

pytest.importorskip("xgrammar")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return save_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


ROWS = [
    {"prompt": "What is 2+2?", "responses": ["4", "5"]},
    {"prompt": "Capital of France?", "responses": {"a": "Paris", "b": "Lyon", "c": ""},
     "principle": "Be correct."},
    {"prompt": [{"role": "user", "content": "Hi"}], "responses": ["Hello!", "Go away."]},
]


def run(tiny_path, tmp_path, *extra):
    return main(["judge", "--judge", f"principle:{tiny_path}", "--principle", "Be helpful.",
                 "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl"),
                 "--option", "constrained=true", "--thinking", "off", "--max-new-tokens", "200",
                 "--temperature", "1.0", *extra])


def test_judge_writes_rows_and_resumes(tiny_path, tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert run(tiny_path, tmp_path) == 0
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    out = [json.loads(line) for line in lines]
    assert [{k: o[k] for k in r} for o, r in zip(out, ROWS, strict=True)] == ROWS
    assert all(o["judgement"]["status"] == "ok" for o in out)
    assert sorted(out[1]["judgement"]["scores"]) == ["a", "b", "c"]
    # a crash after the first row, mid-write of the second: resuming completes the file
    (tmp_path / "out.jsonl").write_text(lines[0] + "\n" + lines[1][:20])
    assert run(tiny_path, tmp_path) == 0
    resumed = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(resumed) == 3 and resumed[0] == out[0]
    assert "judged 2 rows (1 were already there" in capsys.readouterr().err
    assert run(tiny_path, tmp_path) == 0
    assert "all 3 rows already judged" in capsys.readouterr().err


def test_rows_without_a_principle_are_named(tiny_path, tmp_path, cli_error):
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "q", "responses": ["a"]}) + "\n")
    assert "in.jsonl:1: no 'principle'" in cli_error(
        ["judge", "--judge", f"principle:{tiny_path}", "--input", str(tmp_path / "in.jsonl"),
         "--output", str(tmp_path / "out.jsonl")])


def test_unknown_option_is_refused_naming_the_accepted(tiny_path, tmp_path, cli_error):
    (tmp_path / "in.jsonl").write_text(json.dumps(ROWS[1]) + "\n")
    message = cli_error(["judge", "--judge", f"principle:{tiny_path}", "--principle", "Be.",
                         "--input", str(tmp_path / "in.jsonl"), "--output",
                         str(tmp_path / "out.jsonl"), "--option", "constrain=true"])
    assert "unknown option(s) ['constrain']; accepted:" in message and "'constrained'" in message
    assert not (tmp_path / "out.jsonl").exists() or not (tmp_path / "out.jsonl").read_text()


def test_a_row_over_the_context_names_its_physical_line(tiny_path, tmp_path, cli_error):
    rows = [ROWS[0], ROWS[1], {"prompt": "q", "responses": ["y " * 3000, "n"]}]
    (tmp_path / "in.jsonl").write_text("\n" + "".join(json.dumps(r) + "\n" for r in rows))
    message = cli_error(["judge", "--judge", f"principle:{tiny_path}", "--principle",
                         "Be helpful.", "--input", str(tmp_path / "in.jsonl"), "--output",
                         str(tmp_path / "out.jsonl"), "--thinking", "off",
                         "--max-new-tokens", "50"])
    assert "in.jsonl:4: the row needs" in message and "request 2" not in message


def test_an_over_context_row_stops_the_run_before_any_row_is_judged(tiny_path, tmp_path,
                                                                     cli_error):
    # one row per write: without the check up front, rows 1 and 2 would be judged and written
    rows = [ROWS[0], ROWS[1], {"prompt": "q", "responses": ["y " * 3000, "n", "m"]}]
    (tmp_path / "in.jsonl").write_text("\n" + "".join(json.dumps(r) + "\n" for r in rows))
    message = cli_error(["judge", "--judge", f"principle:{tiny_path}", "--principle",
                         "Be helpful.", "--input", str(tmp_path / "in.jsonl"), "--output",
                         str(tmp_path / "out.jsonl"), "--thinking", "off",
                         "--max-new-tokens", "50", "--rows-per-write", "1"])
    assert "in.jsonl:4: the row needs" in message and "context holds 2048" in message
    assert not (tmp_path / "out.jsonl").exists()
    # pairwise: the pair that does not fit is named
    message = cli_error(["judge", "--judge", f"principle:{tiny_path}", "--principle",
                         "Be helpful.", "--input", str(tmp_path / "in.jsonl"), "--output",
                         str(tmp_path / "out.jsonl"), "--thinking", "off",
                         "--max-new-tokens", "50", "--rows-per-write", "1",
                         "--option", "mode=pairwise"])
    assert "in.jsonl:4: the row needs" in message and "(responses ['0', '1'])" in message
    assert not (tmp_path / "out.jsonl").exists()


def test_an_endogenous_judge_checks_every_row_first(saved_model, tmp_path, cli_error, capsys):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"prompt": "q", "responses": ["a", "b"]},  # a list: ids "0" and "1"
            {"prompt": "q", "responses": {"x": "a", "y": "b " * 600}}]
    source.write_text(json.dumps(rows[0]) + "\n\n\n" + json.dumps(rows[1]) + "\n")
    argv = ["judge", "--judge", f"endogenous:{saved_model}", "--principle", "Be brief.",
            "--input", str(source), "--output", str(out), "--rows-per-write", "1"]
    message = cli_error(argv)
    assert "in.jsonl:4: the row has response 'y', which is" in message and "context is 512" in message
    assert not out.exists()
    source.write_text(json.dumps(rows[0]) + "\n")
    assert main(argv) == 0
    [judged] = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(judged["judgement"]["scores"]) == ["0", "1"]


def test_the_first_line_says_how_much_work_and_how_to_make_it_shorter(tiny_path, tmp_path,
                                                                      capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"prompt": "q", "responses": ["a", "b", "c"]}) + "\n")
    argv = ["judge", "--judge", f"principle:{tiny_path}", "--principle", "Be brief.",
            "--input", str(source), "--output", str(tmp_path / "out.jsonl"),
            "--max-new-tokens", "60", "--option", "mode=pairwise"]
    assert main(argv) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("judge: 1 rows, up to 3 model calls of up to 60 new tokens each "
                            "(thinking on, unconstrained); a local model on a CPU")
    assert "--thinking off, --max-new-tokens 512 and --option constrained=true" in first
