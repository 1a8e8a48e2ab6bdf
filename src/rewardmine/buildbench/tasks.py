"""The first stage: principles (each with a dimension) x prompts (each with a domain) -> tasks.

Principles file rows: ``{"principle": str, "dimension": str, "id": optional}``; prompts file
rows: ``{"prompt": str or chat messages, "domain": str, "id": optional}``. Missing ids become
``p1, p2, ...`` and ``q1, q2, ...`` by line; a task's id is ``"<principle id>/<prompt id>"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardmine.chat import normalize_messages
from rewardmine.io import completed_rows, read_jsonl

DIMENSIONS = ("content", "structure", "logic", "style", "tone")
DOMAINS = ("chat", "code", "math", "safety")


def _with_ids(rows: list[dict[str, Any]], prefix: str, path: str | Path,
              required: Sequence[str]) -> list[dict[str, Any]]:
    out, seen = [], set()
    for number, row in enumerate(rows, start=1):
        for key in required:
            if not row.get(key):
                raise ValueError(f"{path}:{number}: missing {key!r}")
        row = {**row, "id": str(row.get("id", f"{prefix}{number}"))}
        if "/" in row["id"]:
            raise ValueError(f"{path}:{number}: id {row['id']!r} may not contain '/'")
        if row["id"] in seen:
            raise ValueError(f"{path}:{number}: id {row['id']!r} repeats; ids must be unique")
        seen.add(row["id"])
        out.append(row)
    if not out:
        raise ValueError(f"{path} holds no rows")
    return out


def make_tasks(principles_path: str | Path, prompts_path: str | Path) -> list[dict[str, Any]]:
    """Every principle with every prompt, principles outermost, ids checked."""
    principles = _with_ids(read_jsonl(principles_path), "p", principles_path,
                           ("principle", "dimension"))
    prompts = _with_ids(read_jsonl(prompts_path), "q", prompts_path, ("prompt", "domain"))
    for number, row in enumerate(prompts, start=1):
        try:
            normalize_messages(row["prompt"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{prompts_path}:{number}: bad prompt ({error})") from None
    return [{"id": f"{p['id']}/{q['id']}", "principle": p["principle"],
             "dimension": p["dimension"], "domain": q["domain"], "prompt": q["prompt"]}
            for p in principles for q in prompts]


def pending(output: str | Path, tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks not yet in ``output``; the rows there must be a prefix of ``tasks`` (same ids)."""
    done = completed_rows(output)
    if len(done) > len(tasks):
        raise ValueError(f"{output} has {len(done)} rows for {len(tasks)} tasks; it belongs to "
                         "another run. Use a new output folder")
    for number, (row, task) in enumerate(zip(done, tasks, strict=False), start=1):
        if row.get("id") != task["id"]:
            raise ValueError(f"{output}:{number}: id {row.get('id')!r} where task {task['id']!r} "
                             "was expected; it belongs to another run. Use a new output folder")
    return list(tasks[len(done):])
