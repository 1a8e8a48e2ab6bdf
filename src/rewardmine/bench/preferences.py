"""Your own preference data as a benchmark: pairs or ranked lists, in the shapes people keep them.

Each record becomes one list of responses to one prompt with grades (higher is better), scored
with the list metrics of :mod:`rewardmine.bench.principles` (pairwise accuracy over the pairs
whose grades differ, Kendall tau-b, NDCG, averaged over records; the bootstrap resamples records,
so the pairs of one list stay together). The shapes, after the column mapping:

- ``prompt`` + ``chosen`` + ``rejected`` as strings (a string prompt or chat messages);
- TRL's conversational format: ``chosen`` and ``rejected`` as message lists, either with an
  explicit ``prompt`` (the lists hold the assistant turn) or without one (the lists are whole
  conversations sharing every turn but the last);
- ``prompt`` + ``responses`` (a list of texts) + ``ranks`` (1 is best) or ``scores`` (higher is
  better); the grades are shifted so the worst is 0 (NDCG's gains; pairs do not change).

A tie in the scorer's scores follows RewardBench v1's rule for preference pairs: wrong for a
scalar scorer, half right for a generative judge. An optional ``stratum`` column (a subset, a
source) gives per-stratum accuracies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardmine.bench.base import Candidate, Item, Reference, Table
from rewardmine.bench.data import load_records
from rewardmine.bench.metrics import ScorerKind, TieRule, tie_credit
from rewardmine.bench.principles import graded_rows_table, list_figures, list_pair_counts
from rewardmine.chat import completion_text, normalize_messages

ROLES = ("id", "prompt", "chosen", "rejected", "responses", "ranks", "scores", "stratum")
"""The columns a record is read by; ``columns`` maps any of them to the file's own names."""


def _assistant_text(value: Any, where: str, field: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return completion_text(value, 0)
    except ValueError:
        raise ValueError(f"{where}: {field!r} must be a string or one assistant message; got "
                         f"{str(value)[:120]}") from None


def read_preference(record: Mapping[str, Any], where: str) -> tuple[Any, list[str], list[float]]:
    """The prompt, the responses and their grades (higher is better) of one record."""
    if "chosen" in record or "rejected" in record:
        if "chosen" not in record or "rejected" not in record:
            raise ValueError(f"{where}: a pair needs both 'chosen' and 'rejected'")
        chosen, rejected = record["chosen"], record["rejected"]
        if "prompt" in record:
            prompt = record["prompt"]
            texts = [_assistant_text(chosen, where, "chosen"),
                     _assistant_text(rejected, where, "rejected")]
        else:  # whole conversations that differ in the last turn only
            if not (isinstance(chosen, list) and isinstance(rejected, list) and chosen
                    and rejected and chosen[:-1] == rejected[:-1]):
                raise ValueError(f"{where}: without 'prompt', 'chosen' and 'rejected' must be "
                                 "conversations that share every turn but the last")
            prompt = [dict(m) for m in chosen[:-1]]
            texts = [_assistant_text(chosen[-1:], where, "chosen"),
                     _assistant_text(rejected[-1:], where, "rejected")]
        grades = [1.0, 0.0]
    elif "responses" in record:
        if "prompt" not in record:
            raise ValueError(f"{where}: a ranked list needs 'prompt'")
        prompt, texts = record["prompt"], record["responses"]
        if not isinstance(texts, list) or len(texts) < 2 or not all(
                isinstance(t, str) for t in texts):
            raise ValueError(f"{where}: 'responses' must be a list of two or more strings")
        if ("ranks" in record) == ("scores" in record):
            raise ValueError(f"{where}: give one of 'ranks' (1 is best) or 'scores' (higher "
                             "is better) with 'responses'")
        key = "ranks" if "ranks" in record else "scores"
        values = record[key]
        if not isinstance(values, list) or len(values) != len(texts) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ValueError(f"{where}: {key!r} must hold one number per response")
        signed = [-float(v) for v in values] if key == "ranks" else [float(v) for v in values]
        grades = [v - min(signed) for v in signed]  # the worst 0: NDCG's gains are non-negative
    else:
        raise ValueError(f"{where}: no 'chosen'/'rejected' pair and no 'responses' list; map "
                         "your columns with --columns (e.g. chosen=better rejected=worse)")
    try:
        normalize_messages(prompt)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: 'prompt': {error}") from None
    if len(set(grades)) < 2:
        raise ValueError(f"{where}: every response has the same grade, so no pair can be "
                         "right or wrong")
    return prompt, list(texts), grades


class PreferenceData:
    """Preference pairs or ranked lists from a JSONL, JSON, parquet file or a hub dataset."""

    name = "preferences"
    headline = ("pairwise_accuracy", "kendall_tau_b", "ndcg")
    references: tuple[Reference, ...] = ()
    ties: TieRule = "by-kind"
    ties_source = ("RewardBench v1's rule for preference pairs (scripts/run_rm.py strict, "
                   "scripts/run_generative.py half), applied to your own data")

    def __init__(self, *, columns: Mapping[str, str] | None = None, split: str = "test") -> None:
        unknown = sorted(set(columns or {}) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown column role(s) {unknown}; map these: {list(ROLES)}")
        self.columns = dict(columns or {})
        self.split = split

    def _mapped(self, record: Mapping[str, Any]) -> dict[str, Any]:
        renamed = {role: record[column] for role, column in self.columns.items()
                   if column in record}
        return {**{k: v for k, v in record.items() if k not in self.columns.values()}, **renamed}

    def load(self, source: str | Path | None = None) -> list[Item]:
        if source is None:
            raise ValueError("preferences reads your data: pass --data FILE (JSONL, JSON or "
                             "parquet) or a Hugging Face dataset id")
        records, where = load_records(source, split=self.split, file_in_folder="test.jsonl")
        items = []
        for number, raw in enumerate(records, start=1):
            record = self._mapped(raw)
            place = f"{where} record {number}"
            prompt, texts, grades = read_preference(record, place)
            item_id = str(record.get("id", number))
            items.append(Item(item_id, {"prompt": prompt, "responses": texts},
                              stratum=str(record.get("stratum", "-")),
                              extra={"grades": grades}))
        if not items:
            raise ValueError(f"{where} holds no records")
        if len({item.id for item in items}) != len(items):
            raise ValueError(f"{where}: an id appears twice; ids must be unique (map another "
                             "column to 'id', or leave it out to number the records)")
        return items

    def candidates(self, item: Item) -> list[Candidate]:
        return [Candidate(item.record["prompt"], text) for text in item.record["responses"]]

    def to_row(self, item: Item, scores: Sequence[float]) -> dict[str, Any]:
        return {"id": item.id, "stratum": item.stratum, "grades": item.extra["grades"],
                "scores": list(scores)}

    def table(self, rows: Sequence[Mapping[str, Any]], *, kind: ScorerKind = "scalar") -> Table:
        return graded_rows_table(rows, credit=tie_credit(self.ties, kind), stratum="stratum")

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        return list_figures(values, strata, "stratum")

    def details(self, table: Table) -> dict[str, Any]:
        return {**list_pair_counts(table), "records": len(table.ids),
                "strata": {str(s): int((table.strata == s).sum())
                           for s in np.unique(table.strata)}}


__all__ = ["ROLES", "PreferenceData", "read_preference"]
