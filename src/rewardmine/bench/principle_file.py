"""Principle-following lists from a file: the benchmark ``rewardmine build-bench`` writes.

Each JSONL row is one list: ``id``, ``principle``, ``dimension``, ``domain``, ``prompt`` (a string
or chat messages), ``responses`` ({response id: text}), ``ranking`` (ids, best first) and
``scores`` ({response id: consensus score}, higher is better). The reward model scores every
response with the list's principle as its system prompt, and the list is scored against the
consensus scores as grades, with the metrics of :mod:`rewardmine.bench.principles`: pairwise
accuracy over the pairs whose consensus scores differ (a tie in the model's scores is half
right; a pair of identical responses is scored like any other, and counted),
Kendall tau-b and NDCG (consensus scores as gains), averaged over lists. Strata are the
principles' dimensions.

A ``--scores`` file for this benchmark holds the rows a model run writes (``items.jsonl``): the
list's ``grades`` travel with its ``scores``, so a run can be summarized without the data file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardmine.bench.base import Candidate, Item, Reference, Table
from rewardmine.bench.metrics import ScorerKind, tie_credit
from rewardmine.bench.principles import (
    LIST_TIES,
    LIST_TIES_SOURCE,
    graded_rows_table,
    list_figures,
    list_pair_counts,
)
from rewardmine.io import read_jsonl

FIELDS = ("id", "principle", "dimension", "domain", "prompt", "responses", "ranking", "scores")


def _check_list(row: Mapping[str, Any], where: str) -> list[float]:
    """The list's grades in ``responses`` order, or an error naming what is wrong."""
    missing = [name for name in FIELDS if name not in row]
    if missing:
        raise ValueError(f"{where} lacks {missing}; is this a build-bench benchmark.jsonl?")
    responses, scores = row["responses"], row["scores"]
    if not isinstance(responses, dict) or len(responses) < 2:
        raise ValueError(f"{where}: 'responses' must map at least two ids to texts")
    if set(scores) != set(responses) or set(row["ranking"]) != set(responses):
        raise ValueError(f"{where}: 'scores' and 'ranking' must name exactly the ids of "
                         f"'responses' ({sorted(responses)})")
    grades = [float(scores[rid]) for rid in responses]
    if len(set(grades)) < 2:
        raise ValueError(f"{where}: every consensus score is equal, so no pair can be right or "
                         "wrong; drop the list from the file")
    return grades


class PrincipleFile:
    """The lists of a build-bench benchmark file (``--data PATH/benchmark.jsonl``)."""

    name = "principles-build-bench"
    headline = ("pairwise_accuracy", "kendall_tau_b", "ndcg")
    references: tuple[Reference, ...] = ()
    ties = LIST_TIES
    ties_source = LIST_TIES_SOURCE

    def load(self, source: str | Path | None = None) -> list[Item]:
        if source is None:
            raise ValueError(f"{self.name} reads the file build-bench writes; pass "
                             "--data PATH/benchmark.jsonl")
        items = []
        for number, row in enumerate(read_jsonl(source), start=1):
            grades = _check_list(row, f"{source}:{number} (list {row.get('id')!r})")
            items.append(Item(str(row["id"]), row, stratum=str(row["dimension"]) or "-", extra={
                "ids": list(row["responses"]), "grades": grades}))
        if len({item.id for item in items}) != len(items):
            raise ValueError(f"{source}: a list id appears twice; ids must be unique")
        if not items:
            raise ValueError(f"{source} holds no lists")
        return items

    def candidates(self, item: Item) -> list[Candidate]:
        record = item.record
        return [Candidate(record["prompt"], record["responses"][rid], record["principle"])
                for rid in item.extra["ids"]]

    def to_row(self, item: Item, scores: Sequence[float]) -> dict[str, Any]:
        return {"id": item.id, "dimension": item.stratum, "responses": item.extra["ids"],
                "grades": item.extra["grades"], "scores": list(scores)}

    def table(self, rows: Sequence[Mapping[str, Any]], *, kind: ScorerKind = "scalar") -> Table:
        return graded_rows_table(rows, credit=tie_credit(self.ties, kind), stratum="dimension")

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        return list_figures(values, strata, "dimension")

    def details(self, table: Table) -> dict[str, Any]:
        per = {}
        for dimension in np.unique(table.strata):
            v = table.values[table.strata == dimension]
            tau = v[:, 1]
            per[str(dimension)] = {
                "lists": len(v), "pairwise_accuracy": float(v[:, 0].mean()),
                "kendall_tau_b": float(np.nanmean(tau)) if (~np.isnan(tau)).any() else None,
                "ndcg": float(v[:, 2].mean()), "pairs": int(v[:, 3].sum()),
                "tied_pairs": int(v[:, 4].sum()), "undefined_tau_lists": int(np.isnan(tau).sum())}
        return {**list_pair_counts(table), "dimensions": per}


__all__ = ["FIELDS", "PrincipleFile"]
