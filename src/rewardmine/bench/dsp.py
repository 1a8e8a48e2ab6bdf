"""DSP, domain-specific preference (Cheng et al., arXiv:2309.03126), steered by a system prompt.

Each query has five responses: four written for a domain (academy, business, entertainment,
literature) and the original Alpaca answer ("normal"). For a target domain D, the D response is
preferred over each of the other four, so the 661 test queries give 661 x 4 = 2,644 pairs per
domain, as in the upstream ``--to_pairs`` conversion. The reward model is steered towards a
domain with a system prompt (our own wording below, overridable). The cross-domain matrix holds,
in cell (A, B), the pairwise accuracy on domain B's pairs of the reward steered for A; a pair is
right only when the preferred response scores strictly higher. The headline per domain is the
diagonal cell (A, A), and ``overall`` is the mean of the diagonal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardmine.bench.base import Candidate, Item, Reference, Table, row_id
from rewardmine.bench.data import default_source, read_json_records, require

DOMAINS = ("academy", "business", "entertainment", "literature")
RESPONSES = (*DOMAINS, "normal")
FILE = "domain_specific_preference.test.json"

SYSTEM_PROMPTS = {
    "academy": (
        "You are answering for an academic reader. The best answer is rigorous and precise: it "
        "uses the field's terminology correctly, reasons step by step, qualifies its claims and "
        "reads like careful scholarly writing."),
    "business": (
        "You are answering for a busy professional. The best answer is practical and "
        "action-oriented: it gets to the point, frames things in terms of goals, costs, risks "
        "and decisions, and ends with concrete next steps."),
    "entertainment": (
        "You are answering for someone who wants to enjoy the reply. The best answer is lively "
        "and fun: a casual, playful voice, humour where it fits, and hooks that keep the reader "
        "engaged."),
    "literature": (
        "You are answering for a lover of literature. The best answer is artful and expressive: "
        "vivid imagery, figurative language, rhythm in its sentences and a distinct literary "
        "voice."),
}


def pairs_per_domain(items: Sequence[Item]) -> int:
    """Number of test pairs for one target domain: each query's D response vs the 4 others."""
    return len(items) * (len(RESPONSES) - 1)


class DSP:
    """Loader and cross-domain scoring of the DSP test set.

    Args:
        systems: system prompt per steering domain; defaults to :data:`SYSTEM_PROMPTS`.
    """

    name = "dsp"
    headline = ("overall", *DOMAINS)
    references = (
        Reference("domain-specific reward model (academy) of Cheng et al.", {"academy": 0.7689},
                  "Cheng et al. 2023, arXiv:2309.03126 (as quoted in rewardmine issue 5)",
                  "trained reward model, not steered by a prompt; not verified against the "
                  "paper here"),
    )

    def __init__(self, *, systems: Mapping[str, str] | None = None) -> None:
        self.systems = dict(SYSTEM_PROMPTS if systems is None else systems)
        unknown = set(self.systems) - set(DOMAINS)
        missing = set(DOMAINS) - set(self.systems)
        if unknown or missing:
            raise ValueError(f"systems must give exactly the domains {DOMAINS}; unknown "
                             f"{sorted(unknown)}, missing {sorted(missing)}")

    def load(self, source: str | Path | None = None) -> list[Item]:
        path = Path(source) if source is not None else default_source("dsp")
        if path.is_dir():
            path = path / FILE
        items = []
        for number, record in enumerate(read_json_records(path)):
            place = f"{path} record {number}"
            require(record, ("query", "responses"), place)
            missing = [k for k in RESPONSES if k not in record["responses"]]
            if missing:
                raise ValueError(f"{place}: responses lack {missing}")
            items.append(Item(str(number), record, stratum="dsp"))
        return items

    def candidates(self, item: Item) -> list[Candidate]:
        query = item.record["query"]
        return [Candidate(query, item.record["responses"][response], self.systems[steer])
                for steer in DOMAINS for response in RESPONSES]

    def to_row(self, item: Item, scores: Sequence[float]) -> dict[str, Any]:
        it = iter(scores)
        return {"id": item.id, "scores": {steer: {response: next(it) for response in RESPONSES}
                                          for steer in DOMAINS}}

    def table(self, rows: Sequence[Mapping[str, Any]]) -> Table:
        ids, values = [], []
        for number, row in enumerate(rows, start=1):
            item_id = row_id(row, number)
            scores = row.get("scores")
            grid = np.zeros((len(DOMAINS), len(RESPONSES)))
            for a, steer in enumerate(DOMAINS):
                try:
                    grid[a] = [float(scores[steer][response]) for response in RESPONSES]
                except (KeyError, TypeError, ValueError):
                    raise ValueError(
                        f"item {item_id}: 'scores' must map each steering domain {DOMAINS} to a "
                        f"score per response {RESPONSES}") from None
            if np.isnan(grid).any():
                raise ValueError(f"item {item_id}: a score is NaN; rescore the item")
            wins, ties = np.zeros((4, 4)), np.zeros((4, 4))
            for b in range(len(DOMAINS)):
                others = np.delete(grid, b, axis=1)
                wins[:, b] = (grid[:, [b]] > others).mean(axis=1)
                ties[:, b] = (grid[:, [b]] == others).mean(axis=1)
            ids.append(item_id)
            values.append(np.concatenate([wins.ravel(), ties.ravel()]))
        if len(set(ids)) != len(ids):
            raise ValueError("an item id appears twice; keep one row per item")
        if not ids:
            raise ValueError("no scored items")
        return Table(ids, np.array(values), np.array(["dsp"] * len(ids)))

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        matrix = values[:, :16].mean(axis=0).reshape(4, 4)
        out = {domain: float(matrix[i, i]) for i, domain in enumerate(DOMAINS)}
        out["overall"] = float(np.mean(np.diag(matrix)))
        out["off_diagonal"] = float(matrix[~np.eye(4, dtype=bool)].mean())
        return out

    def details(self, table: Table) -> dict[str, Any]:
        matrix = table.values[:, :16].mean(axis=0).reshape(4, 4)
        ties = table.values[:, 16:].sum(axis=0).reshape(4, 4) * (len(RESPONSES) - 1)
        return {"domains": list(DOMAINS), "matrix": matrix.tolist(),
                "matrix_axes": "rows: reward steered for; columns: pairs of the target domain",
                "tied_pairs": np.rint(ties).astype(int).tolist(),
                "pairs_per_domain": len(table.ids) * (len(RESPONSES) - 1),
                "systems": self.systems}
