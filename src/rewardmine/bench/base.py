"""What every benchmark provides, so that one runner, one report and one CLI serve them all.

A benchmark turns each item into the candidate (prompt, response, system) triples to score,
stores the scores of an item as one JSONL row (the same row format a ``--scores`` file uses),
and reduces rows to a :class:`Table` of per-item outcomes from which its official figures are
computed (the bootstrap resamples the table's rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rewardmine.bench.metrics import ScorerKind, TieRule
from rewardmine.chat import Prompt


@dataclass(frozen=True)
class Candidate:
    """One response to score: the prompt it answers and the system prompt that steers the reward."""

    prompt: Prompt
    response: str
    system: str | None = None


@dataclass
class Table:
    """Per-item outcomes: ``values[i]`` belongs to ``ids[i]`` in stratum ``strata[i]``."""

    ids: list[str]
    values: np.ndarray
    strata: np.ndarray

    def select(self, ids: Sequence[str]) -> Table:
        """Rows in the order of ``ids`` (for pairing two runs item by item)."""
        position = {item_id: i for i, item_id in enumerate(self.ids)}
        missing = [item_id for item_id in ids if item_id not in position]
        if missing:
            raise ValueError(f"items {missing[:5]} (and {max(0, len(missing) - 5)} more) are not "
                             "in this run")
        index = np.array([position[item_id] for item_id in ids], dtype=np.int64)
        return Table(list(ids), self.values[index], self.strata[index])


@dataclass(frozen=True)
class Reference:
    """A published figure, quoted beside ours with its source."""

    model: str
    figures: Mapping[str, float]
    source: str
    note: str = ""


@dataclass
class Item:
    """A benchmark item: its id, its stratum and the official record it came from."""

    id: str
    record: dict[str, Any]
    stratum: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Benchmark(Protocol):
    """The contract between a benchmark and the runner, report and CLI."""

    name: str
    headline: tuple[str, ...]
    references: tuple[Reference, ...]
    ties: TieRule
    """The official tie rule (:data:`rewardmine.bench.metrics.TIE_RULES`)."""
    ties_source: str
    """Where the tie rule comes from."""

    def load(self, source: str | Path | None = None) -> list[Item]: ...

    def candidates(self, item: Item) -> list[Candidate]: ...

    def to_row(self, item: Item, scores: Sequence[float]) -> dict[str, Any]: ...

    def table(self, rows: Sequence[Mapping[str, Any]], *, kind: ScorerKind = "scalar"
              ) -> Table: ...

    def figures(self, values: np.ndarray, strata: np.ndarray) -> dict[str, float]: ...

    def details(self, table: Table) -> dict[str, Any]: ...


IDENTICAL = "identical"
"""The row key listing the pairs of an item's candidates that are identical (index pairs)."""


def identical_pairs(candidates: Sequence[Candidate]) -> list[list[int]]:
    """Index pairs ``[i, j]`` (i < j) of candidates with the same prompt, response and system
    prompt. Every benchmark scores such a pair like any other, as its official source does (a
    scalar scorer ties it), and counts it (``identical_pairs`` in its details), so a reader sees
    how many pairs could not be won."""
    return [[i, j] for i in range(len(candidates)) for j in range(i + 1, len(candidates))
            if candidates[i] == candidates[j]]


def row_identical(row: Mapping[str, Any]) -> set[tuple[int, int]]:
    """The identical candidate pairs a row records (:func:`identical_pairs`); an older HH-RLHF
    row's ``true`` means its two candidates."""
    value = row.get(IDENTICAL) or []
    if value is True:
        return {(0, 1)}
    return {(min(p), max(p)) for p in value}


def row_id(row: Mapping[str, Any], number: int) -> str:
    if "id" not in row:
        raise ValueError(f"score row {number} has no 'id'; every row names the item it scores")
    return str(row["id"])


def numbers(row: Mapping[str, Any], key: str, count: int | None, item_id: str) -> list[float]:
    """``row[key]`` as a list of finite floats of length ``count``, or a precise error.

    Only JSON numbers count: a string ("1e3") or a boolean is refused, not converted.
    """
    value = row.get(key)
    if not isinstance(value, list) or (count is not None and len(value) != count):
        want = f"{count} numbers" if count is not None else "a list of numbers"
        raise ValueError(f"item {item_id}: {key!r} must be {want}, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"item {item_id}: {key!r} holds {v!r}, which is not a number; "
                             f"scores are JSON numbers: {value!r}")
    out = [float(v) for v in value]
    if any(np.isnan(out)):
        raise ValueError(f"item {item_id}: {key!r} holds NaN; rescore the item")
    if not all(np.isfinite(out)):
        raise ValueError(f"item {item_id}: {key!r} holds an infinite score; rescore the item")
    return out
