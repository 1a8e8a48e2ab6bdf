"""Run a benchmark: score its items resumably, then compute its figures with intervals.

A run lives in one folder: ``run.json`` (what was run: benchmark, model, method, options, seed),
``items.jsonl`` (one row per item, appended as items finish, so a rerun skips finished items),
``summary.json`` (headline figures at the top level as fractions, their 95% intervals under
``intervals``, each figure's tie rate and the tie rule), ``report.md`` and PNG plots (see
:mod:`rewardmine.bench.report`).

The kind of scorer (:func:`rewardmine.bench.metrics.scorer_kind`: a list judge is generative, a
scorer scalar) is decided here, once, recorded in ``run.json`` as ``scorer_kind``, and handed to
the benchmark's arithmetic, where :func:`rewardmine.bench.metrics.tie_credit` gives what a tie
earns under the benchmark's official rule.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rewardmine.bench.base import IDENTICAL, Benchmark, Candidate, Item, identical_pairs
from rewardmine.bench.baselines import BASELINES, BaselineScorer
from rewardmine.bench.metrics import (
    DEGENERATE_TIE_RATE,
    TIE_PREFIX,
    TIE_RULES,
    ScorerKind,
    scorer_kind,
    tie_credit,
    tie_rate_key,
)
from rewardmine.bench.stats import bootstrap, paired_bootstrap
from rewardmine.chat import prompt_key
from rewardmine.errors import JudgeOutputError
from rewardmine.grouping import group_indices
from rewardmine.io import JsonlAppender, chunks, completed_rows, read_jsonl, read_jsonl_lines
from rewardmine.progress import progress_bar
from rewardmine.protocols import ListJudge, Scorer, is_list_judge, is_scorer
from rewardmine.statistics import MIN_ITEMS_FOR_VERDICT

ITEMS = "items.jsonl"
RUN = "run.json"
SUMMARY = "summary.json"
LEADERBOARD = "leaderboard.json"
MODEL_TYPES = {"scalar": "Custom Classifier", "generative": "Generative"}
"""RewardBench's ``model_type`` for each kind of scorer."""


def environment() -> dict[str, Any]:
    """What ran a benchmark, for run.json: package versions, the rewardmine commit (when it runs
    from a git checkout), the Python, and the machine's CPU and GPU."""
    import platform
    import subprocess

    import torch
    import transformers

    from rewardmine import __version__
    from rewardmine.models import cpu_description

    commit = None
    package = Path(__file__).resolve().parents[1]
    try:  # only a checkout whose src/rewardmine is this package: not a repo an install sits in
        done = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=package,
                              capture_output=True, text=True, timeout=10)
        top, _, head = done.stdout.strip().partition("\n")
        if done.returncode == 0 and Path(top, "src", "rewardmine").resolve() == package:
            commit = head or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    gpus = ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [])
    return {"rewardmine": __version__, "commit": commit, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "cpu": cpu_description(), "gpus": gpus}


def _check_run_file(out: Path, meta: Mapping[str, Any]) -> None:
    """A folder holds one run: refuse to resume a run made with other settings. A folder whose
    run scored nothing (it failed before its first item) holds nothing to protect: a corrected
    rerun takes it over."""
    path = out / RUN
    if path.exists() and completed_rows(out / ITEMS):
        old = json.loads(path.read_text(encoding="utf-8"))
        keys = ("benchmark", "model", "method", "options", "source", "scores_file")
        changed = {k: (old.get(k), meta.get(k)) for k in keys if old.get(k) != meta.get(k)}
        if changed:
            raise ValueError(f"{out} holds a run with other settings {changed}; use a new --out "
                             "folder or delete this one")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(meta), indent=2) + "\n", encoding="utf-8")


class BlockEngine(Protocol):
    """Scores blocks elsewhere (Ray actors, each holding its own reward): ``work(reward, block)``
    for each block, the answers yielded in order. See :mod:`rewardmine.distributed.ray_data`."""

    def map_blocks(self, work: Callable[[Any, Any], Any], blocks: Sequence[Any],
                   labels: Sequence[str]) -> Iterator[Any]: ...


