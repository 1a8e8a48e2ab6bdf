"""Lists of responses with ground-truth scores, from any source, split by principle.

A list is one principle, one prompt, its responses and their true scores (higher is better).
Sources: a JSONL or JSON file whose rows hold ``principle``, ``prompt``, ``responses`` (a dict of
ids to texts, or a list) and ``scores`` (aligned the same way), which is what
``rewardmine build-bench`` writes (``benchmark.jsonl``); or a principle-list benchmark
(``principles-rm-bench``, ``principles-dsp``), whose lists have ground truth by construction.

The split is by **principle, never by row**: a held-out principle's lists are all held out, so
an evaluation on them measures following a principle the judge was not trained on.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from rewardmine.bench.data import read_json_records
from rewardmine.io import write_parquet
from rewardmine.judge.parse import RANKING_KEY
from rewardmine.judge.prompt import normalize_responses
from rewardmine.judge.training import training_example

BENCHMARKS = ("principles-rm-bench", "principles-dsp")


@dataclass(frozen=True)
class JudgeList:
    """One training or evaluation list: ``truth`` maps every response id to its true score."""

    id: str
    principle: str
    principle_text: str
    prompt: Any
    responses: Mapping[str, str]
    truth: Mapping[str, float]

    def to_row(self) -> dict[str, Any]:
        """The list as a ``principles-build-bench`` row, so ``rewardmine bench`` evaluates it."""
        ranking = sorted(self.responses, key=lambda rid: -self.truth[rid])
        return {"id": self.id, "principle": self.principle_text, "dimension": self.principle,
                "domain": "-", "prompt": self.prompt, "responses": dict(self.responses),
                "ranking": ranking, "scores": dict(self.truth)}


def _from_row(row: Mapping[str, Any], where: str, number: int) -> JudgeList:
    missing = [k for k in ("principle", "prompt", "responses", "scores") if k not in row]
    if missing:
        raise ValueError(f"{where}: the row lacks {missing}; a list needs principle, prompt, "
                         "responses and scores")
    responses = normalize_responses(row["responses"])
    scores = row["scores"]
    if isinstance(scores, list):
        if len(scores) != len(responses):
            raise ValueError(f"{where}: {len(scores)} scores for {len(responses)} responses")
        scores = dict(zip(responses, scores, strict=True))
    if not isinstance(scores, Mapping) or set(scores) != set(responses):
        raise ValueError(f"{where}: 'scores' must give every response id one number")
    truth = {rid: float(scores[rid]) for rid in responses}
    if len(responses) < 2 or len(set(truth.values())) < 2:
        raise ValueError(f"{where}: a list needs two or more responses with different scores")
    name = str(row.get("dimension") or row["principle"])
    return JudgeList(str(row.get("id", number)), name, str(row["principle"]), row["prompt"],
                     dict(responses), truth)


def load_lists(source: str | Path, *, data: str | Path | None = None) -> list[JudgeList]:
    """The lists of a file, or of a principle-list benchmark (``data``: its data folder, by
    default the shared copy)."""
    if str(source) in BENCHMARKS:
        from rewardmine.bench.registry import make_benchmark

        bench = make_benchmark(str(source))
        lists = []
        for item in bench.load(data):
            name = item.stratum
            ids = [str(k) for k in range(len(item.extra["responses"]))]
            lists.append(JudgeList(
                item.id, name, bench.principles[name], item.extra["prompt"],
                dict(zip(ids, item.extra["responses"], strict=True)),
                dict(zip(ids, map(float, bench.grades(name)), strict=True))))
        return lists
    rows = read_json_records(source)
    lists = [_from_row(row, f"{source} row {n}", n) for n, row in enumerate(rows, start=1)]
    if not lists:
        raise ValueError(f"{source} holds no lists")
    if len({x.id for x in lists}) != len(lists):
        raise ValueError(f"{source}: a list id appears twice")
    return lists


def split_by_principle(lists: Sequence[JudgeList], *, held_out: Sequence[str] | float = 0.25,
                       seed: int = 0) -> tuple[list[JudgeList], list[JudgeList], list[str]]:
    """(train lists, held-out lists, held-out principles). ``held_out`` names the principles, or
    is the share of them to hold out (at least one, and at least one left to train on), drawn
    with ``seed``."""
    principles = sorted({x.principle for x in lists})
    if len(principles) < 2:
        raise ValueError(f"the lists hold {len(principles)} principle(s); a split by principle "
                         "needs two or more")
    if isinstance(held_out, (int, float)) and not isinstance(held_out, bool):
        if not 0 < held_out < 1:
            raise ValueError(f"held_out must be a share in (0, 1) or principle names, "
                             f"got {held_out}")
        count = min(len(principles) - 1, max(1, math.ceil(held_out * len(principles))))
        chosen = sorted(random.Random(seed).sample(principles, count))
    else:
        chosen = sorted(set(held_out))
        unknown = sorted(set(chosen) - set(principles))
        if unknown or not chosen or len(chosen) == len(principles):
            raise ValueError(f"held-out principles must be some, not all, of {principles}; "
                             f"got {list(held_out)}")
    train = [x for x in lists if x.principle not in chosen]
    test = [x for x in lists if x.principle in chosen]
    return train, test, chosen


TrainingMode = Literal["listwise", "pairwise"]
TRAINING_MODES: tuple[TrainingMode, ...] = ("listwise", "pairwise")
"""The judge's modes (:data:`rewardmine.judge.modes.MODES`) a judge can be trained for here: a
pointwise verdict sees one response, so it has no order to be right or wrong about."""


def pairs_of(lists: Sequence[JudgeList]) -> list[JudgeList]:
    """Every pair of responses of every list whose true scores differ, as a two-response list
    (id ``LIST/A-B``): what a judge trained for the pairwise mode sees. A pair the truth ties is
    left out: it has no order to learn, only a format to write."""
    out = []
    for x in lists:
        for a, b in combinations(x.responses, 2):
            if x.truth[a] != x.truth[b]:
                out.append(JudgeList(f"{x.id}/{a}-{b}", x.principle, x.principle_text, x.prompt,
                                     {a: x.responses[a], b: x.responses[b]},
                                     {a: x.truth[a], b: x.truth[b]}))
    return out


def grpo_rows(lists: Sequence[JudgeList], *, seed: int = 0, scale: tuple[int, int] = (1, 5),
              mode: TrainingMode = "listwise") -> list[dict[str, Any]]:
    """One TRL GRPO row per list (``mode="listwise"``) or per pair of its responses the truth
    orders (``"pairwise"``, :func:`pairs_of`): the judge's chat prompt as
    :class:`~rewardmine.PrincipleJudge` renders it, with the responses under masked ids shown in
    an order drawn per row (from the seed and the row's id, so no id or position can be
    learned), ``ids`` and the aligned ``truth_scores``, and the list's ``principle`` name."""
    if mode not in TRAINING_MODES:
        raise ValueError(f"mode must be one of {TRAINING_MODES}, not {mode!r}")
    rows = []
    for x in pairs_of(lists) if mode == "pairwise" else lists:
        rng = random.Random(json.dumps([seed, x.id]))
        row = training_example(x.principle_text, x.prompt, dict(x.responses), dict(x.truth),
                               rng=rng, scale=scale)
        rows.append({**row, "principle": x.principle})
    return rows


