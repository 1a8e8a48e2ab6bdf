"""A doc page's ``$ command`` transcript as (command, shown output lines) steps, for the tests
that run a page's transcripts (tests/test_docs_examples.py, tests/test_scale_docs.py)."""

from __future__ import annotations


def transcript_steps(block: str) -> list[tuple[str, list[str]]]:
    """Each ``$ command`` of ``block`` (its ``\\`` continuation lines joined into one line) and
    the lines printed after it, up to the next command."""
    steps: list[tuple[str, list[str]]] = []
    lines = block.rstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"not a command: {lines[i]!r}")
        command = lines[i][2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        steps.append((command, shown))
    return steps