def score_items(bench: Benchmark, items: Sequence[Item],
                reward: Scorer | ListJudge | BlockEngine, path: str | Path, *,
                items_per_call: int = 16, progress: bool | None = None) -> list[dict[str, Any]]:
    """Score every item not already in ``path`` and append its row; return all rows.

    A scorer gets the candidates of ``items_per_call`` items grouped by system prompt (one
    ``score_many`` call per group), so a steered benchmark still batches across items. A list
    judge gets, per item, one request for the candidates that share a prompt and a system
    prompt (RM-Bench's six, RewardBench 2's four, DSP's five per steering domain), with the
    system prompt as the principle; the requests of ``items_per_call`` items go in one
    ``judge_many`` call. A :class:`BlockEngine` makes the same calls on the same blocks
    elsewhere, so its rows are the local ones.
    """
    engine = callable(getattr(reward, "map_blocks", None))
    if not (engine or is_scorer(reward) or is_list_judge(reward)):
        raise TypeError(f"a {type(reward).__name__} is neither a scorer (score_many) nor a list "
                        "judge (judge_many)")
    done = completed_rows(path)
    known = {item.id for item in items}
    stray = [row.get("id") for row in done if row.get("id") not in known]
    if stray:
        raise ValueError(f"{path} holds rows for items not in this benchmark ({stray[:3]}...); "
                         "use a new output folder")
    finished = {row["id"] for row in done}
    todo = [item for item in items if item.id not in finished]
    blocks = list(chunks(todo, items_per_call))
    work = [([item.id for item in block], [bench.candidates(item) for item in block])
            for block in blocks]
    if engine:
        answers = reward.map_blocks(  # type: ignore[union-attr]
            block_scores, work, [f"the block from item {ids[0]!r}" for ids, _ in work])
    else:
        answers = (block_scores(reward, block) for block in work)
    bar = progress_bar(len(todo), desc=bench.name, unit="item", enabled=progress)
    with JsonlAppender(path) as out, bar:
        for block, scores in zip(blocks, answers, strict=True):
            for item, item_scores in zip(block, scores, strict=True):
                row = bench.to_row(item, item_scores)
                row[IDENTICAL] = identical_pairs(bench.candidates(item))
                out.write(row)
                done.append(row)
            bar.update(len(block))
    return done


def block_scores(reward: Scorer | ListJudge,
                 block: tuple[list[str], list[list[Candidate]]]) -> list[list[float]]:
    """The scores of one block's candidates (item ids, candidates per item): one batched call
    of a scorer per system prompt, or one ``judge_many`` call of a list judge."""
    ids, per_item = block
    if is_scorer(reward):
        return _scored(per_item, reward)  # type: ignore[arg-type]
    return _judged(ids, per_item, reward)  # type: ignore[arg-type]


def _scored(per_item: list[list[Candidate]], scorer: Scorer) -> list[list[float]]:
    groups: dict[str | None, list[tuple[int, int]]] = defaultdict(list)
    for i, candidates in enumerate(per_item):
        for j, candidate in enumerate(candidates):
            groups[candidate.system].append((i, j))
    scores = [[0.0] * len(c) for c in per_item]
    for system, members in groups.items():
        got = scorer.score_many([per_item[i][j].prompt for i, j in members],
                                [per_item[i][j].response for i, j in members], system=system)
        if len(got) != len(members):
            raise ValueError(f"the scorer returned {len(got)} scores for {len(members)} "
                             "responses")
        for (i, j), value in zip(members, got, strict=True):
            scores[i][j] = float(value)
    return scores


