"""``benchmarks/judge.py``: it runs end to end on a tiny configuration, and every command of it
that the docs show is the one recorded in the results file the docs cite."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("xgrammar")

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs" / "performance.md", ROOT / "docs" / "judge.md"]


def test_the_benchmark_runs_and_checks_its_verdicts(tmp_path):
    subprocess.run(
        [sys.executable, "benchmarks/judge.py", "--shape", "small", "--lists", "3",
         "--min-responses", "2", "--max-responses", "3", "--repeats", "1", "--sizes", "none",
         "--max-new-tokens", "160", "--threads", "1", "--name", "smoke",
         "--results-dir", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True, timeout=600)
    result = json.loads((tmp_path / "smoke.json").read_text())
    run = result["throughput"]
    assert run["lists"] == run["identical_verdicts"] == run["valid"] == 3
    assert run["generated_tokens"] == run["generated_tokens_one_at_a_time"] > 0
    assert run["batched_seconds"] > 0 and run["one_at_a_time_seconds"] > 0
    assert "Speed-up" in (tmp_path / "smoke.md").read_text()


def documented_commands() -> list[list[str]]:
    """Each ``python benchmarks/judge.py ...`` command in the pages' code blocks, as arguments
    (line continuations joined, environment assignments dropped)."""
    commands = []
    for page in PAGES:
        inside, lines = False, []
        for line in page.read_text().splitlines():
            if line.lstrip().startswith("```"):
                inside = not inside
                continue
            if inside:
                lines.append(line)
        for line in "\n".join(lines).replace("\\\n", " ").splitlines():
            if "benchmarks/judge.py" not in line:
                continue
            words = shlex.split(line)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]
            if words[:2] == ["python", "benchmarks/judge.py"]:
                commands.append(words)
    return commands


def test_documented_commands_are_the_recorded_ones():
    commands = documented_commands()
    assert len(commands) >= 4
    for words in commands:
        name = words[words.index("--name") + 1] if "--name" in words else "judge"
        page = (ROOT / "benchmarks" / "results" / f"{name}.md").read_text()
        recorded = re.search(r"Command: `([^`]*)`", page).group(1)
        assert shlex.split(recorded) == words, (recorded, words)
