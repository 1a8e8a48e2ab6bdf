"""Multifaceted-Bench (Lee et al., "Janus", arXiv:2405.17977) as a steerable preference test.

The benchmark has 921 rows, each a prompt with its own system message (a user's preferences on
style, background knowledge, informativeness and harmlessness) and a reference answer written for
that system message. Several rows share a prompt under different system messages.

Pairing protocol (ours, since the benchmark was built for generation, not for reward models): rows
are grouped by identical prompt text; under row i's system message, row i's reference answer is
preferred over the reference answer of every other row in its group. A group of k rows gives
k(k-1) ordered pairs. A pair is right when the preferred answer scores strictly higher, and a tie
is half right (our rule for our own protocols, as in the principle lists); a pair of identical
answers is scored like any other (a scalar scorer ties it) and counted. Rows whose prompt appears
once have no pair; they are counted (``rows_without_partner``) and not scored. Figures: pairwise
accuracy over all pairs, and ``top1``, the mean over rows (with a partner) of 1/k when its own
answer has the top score shared by k answers of its group, else 0 (RewardBench 2's best-of-n
rule).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardmine.bench.base import Candidate, Item, Reference, Table, numbers, row_id, row_identical
from rewardmine.bench.data import is_hub_id, load_hub, read_json_records, require
from rewardmine.bench.metrics import ScorerKind, pair_outcomes, tie_credit, tie_rate_key
from rewardmine.bench.principles import LIST_TIES, LIST_TIES_SOURCE
from rewardmine.bench.rewardbench2 import best_of_n

HUB_ID = "kaist-ai/Multifaceted-Bench"


def _read(source: str | Path) -> list[dict[str, Any]]:
    if is_hub_id(source):
        return load_hub(str(source), split="train")
    return read_json_records(source)


class MultifacetedBench:
    """Loader and pairing protocol for Multifaceted-Bench (local file or hub id)."""

    name = "multifaceted"
    headline = ("overall", "top1")
    references: tuple[Reference, ...] = ()
    ties = LIST_TIES
    ties_source = LIST_TIES_SOURCE

    def load(self, source: str | Path | None = None) -> list[Item]:
        """Rows from a .json/.jsonl/.parquet file or ``kaist-ai/Multifaceted-Bench``."""
        records = _read(HUB_ID if source is None else source)
        groups: dict[str, list[int]] = defaultdict(list)
        for number, record in enumerate(records):
            require(record, ("system", "prompt", "reference_answer"), f"row {number}")
            groups[record["prompt"]].append(number)
        items = []
        for number, record in enumerate(records):
            partners = [j for j in groups[record["prompt"]] if j != number]
            items.append(Item(str(number), record, stratum="multifaceted", extra={
                "others": [records[j]["reference_answer"] for j in partners],
                "partner_ids": [str(j) for j in partners]}))
        return items

    def candidates(self, item: Item) -> list[Candidate]:
        if not item.extra["others"]:
            return []
        record = item.record
        return [Candidate(record["prompt"], answer, record["system"])
                for answer in [record["reference_answer"], *item.extra["others"]]]

    def to_row(self, item: Item, scores: Sequence[float]) -> dict[str, Any]:
        if not scores:
            return {"id": item.id, "score_own": None, "scores_others": []}
        return {"id": item.id, "score_own": scores[0], "scores_others": list(scores[1:]),
                "partner_ids": item.extra["partner_ids"]}

    def table(self, rows: Sequence[Mapping[str, Any]], *, kind: ScorerKind = "scalar") -> Table:
        """Per row: what its pairs earned, its tied pairs, its pairs, its top-1 score (1/k) and
        its pairs of identical answers (counted only: scored as their scores say)."""
        credit = tie_credit(self.ties, kind)
        ids, values = [], []
        for number, row in enumerate(rows, start=1):
            item_id = row_id(row, number)
            if row.get("score_own") is None:
                ids.append(item_id)
                values.append([0.0, 0.0, 0.0, 0.0, 0.0])
                continue
            own = float(row["score_own"])
            others = np.array(numbers(row, "scores_others", None, item_id))
            identical = sum(1 for i, _ in row_identical(row) if i == 0)
            earned, tied = pair_outcomes(np.full(others.size, own), others, credit=credit)
            ids.append(item_id)
            values.append([float(earned.sum()), float(tied.sum()), float(others.size),
                           best_of_n(own, others) if others.size else 0.0, float(identical)])
        if len(set(ids)) != len(ids):
            raise ValueError("an item id appears twice; keep one row per item")
        return Table(ids, np.array(values), np.array(["multifaceted"] * len(ids)))

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        paired = values[:, 2] > 0
        pairs = values[:, 2].sum()
        return {"overall": float(values[:, 0].sum() / pairs) if pairs else float("nan"),
                "top1": float(values[paired, 3].mean()) if paired.any() else float("nan"),
                tie_rate_key("overall"): float(values[:, 1].sum() / pairs) if pairs else float("nan")}

    def details(self, table: Table) -> dict[str, Any]:
        v = table.values
        return {"rows": len(table.ids), "rows_without_partner": int((v[:, 2] == 0).sum()),
                "pairs": int(v[:, 2].sum()), "tied_pairs": int(v[:, 1].sum()),
                "identical_pairs": int(v[:, 4].sum())}