def _judged(ids: Sequence[str], per_item: list[list[Candidate]],
            judge: ListJudge) -> list[list[float]]:
    requests: list[dict[str, Any]] = []
    owners: list[tuple[int, list[int]]] = []  # (item, candidate positions) of each request
    for i, candidates in enumerate(per_item):
        keys = [prompt_key(c.prompt, system=c.system) for c in candidates]
        for members in group_indices(keys):
            first = candidates[members[0]]
            request = {"prompt": first.prompt,
                       "responses": {str(j): candidates[j].response for j in members}}
            if first.system is not None:
                request["principle"] = first.system
            requests.append(request)
            owners.append((i, members))
    verdicts = judge.judge_many(requests)
    if len(verdicts) != len(requests):
        raise ValueError(f"the judge returned {len(verdicts)} verdicts for {len(requests)} "
                         "requests")
    scores = [[0.0] * len(c) for c in per_item]
    for (i, members), verdict in zip(owners, verdicts, strict=True):
        if not verdict.ok:
            raise JudgeOutputError(
                f"item {ids[i]}: the judge gave no valid verdict ({verdict.error}); rerun "
                "to resume, with more max_retries, a larger max_new_tokens or constrained=true")
        missing = [str(j) for j in members if str(j) not in verdict.scores]
        if missing:
            raise ValueError(f"item {ids[i]}: the judge's verdict has no score for "
                             f"candidates {missing}")
        for j in members:
            scores[i][j] = float(verdict.scores[str(j)])
    return scores


def run_kind(meta: Mapping[str, Any] | None) -> ScorerKind:
    """The kind of scorer a run recorded; a run from before kinds were recorded was scored as a
    scalar scorer."""
    return (meta or {}).get("scorer_kind") or "scalar"


def summarize(bench: Benchmark, rows: Sequence[Mapping[str, Any]], *, seed: int = 0,
              resamples: int = 1000, level: float = 0.95,
              meta: Mapping[str, Any] | None = None,
              items: Sequence[Item] | None = None) -> dict[str, Any]:
    """Figures, intervals and details of scored rows, as the summary JSON.

    The rows are scored under the benchmark's tie rule for the kind of scorer ``meta`` records
    (``scorer_kind``). Beside each headline figure goes its tie rate (``tie_rates``); a scorer
    that ties on 90% or more of the pairs is flagged ``degenerate``. Pairs of identical responses
    are scored like any other (they are ties for a scalar scorer) and counted:
    ``identical_pairs`` and their share of all pairs, ``identical_share``. With ``items`` (the
    benchmark's items, holding the texts), the model-free baselines of
    :mod:`rewardmine.bench.baselines` are scored on the same items (``baselines``).
    """
    kind = run_kind(meta)
    table = bench.table(rows, kind=kind)
    intervals = bootstrap(table.values, table.strata, bench.figures, resamples=resamples,
                          seed=seed, level=level)
    summary: dict[str, Any] = {"benchmark": bench.name}
    headline = [key for key in bench.headline if key in intervals]
    for key in headline:
        summary[key] = intervals[key].estimate
    summary["intervals"] = {key: intervals[key].to_list() for key in headline}
    summary["tie_rates"] = {key: intervals[tie_rate_key(key)].estimate for key in headline
                            if tie_rate_key(key) in intervals}
    details = bench.details(table)
    summary["tie_rate"] = _pooled_tie_rate(details, summary["tie_rates"], headline)
    summary["degenerate"] = bool(summary["tie_rate"] >= DEGENERATE_TIE_RATE)
    summary["identical_pairs"] = details.get("identical_pairs")
    summary["identical_share"] = (details["identical_pairs"] / details["pairs"]
                                  if details.get("pairs") and "identical_pairs" in details
                                  else None)
    summary["ties"] = {"rule": bench.ties, "scorer_kind": kind,
                       "credit": tie_credit(bench.ties, kind), "meaning": TIE_RULES[bench.ties],
                       "source": bench.ties_source}
    summary["figures"] = {key: {"value": iv.estimate, "low": iv.low, "high": iv.high}
                          for key, iv in intervals.items()}
    summary["items"] = len(table.ids)
    summary["bootstrap"] = {"resamples": resamples, "level": level, "seed": seed,
                            "strata": sorted({str(s) for s in table.strata})}
    summary["details"] = details
    if items is not None:
        summary["baselines"] = baselines(bench, items, {str(row["id"]) for row in rows})
    summary["references"] = [asdict(ref) for ref in bench.references]
    summary["run"] = dict(meta or {})
    return summary


def _pooled_tie_rate(details: Mapping[str, Any], rates: Mapping[str, float],
                     headline: Sequence[str]) -> float:
    """The share of all the run's pairs that tied (the details' counts), else the tie rate of
    the first headline figure."""
    if details.get("pairs"):
        return details["tied_pairs"] / details["pairs"]
    return rates.get(headline[0], float("nan")) if headline else float("nan")


