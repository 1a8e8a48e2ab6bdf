"""What a result file supports: accuracies with intervals and per-question paired tests.

The unit of every test is the test question: its accuracy under a model and decoding is the share
of its samples that are right (0 or 1 greedy), a trained arm's is the mean over its seeds, and a
comparison is the per-question difference, read with ``rewardmine.statistics.paired_effect``
(t-interval, Wilcoxon signed-rank test) and Holm's adjustment over every comparison the page
reads at once. The intervals are over questions for these trained weights: three seeds are
reported one by one, not modelled as a sample of training runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardmine.statistics import effect_verdict, holm, paired_effect


def rates(block: dict[str, Any]) -> np.ndarray:
    """Per question, the share of its samples that are right."""
    return np.asarray(block["correct"], dtype=np.float64).mean(axis=1)


def arms(result: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for run in result["runs"]:
        if run["arm"] not in seen:
            seen.append(run["arm"])
    return seen


def after_rates(result: dict[str, Any], arm: str, mode: str) -> np.ndarray:
    """Per test question, the arm's accuracy averaged over its seeds."""
    runs = [r for r in result["runs"] if r["arm"] == arm]
    return np.mean([rates(r["after"]["test"][mode]) for r in runs], axis=0)


def best_decoding(result: dict[str, Any]) -> str:
    """The untrained model's most accurate decoding on the validation questions (the first of
    the modes' order on a tie): what a user would pick without training."""
    blocks = result["before"]["validation"]
    return max(blocks, key=lambda mode: rates(blocks[mode]).mean())


def training_mode(result: dict[str, Any]) -> str:
    return f"T={result['config']['train_temperature']:g}"


def interval(values: np.ndarray) -> dict[str, Any]:
    """A mean over questions with its 95% t-interval."""
    effect = paired_effect(values)
    return {"mean": effect["mean"], "interval": effect["interval"], "n": effect["n"]}


def accuracies(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows: the untrained model, each arm (mean of seeds) and each arm's seeds; per decoding
    the accuracy on the test questions, the mean reply length and the share of replies that
    ended before the token limit."""
    modes = list(result["before"]["test"])
    sources: list[tuple[str, list[dict[str, Any]]]] = [("before", [result["before"]["test"]])]
    for arm in arms(result):
        runs = [r for r in result["runs"] if r["arm"] == arm]
        sources.append((f"{arm}, mean of seeds {', '.join(str(r['seed']) for r in runs)}",
                        [r["after"]["test"] for r in runs]))
        sources += [(f"{arm}, seed {r['seed']}", [r["after"]["test"]]) for r in runs]
    rows = []
    for name, blocks in sources:
        cells = {}
        for mode in modes:
            per_question = np.mean([rates(b[mode]) for b in blocks], axis=0)
            cells[mode] = {**interval(per_question),
                           "tokens": float(np.mean([np.mean(b[mode]["tokens"]) for b in blocks])),
                           "ended": float(np.mean([np.mean(b[mode]["ended"]) for b in blocks]))}
        rows.append({"name": name, "cells": cells})
    return rows


def comparisons(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every comparison the page reads, Holm-adjusted together: each arm against the untrained
    model at the same decoding; the two arms against each other at each decoding; each arm at
    the training temperature against the untrained model at its best decoding on validation."""
    modes = list(result["before"]["test"])
    before = {mode: rates(result["before"]["test"][mode]) for mode in modes}
    found = arms(result)
    wanted: list[tuple[str, str, np.ndarray, tuple[str, str]]] = []
    for arm in found:
        for mode in modes:
            wanted.append((f"{arm} - before", mode, after_rates(result, arm, mode) - before[mode],
                           ("trained higher", "untrained higher")))
    if len(found) == 2:
        first, second = found
        for mode in modes:
            wanted.append((f"{first} - {second}", mode,
                           after_rates(result, first, mode) - after_rates(result, second, mode),
                           (f"{first} higher", f"{second} higher")))
    best, trained = best_decoding(result), training_mode(result)
    if trained in modes:
        for arm in found:
            wanted.append((f"{arm} at {trained} - before at {best} (best on validation)",
                           f"{trained} vs {best}",
                           after_rates(result, arm, trained) - before[best],
                           ("trained higher", "untrained higher")))
    effects = [paired_effect(d) for *_, d, _ in wanted]
    adjusted = holm([e["p_wilcoxon"] for e in effects])
    return [{"comparison": name, "decoding": mode, **effect, "p_holm": p,
             "verdict": effect_verdict(effect, p, names=names)}
            for (name, mode, _, names), effect, p in zip(wanted, effects, adjusted, strict=True)]


def per_seed(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each seed against the untrained model at each decoding (interval and p, no verdict: the
    page's verdicts are the Holm family of :func:`comparisons`)."""
    out = []
    for run in result["runs"]:
        for mode, block in run["after"]["test"].items():
            effect = paired_effect(rates(block) - rates(result["before"]["test"][mode]))
            out.append({"arm": run["arm"], "seed": run["seed"], "decoding": mode,
                        "mean": effect["mean"], "interval": effect["interval"],
                        "p_wilcoxon": effect["p_wilcoxon"]})
    return out
