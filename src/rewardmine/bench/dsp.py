"""DSP, domain-specific preference (Cheng et al., arXiv:2309.03126), steered by a system prompt.

Each query has five responses: four written for a domain (academy, business, entertainment,
literature) and the original Alpaca answer ("normal"). For a target domain D, the D response is
preferred over each of the other four, so the 661 test queries give 661 x 4 = 2,644 pairs per
domain, as in the upstream ``--to_pairs`` conversion. The reward model is steered towards a
domain with a system prompt (our own wording below, overridable). The cross-domain matrix holds,
in cell (A, B), the pairwise accuracy on domain B's pairs of the reward steered for A. Upstream
(Linear95/DSP ``trainer.py`` ``compute_metrics``) scores every pair in both orders, so a win
earns 1, a tie 1/2 and a loss 0. A pair whose two responses are identical is scored like any
other, as upstream does (a scalar scorer ties it, so it earns 1/2), and counted: 26 of the 661
test queries hold some, and queries 13, 246 and 589 have five identical responses. The headline
per domain is the diagonal cell (A, A), and ``overall`` is the mean of the diagonal.

Whether steering works is read from paired per-query effects, not from which cell of the matrix
is largest (``details()["steering"]``). A response's *margin* under a steering is its score minus
the mean score of the query's other four responses under that same steering (so whatever the
system prompt adds to every response, such as the endogenous reward's V(s_1), cancels). The
*steering effect* for domain D on a query is the D response's margin when the reward is steered
for D minus its mean margin under the three other steerings; ``margin`` is its per-query mean
over the four domains, with a t-interval and Wilcoxon's signed-rank test over queries (the
per-domain effects' verdicts use Holm-adjusted p-values, as they are read together). The
*accuracy effect* is, per query, the mean of the diagonal cells minus the mean of the
off-diagonal ones, tested the same way. Both come with a verdict only from
:data:`~rewardmine.statistics.MIN_ITEMS_FOR_VERDICT` queries on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardmine.bench.base import Candidate, Item, Reference, Table, row_id, row_identical
from rewardmine.bench.data import default_source, read_json_records, require
from rewardmine.bench.metrics import ScorerKind, pair_outcomes, tie_credit, with_tie_rates
from rewardmine.statistics import effect_verdict, holm, paired_effect

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


_PAIRS = len(DOMAINS) * len(DOMAINS) * (len(RESPONSES) - 1)  # 64 pairs per query and steering
_STEERING = ("matched steering raises it", "matched steering lowers it")


def steering_effects(grid: np.ndarray) -> np.ndarray:
    """Per domain D, the D response's margin over the query's other responses when steered for
    D, minus its mean margin under the other steerings. ``grid[a, r]``: the score of response r
    (in :data:`RESPONSES` order) under the steering for domain a (in :data:`DOMAINS` order).
    It is the mean of the differences, not the difference of the means, so a scorer that the
    steering does not move gets exactly 0 (not rounding noise that a rank test would read)."""
    n = len(RESPONSES)
    margin = grid - (grid.sum(axis=1, keepdims=True) - grid) / (n - 1)  # (steering, response)
    return _own_minus_others(margin[:, :len(DOMAINS)])


def _own_minus_others(cells: np.ndarray) -> np.ndarray:
    """Per column d of the square ``cells[..., steering, d]``: the mean over the other steerings
    a of ``cells[d, d] - cells[a, d]`` (exactly 0 where the steering changes nothing)."""
    k = cells.shape[-1]
    return np.stack([np.mean(np.stack([cells[..., d, d] - cells[..., a, d]
                                       for a in range(k) if a != d]), axis=0)
                     for d in range(k)], axis=-1)


def pairs_per_domain(items: Sequence[Item]) -> int:
    """Number of test pairs for one target domain: each query's D response vs the 4 others."""
    return len(items) * (len(RESPONSES) - 1)