def baselines(bench: Benchmark, items: Sequence[Item], ids: set[str]) -> dict[str, Any]:
    """The headline figures of each model-free baseline on the items in ``ids``, with the same
    arithmetic and the tie rule of a scalar scorer; no bootstrap (they are references)."""
    chosen = [item for item in items if item.id in ids]
    out: dict[str, Any] = {}
    for name in BASELINES:
        scorer = BaselineScorer(name)
        rows = []
        for item, scores in zip(chosen, _scored([bench.candidates(i) for i in chosen], scorer),
                                strict=True):
            row = bench.to_row(item, scores)
            row[IDENTICAL] = identical_pairs(bench.candidates(item))
            rows.append(row)
        table = bench.table(rows, kind="scalar")
        figures = bench.figures(table.values, table.strata)
        out[name] = {key: figures[key] for key in bench.headline if key in figures}
    return out


def run_benchmark(bench: Benchmark, out: str | Path, *,
                  reward: Scorer | ListJudge | BlockEngine | None = None,
                  scores_file: str | Path | None = None, source: str | Path | None = None,
                  seed: int = 0, resamples: int = 1000, limit: int | None = None,
                  meta: Mapping[str, Any] | None = None, items_per_call: int = 16,
                  progress: bool | None = None,
                  items: Sequence[Item] | None = None,
                  kind: ScorerKind | None = None) -> dict[str, Any]:
    """Score (or read scores), summarize, and write ``summary.json`` in ``out``.

    Args:
        bench: the benchmark.
        out: the run folder.
        reward: a scorer or a list judge that scores the items, or a :class:`BlockEngine` that
            scores them on Ray; give this or ``scores_file``.
        scores_file: JSONL rows in the benchmark's row format (the ``items.jsonl`` of a run).
        source: where the data is (path or hub id); None uses the shared copy.
        seed: seeds the bootstrap.
        resamples: bootstrap draws.
        limit: score only the first ``limit`` items (a smoke test; recorded in run.json).
        meta: model, method and options, recorded in run.json and the summary.
        items: the benchmark's items, already loaded from ``source`` (a command reads its data
            before it loads a model, so a bad path costs no model load); None loads them here.
        kind: "scalar" or "generative", which decides the tie rule where a benchmark's depends
            on it; None takes it from ``reward`` (a list judge is generative), and a scores file
            or a :class:`BlockEngine` without it is refused where the benchmark needs it.
    """
    if (reward is None) == (scores_file is None):
        raise ValueError("give exactly one of a reward (scorer or list judge) or a scores file")
    if kind is None:
        if reward is not None and not callable(getattr(reward, "map_blocks", None)):
            kind = scorer_kind(reward)
        elif bench.ties == "by-kind":
            raise ValueError(f"{bench.name} scores a tie by the kind of scorer (0 for a scalar "
                             "scorer, 0.5 for a generative judge); say which one made these "
                             "scores (--scorer-kind scalar or generative)")
        else:
            kind = "scalar"  # the benchmark's tie rule does not depend on it
    out = Path(out)
    record = {"benchmark": bench.name, **dict(meta or {}), "scorer_kind": kind,
              "seed": seed, "resamples": resamples,
              "source": None if source is None else str(source),
              "scores_file": None if scores_file is None else str(scores_file), "limit": limit,
              "environment": environment()}
    _check_run_file(out, record)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if scores_file is not None:
        checked = _score_rows(bench, scores_file, source)
        record["ids_checked"] = checked is not None
        rows, items = checked if checked is not None else (read_jsonl(scores_file), None)
        (out / ITEMS).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n"
                                         for row in rows), encoding="utf-8")
    else:
        items = list(bench.load(source) if items is None else items)
        if limit is not None:
            _check_limit(items, limit, out / ITEMS)
            record["limited_strata"] = _limited_strata(items, limit)
            items = items[:limit]
        started = time.perf_counter()
        rows = score_items(bench, items, reward, out / ITEMS, items_per_call=items_per_call,
                           progress=progress)
        record["scoring_seconds_this_session"] = round(time.perf_counter() - started, 3)
    summary = summarize(bench, rows, seed=seed, resamples=resamples, meta=record, items=items)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_leaderboard(bench, summary, out)
    return summary


