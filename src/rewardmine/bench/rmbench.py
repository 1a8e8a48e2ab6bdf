"""RM-Bench (Liu et al., ICLR 2025, arXiv:2410.16184) with its official arithmetic.

Every item has three chosen and three rejected responses in the styles concise, detailed plain
text and detailed markdown. Per domain, M[i][j] is the share of items whose chosen response in
style i scores *strictly* above the rejected response in style j (a tie is wrong). Hard is the
mean of the strict upper triangle (chosen less formatted than rejected), normal the diagonal,
easy the strict lower triangle, and a domain's score the mean of all nine cells. Safety pools
safety-refuse and safety-response item by item. Easy, normal, hard and overall are plain means
over the scored domains.

Because every domain score is the mean of 3 upper, 3 diagonal and 3 lower cells, the domain
average ("overall") equals the mean of easy, normal and hard whenever both are taken over the
same domains; both are reported, labelled. The figure that does differ, and that some papers
print as the average, is the mean over all items pooled across domains (``item_pooled``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardmine.bench.base import Candidate, Item, Reference, Table, numbers, row_id, row_identical
from rewardmine.bench.data import default_source, is_hub_id, load_hub, read_json_records, require
from rewardmine.bench.metrics import ScorerKind, pair_outcomes, tie_credit, with_tie_rates

STYLES = ("concise", "detailed_plain", "detailed_markdown")
SOURCE_DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")
DOMAINS = ("chat", "code", "math", "safety")
HUB_ID = "THU-KEG/RM-Bench"
_UPPER = np.triu(np.ones((3, 3), dtype=bool), k=1)
_LOWER = np.tril(np.ones((3, 3), dtype=bool), k=-1)
_DIAGONAL = np.eye(3, dtype=bool)


def domain_of(source_domain: str) -> str:
    """The reported domain of a source domain: both safety files count as "safety"."""
    return "safety" if source_domain.startswith("safety") else source_domain


def matrix_parts(matrix: np.ndarray) -> dict[str, float]:
    """Easy (strict lower triangle), normal (diagonal), hard (strict upper) and their mean."""
    return {"easy": float(matrix[_LOWER].mean()), "normal": float(matrix[_DIAGONAL].mean()),
            "hard": float(matrix[_UPPER].mean()), "score": float(matrix.mean())}


class RMBench:
    """Loader and official scoring of RM-Bench."""

    name = "rm-bench"
    ties = "strict"
    ties_source = ("THU-KEG/RM-Bench scripts/utils.py compute_accuracy: a comparison counts "
                   "when score_chosen > score_rejected")
    headline = ("overall", "easy", "normal", "hard", "chat", "code", "math", "safety")
    references = (
        Reference("state-of-the-art reward models (best of ~40 evaluated)", {"hard": 0.466},
                  "Liu et al. 2024, RM-Bench, arXiv:2410.16184, abstract",
                  "accuracy under style-bias interference (the hard setting); random is 50%"),
    )

    def load(self, source: str | Path | None = None) -> list[Item]:
        """Items from the shared copy, a folder of ``*_filtered.json`` files, one such file,
        ``total_dataset.json``, or the hub id ``THU-KEG/RM-Bench``."""
        if source is None:
            source = default_source("rm-bench")
        if is_hub_id(source):
            return self._items(load_hub(str(source), split="train"), None, str(source))
        path = Path(source)
        if path.is_dir():
            total = path / "total_dataset.json"
            if total.exists():
                return self._items(read_json_records(total), None, str(total))
            items = []
            for domain in SOURCE_DOMAINS:
                file = path / f"{domain}_filtered.json"
                if file.exists():
                    items += self._items(read_json_records(file), domain, str(file))
            if not items:
                raise FileNotFoundError(f"{path}: no total_dataset.json or *_filtered.json files")
            return items
        stem = path.name.removesuffix(".json").removesuffix("_filtered")
        return self._items(read_json_records(path), stem if stem in SOURCE_DOMAINS else None,
                           str(path))

    def _items(self, records: list[dict[str, Any]], domain: str | None, where: str) -> list[Item]:
        items = []
        for number, record in enumerate(records):
            place = f"{where} record {number}"
            require(record, ("id", "prompt", "chosen", "rejected"), place)
            source_domain = domain or record.get("domain")
            if source_domain not in SOURCE_DOMAINS:
                raise ValueError(f"{place}: domain {source_domain!r} is not one of "
                                 f"{SOURCE_DOMAINS}; name the file <domain>_filtered.json")
            for key in ("chosen", "rejected"):
                if not isinstance(record[key], list) or len(record[key]) != 3:
                    raise ValueError(f"{place}: {key!r} must hold 3 responses in style order "
                                     f"{STYLES}")
            raw_id = str(record["id"])
            item_id = raw_id if "/" in raw_id else f"{source_domain}/{raw_id}"
            items.append(Item(item_id, record, stratum=source_domain))
        return items

    def candidates(self, item: Item) -> list[Candidate]:
        prompt = item.record["prompt"]
        return [Candidate(prompt, text) for text in [*item.record["chosen"],
                                                     *item.record["rejected"]]]

    def to_row(self, item: Item, scores: Sequence[float]) -> dict[str, Any]:
        return {"id": item.id, "domain": item.stratum, "scores_chosen": list(scores[:3]),
                "scores_rejected": list(scores[3:])}

    def table(self, rows: Sequence[Mapping[str, Any]], *, kind: ScorerKind = "scalar") -> Table:
        """Per item, what its 9 comparisons earned (chosen style i vs rejected style j, row
        major), then whether each was tied, then whether its two responses are identical
        (counted only: compute_accuracy scores such a pair as its scores say)."""
        credit = tie_credit(self.ties, kind)
        ids, values, strata, seen = [], [], [], set()
        for number, row in enumerate(rows, start=1):
            item_id = row_id(row, number)
            if item_id in seen:
                raise ValueError(f"item {item_id} is scored twice; keep one row per item")
            seen.add(item_id)
            source_domain = row.get("domain") or item_id.split("/", 1)[0]
            if source_domain not in SOURCE_DOMAINS:
                raise ValueError(f"item {item_id}: cannot tell its domain; give 'domain' (one of "
                                 f"{SOURCE_DOMAINS}) or an id like 'chat/12'")
            chosen = np.array(numbers(row, "scores_chosen", 3, item_id))
            rejected = np.array(numbers(row, "scores_rejected", 3, item_id))
            same = row_identical(row)
            identical = [(i, 3 + j) in same for i in range(3) for j in range(3)]
            earned, tied = pair_outcomes(chosen[:, None], rejected[None, :], credit=credit)
            values.append(np.concatenate([earned.ravel(), tied.ravel(), identical]))
            ids.append(item_id)
            strata.append(source_domain)
        if not ids:
            raise ValueError("no scored items")
        return Table(ids, np.array(values, dtype=np.float64), np.array(strata))

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        return with_tie_rates(self._figures, values[:, :9], values[:, 9:18], strata)

    def _figures(self, wins: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        domains = np.array([domain_of(s) for s in strata])
        out: dict[str, float] = {}
        parts = {}
        for domain in DOMAINS:
            mask = domains == domain
            if mask.any():
                parts[domain] = matrix_parts(wins[mask].mean(axis=0).reshape(3, 3))
                out[domain] = parts[domain]["score"]
        for level in ("easy", "normal", "hard"):
            out[level] = float(np.mean([p[level] for p in parts.values()]))
        out["overall"] = float(np.mean([p["score"] for p in parts.values()]))
        out["mean_easy_normal_hard"] = (out["easy"] + out["normal"] + out["hard"]) / 3
        out["item_pooled"] = float(wins.mean())
        return out

    def details(self, table: Table) -> dict[str, Any]:
        domains = np.array([domain_of(s) for s in table.strata])
        matrices, per_domain = {}, {}
        for domain in DOMAINS:
            mask = domains == domain
            if mask.any():
                matrix = table.values[mask, :9].mean(axis=0).reshape(3, 3)
                matrices[domain] = matrix.tolist()
                per_domain[domain] = {
                    **matrix_parts(matrix), "items": int(mask.sum()),
                    "tied_comparisons": int(table.values[mask, 9:18].sum()),
                    "identical_comparisons": int(table.values[mask, 18:].sum())}
        sources = {s: int((table.strata == s).sum()) for s in SOURCE_DOMAINS
                   if (table.strata == s).any()}
        return {"styles": list(STYLES), "matrices": matrices, "domains": per_domain,
                "pairs": 9 * len(table.ids), "tied_pairs": int(table.values[:, 9:18].sum()),
                "identical_pairs": int(table.values[:, 18:].sum()),
                "domains_scored": list(matrices), "items_per_source": sources,
                "domains_missing": [d for d in DOMAINS if d not in matrices]}
