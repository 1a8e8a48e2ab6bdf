"""Human verification: export consensus lists to the HTML page, import annotators' files.

An annotator's decision on a list is one of three labels: "accept" (the order is right),
"correct" (accepted with a corrected order) or "reject" (drop the list). Agreement is reported on
keep-or-reject (accept and correct both keep) and on the three labels: the share of lists on
which all annotators agree, Fleiss' kappa, and Cohen's kappa for each two annotators.

A list goes into the benchmark when every annotator keeps it (``require="all"``) or more than
half do (``require="majority"``). Its order is the judges' verified order when no keeping
annotator changed it, and otherwise the Kemeny consensus of the keeping annotators' orders, with
win-rate scores from those orders.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardmine.buildbench.page import ANNOTATION_FORMAT, ANNOTATION_VERSION, render_page
from rewardmine.consensus import cohens_kappa, consensus, fleiss_kappa

Require = Literal["all", "majority"]


def export_lists(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The lists to verify (rows with ``keep``) in the page's form, and the export's id."""
    lists = []
    for row in rows:
        if not row.get("keep"):
            continue
        lists.append({
            "id": row["id"], "principle": row["principle"], "dimension": row.get("dimension", ""),
            "domain": row.get("domain", ""), "prompt": row["prompt"],
            "responses": {rid: row["responses"][rid] for rid in row["ranking"]},
            "ranking": list(row["ranking"]),
        })
    if not lists:
        raise ValueError("no list is marked keep; nothing to verify (see each row's 'reason')")
    canonical = json.dumps(lists, sort_keys=True, ensure_ascii=False).encode()
    return lists, hashlib.sha256(canonical).hexdigest()[:16]


def write_page(rows: Sequence[dict[str, Any]], path: str | Path, *,
               title: str = "rewardmine: verify consensus rankings") -> str:
    """Write the verification page for ``rows`` to ``path``; returns the export id."""
    lists, export_id = export_lists(rows)
    Path(path).write_text(render_page(lists, export_id=export_id, title=title), encoding="utf-8")
    return export_id


@dataclass
class Verification:
    """Imported decisions: per list and annotator a label and an order; agreement; the verdict."""

    annotators: list[str]
    labels: dict[str, list[str]]              # list id -> label per annotator
    orders: dict[str, list[list[str] | None]]  # list id -> order per annotator (None: rejected)
    undecided: dict[str, list[str]]           # list id -> annotators who left it undecided
    agreement: dict[str, Any] = field(default_factory=dict)


def read_annotations(path: str | Path, export_id: str) -> dict[str, Any]:
    """One annotator's saved file, checked to belong to this export."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON file ({error.msg})") from None
    if not isinstance(data, dict) or data.get("format") != ANNOTATION_FORMAT:
        raise ValueError(f"{path}: not a rewardmine annotation file (no format "
                         f"{ANNOTATION_FORMAT!r}); save it from the verification page")
    if data.get("version") != ANNOTATION_VERSION:
        raise ValueError(f"{path}: annotation format version {data.get('version')}, "
                         f"this rewardmine reads version {ANNOTATION_VERSION}")
    if data.get("export") != export_id:
        raise ValueError(f"{path}: saved from export {data.get('export')}, not {export_id}; "
                         "annotate the page made from these consensus rows")
    if not data.get("annotator"):
        raise ValueError(f"{path}: no annotator name")
    return data


def import_annotations(rows: Sequence[dict[str, Any]], paths: Sequence[str | Path]
                       ) -> Verification:
    """Read two or more annotators' files for the lists exported from ``rows``."""
    lists, export_id = export_lists(rows)
    if len(paths) < 2:
        raise ValueError(f"got {len(paths)} annotation file(s); agreement needs at least 2")
    files = [read_annotations(path, export_id) for path in paths]
    names = [f["annotator"] for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"annotator names repeat ({names}); each file must be one person's")
    labels: dict[str, list[str]] = {}
    orders: dict[str, list[list[str] | None]] = {}
    undecided: dict[str, list[str]] = {}
    for item in lists:
        lid = item["id"]
        for path, data in zip(paths, files, strict=True):
            decision = data["decisions"].get(lid)
            if decision is None:
                undecided.setdefault(lid, []).append(data["annotator"])
                continue
            label, order = _label(decision, item, path)
            labels.setdefault(lid, []).append(label)
            orders.setdefault(lid, []).append(order)
        if lid in undecided:
            labels.pop(lid, None)
            orders.pop(lid, None)
    known = {item["id"] for item in lists}
    for path, data in zip(paths, files, strict=True):
        unknown = sorted(set(data["decisions"]) - known)
        if unknown:
            raise ValueError(f"{path}: decisions for lists not in this export: {unknown[:5]}")
    result = Verification(annotators=names, labels=labels, orders=orders, undecided=undecided)
    result.agreement = agreement(labels, names)
    return result


def _label(decision: dict[str, Any], item: dict[str, Any], path: str | Path
           ) -> tuple[str, list[str] | None]:
    kind = decision.get("decision")
    if kind == "reject":
        return "reject", None
    if kind != "accept":
        raise ValueError(f"{path}: list {item['id']}: decision {kind!r}; use accept or reject")
    order = decision.get("ranking")
    if order is None or list(order) == item["ranking"]:
        return "accept", list(item["ranking"])
    if sorted(order) != sorted(item["ranking"]):
        raise ValueError(f"{path}: list {item['id']}: corrected order {order} must hold the "
                         f"shown responses {item['ranking']} once each")
    return "correct", list(order)


def agreement(labels: dict[str, list[str]], names: Sequence[str]) -> dict[str, Any]:
    """Agreement of annotators over the lists all of them decided."""
    decided = list(labels.values())
    out: dict[str, Any] = {"lists": len(decided), "annotators": list(names)}
    if not decided:
        return out
    keep = [["reject" if label == "reject" else "keep" for label in row] for row in decided]
    out["keep_all_agree"] = sum(len(set(row)) == 1 for row in keep) / len(keep)
    out["label_all_agree"] = sum(len(set(row)) == 1 for row in decided) / len(decided)
    out["keep_fleiss_kappa"] = _finite(fleiss_kappa(keep))
    out["label_fleiss_kappa"] = _finite(fleiss_kappa(decided))
    out["keep_cohens_kappa"] = {
        f"{names[a]} vs {names[b]}": _finite(cohens_kappa([r[a] for r in keep], [r[b] for r in keep]))
        for a, b in itertools.combinations(range(len(names)), 2)
    }
    return out


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined kappa (every label the same) is written as null."""
    return None if value != value else value


def verdicts(rows: Sequence[dict[str, Any]], verification: Verification, *,
             require: Require = "all") -> list[dict[str, Any]]:
    """Per verified list: kept or not, and its final ranking and scores."""
    by_id = {row["id"]: row for row in rows}
    out = []
    for lid, labels in verification.labels.items():
        keeping = [order for order in verification.orders[lid] if order is not None]
        needed = len(labels) if require == "all" else len(labels) // 2 + 1
        row = by_id[lid]
        verdict: dict[str, Any] = {"id": lid, "labels": labels, "kept": len(keeping) >= needed}
        if verdict["kept"]:
            if all(order == row["ranking"] for order in keeping):
                verdict.update(ranking=list(row["ranking"]), verified="accepted",
                               scores={rid: row["scores"][rid] for rid in row["ranking"]})
            else:
                merged = consensus(keeping)
                verdict.update(ranking=merged.ranking, scores=merged.scores, verified="corrected")
        out.append(verdict)
    return out