def write_leaderboard(bench: Benchmark, summary: Mapping[str, Any], out: Path) -> Path | None:
    """For a benchmark with a public leaderboard (RewardBench, RewardBench 2), the result file
    its submissions use: ``model``, ``model_type``, ``chat_template`` and one figure per subset
    under the subset's own name, as fractions. What ran (method, options, data source, seed)
    stays in ``run.json`` beside it. None for other benchmarks."""
    leaderboard = getattr(bench, "leaderboard", None)
    if leaderboard is None:
        return None
    run = summary.get("run", {})
    model = run.get("model")
    record = {"model": model if isinstance(model, str) else "+".join(model or ["scores-file"]),
              "model_type": MODEL_TYPES[run.get("scorer_kind") or "scalar"],
              "chat_template": "tokenizer",
              **leaderboard({k: f["value"] for k, f in summary["figures"].items()})}
    path = out / LEADERBOARD
    path.write_text(json.dumps(record, indent=4, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _limited_strata(items: Sequence[Item], limit: int) -> dict[str, list[int]]:
    """How many items of each stratum ``--limit`` keeps, of how many; said on stderr when a
    stratum is left out entirely (the first N items of HH-RLHF are all of one split)."""
    import sys

    kept = {s: [0, 0] for s in dict.fromkeys(item.stratum for item in items)}
    for position, item in enumerate(items):
        kept[item.stratum][1] += 1
        kept[item.stratum][0] += position < limit
    left_out = [s for s, (k, _) in kept.items() if k == 0]
    if left_out and len(kept) > 1:
        shown = ", ".join(f"{s or 'all'} {k} of {n}" for s, (k, n) in kept.items())
        print(f"--limit {limit} keeps the first {limit} items, so these strata are left out "
              f"entirely: {', '.join(left_out)} ({shown})", file=sys.stderr)
    return kept


def _check_limit(items: Sequence[Item], limit: int, path: Path) -> None:
    """A rerun with a smaller limit than the rows already scored is refused for what it is."""
    chosen = {item.id for item in items[:limit]}
    known = {item.id for item in items}
    beyond = [row.get("id") for row in completed_rows(path)
              if row.get("id") in known and row.get("id") not in chosen]
    if beyond:
        raise ValueError(
            f"{path} already holds {len(beyond)} items beyond the first {limit} (such as "
            f"{beyond[0]!r}); rerun with the earlier --limit or none, or use a new --out folder")


def _score_rows(bench: Benchmark, scores_file: str | Path, source: str | Path | None
                ) -> tuple[list[dict[str, Any]], list[Item]] | None:
    """The rows of a scores file, each checked against the benchmark (an id it has, given once,
    with valid scores) and given the identical pairs of its item's data; and the items. None
    when the benchmark's data is not here to check the ids against."""
    try:
        items = bench.load(source)
    except (FileNotFoundError, ValueError):  # no default data here (or none exists)
        if source is not None:
            raise
        return None
    known = {item.id: item for item in items}
    seen: dict[str, int] = {}
    rows = []
    for number, row in read_jsonl_lines(scores_file):
        where = f"{scores_file}:{number}"
        if "id" not in row:
            raise ValueError(f"{where}: the row has no 'id'; every row names the item it scores")
        item_id = str(row["id"])
        if item_id not in known:
            raise ValueError(f"{where}: {item_id!r} is not an item of {bench.name}; is this a "
                             f"scores file of another benchmark or data version?")
        if item_id in seen:
            raise ValueError(f"{where}: item {item_id!r} was already scored on line "
                             f"{seen[item_id]}; give each item once")
        seen[item_id] = number
        row[IDENTICAL] = identical_pairs(bench.candidates(known[item_id]))
        try:
            bench.table([row])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        rows.append(row)
    return rows, items


def compare_runs(bench: Benchmark, run_a: str | Path, run_b: str | Path, *, seed: int = 0,
                 resamples: int = 1000, permutations: int = 2000,
                 alpha: float = 0.05) -> dict[str, Any]:
    """Paired difference A - B of every figure, over the items both runs scored.

    Each headline figure gets its paired bootstrap interval, the p-value of an exact paired
    permutation test (:func:`rewardmine.statistics.paired_permutation_pvalue`; exact up to
    2^n <= ``permutations``), Holm's adjustment over the headline figures read together, and a
    verdict only where the figure rests on at least
    :data:`~rewardmine.statistics.MIN_ITEMS_FOR_VERDICT` items (:func:`figure_items`).
    """
    from rewardmine.statistics import holm, paired_permutation_pvalue, verdict

    rows_a, rows_b = read_jsonl(Path(run_a) / ITEMS), read_jsonl(Path(run_b) / ITEMS)
    kinds = [run_kind(_run_meta(run)) for run in (run_a, run_b)]
    table_a, table_b = bench.table(rows_a, kind=kinds[0]), bench.table(rows_b, kind=kinds[1])
    shared = [item_id for item_id in table_a.ids if item_id in set(table_b.ids)]
    if not shared:
        raise ValueError(f"{run_a} and {run_b} share no items; compare runs of one benchmark")
    a, b = table_a.select(shared), table_b.select(shared)
    if not np.array_equal(a.strata, b.strata):
        raise ValueError("the runs put the same items in different strata; they are not runs "
                         "of the same benchmark data")
    diffs = paired_bootstrap(a.values, b.values, a.strata, bench.figures, resamples=resamples,
                             seed=seed)
    headline = [key for key in diffs if not key.startswith(TIE_PREFIX)]
    items = figure_items(bench, a.values, a.strata, headline)

    def pvalue(key: str) -> float:
        if not np.isfinite(diffs[key].difference.estimate):
            return float("nan")
        return paired_permutation_pvalue(
            a.values, b.values, lambda v: bench.figures(v, a.strata)[key],
            resamples=permutations, seed=seed)

    p = {key: pvalue(key) for key in headline}
    adjusted = dict(zip(headline, holm([p[key] for key in headline]), strict=True))
    figures = {}
    for key, d in diffs.items():
        figures[key] = {"a": d.a, "b": d.b, "difference": d.difference.estimate,
                        "low": d.difference.low, "high": d.difference.high}
        if key in p:
            figures[key].update(
                items=items[key], p=p[key], p_holm=adjusted[key],
                verdict=verdict(d.difference.estimate, d.difference.low, d.difference.high,
                                adjusted[key], items[key], alpha=alpha))
    return {"benchmark": bench.name, "run_a": str(run_a), "run_b": str(run_b),
            "scorer_kinds": kinds, "ties": bench.ties,
            "items_shared": len(shared), "only_in_a": len(table_a.ids) - len(shared),
            "only_in_b": len(table_b.ids) - len(shared), "seed": seed, "resamples": resamples,
            "permutations": permutations, "alpha": alpha,
            "min_items_for_verdict": MIN_ITEMS_FOR_VERDICT, "figures": figures}


def figure_items(bench: Benchmark, values: np.ndarray, strata: np.ndarray,
                 keys: Sequence[str]) -> dict[str, int]:
    """How many items each figure rests on: the items whose outcomes move it. Each item's finite
    outcomes are set all to 0, then all to 1; a figure that differs between the two rests on
    the item. An item a benchmark leaves out of a figure (another domain's item, a pair with no
    reply) does not move it and does not count. A figure that is NaN already rests on 0."""
    values = np.array(values, dtype=np.float64)
    base = bench.figures(values, strata)
    counts = {key: 0 for key in keys if np.isfinite(base[key])}
    for i in range(values.shape[0]):
        kept = values[i].copy()
        finite = np.isfinite(kept)
        moved = []
        for fill in (0.0, 1.0):
            values[i, finite] = fill
            with np.errstate(invalid="ignore", divide="ignore"):
                moved.append(bench.figures(values, strata))
        values[i] = kept
        for key in counts:
            low, high = moved[0][key], moved[1][key]
            counts[key] += bool(low != high and not (np.isnan(low) and np.isnan(high)))
    return {key: counts.get(key, 0) for key in keys}


def _run_meta(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RUN
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
