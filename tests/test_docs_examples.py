"""Every doc example marked ``<!-- test: run -->`` (or ``<!-- test: run from the repository
root -->``) on the line before its ``python`` block runs as written and prints the output block
that follows it on the page. Pages with examples that need a server, a cluster or a peer's
environment have tests of their own (rl.md, scale.md, benchmarks.md's judge runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!-- test: run( from the repository root)? -->\n```python\n(.*?)```\n\s*"
                  r"```\n(.*?)```", re.S)


def examples() -> list[tuple[str, int, bool, str, str]]:
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text()
        for match in MARK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((page.name, line, bool(match.group(1)), match.group(2),
                          match.group(3)))
    return found


EXAMPLES = examples()


def test_the_marked_examples_are_found():
    assert len(EXAMPLES) >= 4
    pages = " ".join((ROOT / "docs" / p).read_text() for p in {e[0] for e in EXAMPLES})
    assert pages.count("<!-- test: run") == len(EXAMPLES)  # a marker without its blocks fails


@pytest.mark.parametrize("page, line, at_root, code, shown",
                         EXAMPLES, ids=[f"{e[0]}:{e[1]}" for e in EXAMPLES])
def test_a_doc_example_prints_what_its_page_shows(page, line, at_root, code, shown, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT if at_root else tmp_path, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                               "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == shown, f"docs/{page}:{line} printed:\n{done.stdout}"