class DSP:
    """Loader and cross-domain scoring of the DSP test set.

    Args:
        systems: system prompt per steering domain; defaults to :data:`SYSTEM_PROMPTS`.
    """

    name = "dsp"
    ties = "half"
    ties_source = ("Linear95/DSP trainer.py compute_metrics: each pair is compared in both "
                   "orders, so a tie is right in one of the two")
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

    def table(self, rows: Sequence[Mapping[str, Any]], *, kind: ScorerKind = "scalar") -> Table:
        """Per query, what each of its 64 pairs earned (steered for A, pairs of B, the k-th other
        response; row major), then whether each tied, then whether its two responses are
        identical (counted only: an identical pair is scored as its scores say), then the four
        domains' steering effects (:func:`steering_effects`)."""
        credit = tie_credit(self.ties, kind)
        n = len(RESPONSES)
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
            same = row_identical(row)  # candidate indices: steering * 5 + response
            earned, tied = np.zeros((4, 4, n - 1)), np.zeros((4, 4, n - 1))
            identical = np.zeros((4, 4, n - 1))
            for b in range(len(DOMAINS)):
                others = [k for k in range(n) if k != b]
                earned[:, b], tied[:, b] = pair_outcomes(grid[:, [b]], grid[:, others],
                                                         credit=credit)
                identical[:, b] = [[(a * n + min(b, k), a * n + max(b, k)) in same
                                    for k in others] for a in range(len(DOMAINS))]
            ids.append(item_id)
            values.append(np.concatenate([earned.ravel(), tied.ravel(), identical.ravel(),
                                          steering_effects(grid)]))
        if len(set(ids)) != len(ids):
            raise ValueError("an item id appears twice; keep one row per item")
        if not ids:
            raise ValueError("no scored items")
        return Table(ids, np.array(values), np.array(["dsp"] * len(ids)))

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        return with_tie_rates(self._figures, values[:, :_PAIRS], values[:, _PAIRS:2 * _PAIRS],
                              strata)

    @staticmethod
    def _matrix(earned: np.ndarray) -> np.ndarray:
        return earned.reshape(len(earned), 4, 4, len(RESPONSES) - 1).mean(axis=(0, 3))

    def _figures(self, earned: np.ndarray, strata: np.ndarray) -> dict[str, float]:
        matrix = self._matrix(earned)
        out = {domain: float(matrix[i, i]) for i, domain in enumerate(DOMAINS)}
        out["overall"] = float(np.mean(np.diag(matrix)))
        out["off_diagonal"] = float(matrix[~np.eye(4, dtype=bool)].mean())
        return out

    def details(self, table: Table) -> dict[str, Any]:
        matrix = self._matrix(table.values[:, :_PAIRS])
        shape = (len(table.ids), 4, 4, len(RESPONSES) - 1)
        tied = table.values[:, _PAIRS:2 * _PAIRS].reshape(shape)
        identical = table.values[:, 2 * _PAIRS:3 * _PAIRS].reshape(shape)
        queries = [i for i, row in zip(table.ids, identical, strict=True) if row.any()]
        return {"domains": list(DOMAINS), "matrix": matrix.tolist(),
                "matrix_axes": "rows: reward steered for; columns: pairs of the target domain",
                "pairs": tied.size, "tied_pairs": int(tied.sum()),
                "identical_pairs": int(identical.sum()),
                "queries_with_identical_responses": queries,
                "tied_pairs_per_cell": tied.sum(axis=(0, 3)).astype(int).tolist(),
                "identical_pairs_per_cell": identical.sum(axis=(0, 3)).astype(int).tolist(),
                "pairs_per_domain": len(table.ids) * (len(RESPONSES) - 1),
                "steering": self.steering(table), "systems": self.systems}

    @staticmethod
    def steering(table: Table) -> dict[str, Any]:
        """The paired steering effects over queries (see the module's docstring)."""
        effects = table.values[:, 3 * _PAIRS:3 * _PAIRS + len(DOMAINS)]
        earned = table.values[:, :_PAIRS].reshape(len(table.ids), 4, 4, len(RESPONSES) - 1)
        cells = earned.mean(axis=3)  # (query, steering, pairs of domain)
        accuracy = _own_minus_others(cells).mean(axis=1)
        per_domain = {d: paired_effect(effects[:, i], names=_STEERING)
                      for i, d in enumerate(DOMAINS)}
        # the four domains are read together: their verdicts rest on Holm-adjusted p-values
        adjusted = holm([e["p_wilcoxon"] for e in per_domain.values()])
        for effect, p in zip(per_domain.values(), adjusted, strict=True):
            effect["p_wilcoxon_holm"] = p
            effect["verdict"] = effect_verdict(effect, p, names=_STEERING) if np.isfinite(p) \
                else effect["verdict"]
        return {"margin": paired_effect(effects.mean(axis=1), names=_STEERING),
                "margin_per_domain": per_domain,
                "accuracy": paired_effect(accuracy, names=_STEERING),
                "unit": "margin: score units (nats for the endogenous reward); accuracy: "
                        "diagonal minus off-diagonal pairwise accuracy, per query"}