def format_rows(rows: Sequence[Mapping[str, Any]], *, seed: int = 0,
                scale: tuple[int, int] = (1, 5)) -> list[dict[str, Any]]:
    """Supervised rows for a warm start that teaches the verdict's form and nothing of the
    truth: each GRPO row's prompt with, as the assistant's answer, a valid verdict (every shown
    id scored once with an integer on the scale, ranked once, in an order that agrees with the
    scores) whose scores are drawn at random from ``seed``, the row's position and its ids,
    never from its ``truth_scores``. A model warm-started on them writes valid verdicts at
    chance accuracy, so what it gains on held-out principles afterwards comes from the GRPO
    reward."""
    low, high = scale
    out = []
    for number, row in enumerate(rows):
        ids = list(row["ids"])
        rng = random.Random(json.dumps([seed, number, ids]))
        scores = {i: rng.randint(low, high) for i in ids}
        ranking = sorted(ids, key=lambda i: (-scores[i], rng.random()))
        answer = json.dumps({"scores": scores, RANKING_KEY: ranking})
        out.append({"prompt": list(row["prompt"]),
                    "completion": [{"role": "assistant", "content": answer}]})
    return out


def write_lists(lists: Sequence[JudgeList], path: Path) -> None:
    """The lists as a ``principles-build-bench`` JSONL file."""
    path.write_text("".join(json.dumps(x.to_row(), ensure_ascii=False) + "\n" for x in lists),
                    encoding="utf-8")


def write_verl(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """GRPO rows (:func:`grpo_rows`) as a verl dataset (parquet): the judge's chat ``prompt``,
    ``reward_model.ground_truth`` holding the masked ids and their true scores as JSON (what
    :func:`rewardmine.rl.verl.judge_training_score` reads), and the principle in ``extra_info``."""
    records = [{"data_source": "rewardmine-judge", "prompt": list(row["prompt"]),
                "ability": "judge",
                "reward_model": {"style": "rule", "ground_truth": json.dumps(
                    {"ids": list(row["ids"]), "truth_scores": list(row["truth_scores"])})},
                "extra_info": {"principle": row["principle"], "index": k}}
               for k, row in enumerate(rows)]
    write_parquet(records, path)
