"""The benchmark file: one JSONL row per verified list, the schema the list benchmark reads.

Each row holds ``id``, ``principle``, ``dimension``, ``domain``, ``prompt`` (a string or chat
messages), ``responses`` ({response id: text}, in generation order, never in rank order, so the
file's layout does not leak the answer), ``ranking`` (response ids, best first), ``scores``
({response id: consensus score}, higher is better) and ``provenance`` (judges, K of M, how it was
verified).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewardmine.buildbench.verify import Require, Verification, verdicts
from rewardmine.io import JsonlAppender

BENCHMARK_FIELDS = ("id", "principle", "dimension", "domain", "prompt", "responses", "ranking",
                    "scores")


def benchmark_rows(rows: Sequence[dict[str, Any]], verification: Verification | None, *,
                   require: Require = "all") -> list[dict[str, Any]]:
    """Benchmark rows from consensus rows and, when given, the human verification.

    Without a verification every row marked ``keep`` goes in with the judges' order (its
    provenance says ``"verified": "unverified"``).
    """
    by_id = {row["id"]: row for row in rows}
    if verification is None:
        picked = [{"id": row["id"], "ranking": row["ranking"], "scores": row["scores"],
                   "verified": "unverified"} for row in rows if row.get("keep")]
    else:
        picked = [v for v in verdicts(rows, verification, require=require) if v["kept"]]
    out = []
    for verdict in picked:
        row = by_id[verdict["id"]]
        ranking = verdict["ranking"]
        out.append({
            "id": row["id"], "principle": row["principle"],
            "dimension": row.get("dimension", ""), "domain": row.get("domain", ""),
            "prompt": row["prompt"],
            "responses": {rid: text for rid, text in row["responses"].items() if rid in ranking},
            "ranking": ranking,
            "scores": {rid: verdict["scores"][rid] for rid in ranking},
            "provenance": {
                "judges": row.get("judges", []), "k": row.get("filter", {}).get("k"),
                "m": row.get("filter", {}).get("m"), "verified": verdict["verified"],
                "annotators": verification.annotators if verification else [],
            },
        })
    return out


def write_benchmark(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write benchmark rows to ``path`` (replacing it), one JSON object per line."""
    path = Path(path)
    if path.exists():
        path.unlink()
    with JsonlAppender(path) as out:
        for row in rows:
            missing = [name for name in BENCHMARK_FIELDS if name not in row]
            if missing:
                raise ValueError(f"benchmark row {row.get('id')!r} lacks {missing}")
            out.write(row)
