"""``rewardkit bench NAME`` (run a benchmark) and ``rewardkit bench compare RUN_A RUN_B``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardkit.bench.base import Benchmark

ENDOGENOUS_FLAGS = ("dtype", "device", "alpha", "terminal", "aggregate")


def _benchmarks() -> dict[str, Callable[[argparse.Namespace | None], Benchmark]]:
    from rewardkit.bench.dsp import DSP
    from rewardkit.bench.hhrlhf import HHRLHF, SPLITS
    from rewardkit.bench.multifaceted import MultifacetedBench
    from rewardkit.bench.principle_file import PrincipleFile
    from rewardkit.bench.principles import PrincipleLists
    from rewardkit.bench.rewardbench import RewardBench
    from rewardkit.bench.rewardbench2 import RewardBench2
    from rewardkit.bench.rmbench import RMBench

    def texts(args: argparse.Namespace | None, flag: str) -> dict[str, str] | None:
        path = getattr(args, flag, None) if args is not None else None
        return json.loads(Path(path).read_text(encoding="utf-8")) if path else None

    return {
        "rm-bench": lambda args: RMBench(),
        "rewardbench": lambda args: RewardBench(),
        "rewardbench2": lambda args: RewardBench2(),
        "dsp": lambda args: DSP(systems=texts(args, "system_prompts")),
        "hh-rlhf": lambda args: HHRLHF(splits=getattr(args, "splits", None) or SPLITS),
        "multifaceted": lambda args: MultifacetedBench(),
        "principles-rm-bench": lambda args: PrincipleLists(
            source="rm-bench", principles=texts(args, "principles")),
        "principles-dsp": lambda args: PrincipleLists(
            source="dsp", principles=texts(args, "principles")),
        "principles-build-bench": lambda args: PrincipleFile(),
    }


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(commands: Any) -> None:
    bench = commands.add_parser(
        "bench", help="run a reward benchmark with its official arithmetic",
        description="Score a benchmark with a model (--model, --method) or read precomputed "
        "scores (--scores), and write items.jsonl (resumable), summary.json, report.md and plots "
        "into --out.")
    names = bench.add_subparsers(dest="bench_name", required=True, metavar="NAME")
    for name in _benchmarks():
        sub = names.add_parser(name, help=f"run {name}")
        source = sub.add_mutually_exclusive_group(required=True)
        source.add_argument("--model", help="Hugging Face id or local path of the model")
        source.add_argument("--scores", help="JSONL of precomputed per-item scores")
        sub.add_argument("--method", default="endogenous",
                         help="how the model scores (endogenous, or a registered method)")
        sub.add_argument("--data", default=None,
                         help="data path or Hugging Face id (default: ../shared/data)")
        sub.add_argument("--out", required=True, help="run folder")
        sub.add_argument("--seed", type=int, default=0, help="bootstrap seed")
        sub.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
        sub.add_argument("--limit", type=_positive, default=None,
                         help="score only the first N items")
        sub.add_argument("--option", action="append", type=_option, default=[],
                         metavar="KEY=VALUE", help="method option (repeatable)")
        sub.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"])
        sub.add_argument("--device")
        sub.add_argument("--alpha", type=float)
        sub.add_argument("--terminal", choices=["zero", "value"])
        sub.add_argument("--aggregate", choices=["sum", "mean"])
        sub.add_argument("--items-per-call", type=int, default=16)
        if name == "dsp":
            sub.add_argument("--system-prompts", help="JSON file: domain -> system prompt")
        if name in ("principles-rm-bench", "principles-dsp"):
            sub.add_argument("--principles", help="JSON file: principle name -> text")
        if name == "hh-rlhf":
            sub.add_argument("--splits", nargs="+", help="splits to score (default: all four)")
        sub.set_defaults(run=run)
    compare = names.add_parser("compare", help="paired difference of two runs")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--resamples", type=int, default=1000)
    compare.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare.set_defaults(run=run_compare)


def run(args: argparse.Namespace) -> int:
    from rewardkit.bench.report import show, write_report
    from rewardkit.bench.runner import run_benchmark
    from rewardkit.bench.scorers import make_scorer

    bench = _benchmarks()[args.bench_name](args)
    options = dict(args.option)
    for flag in ENDOGENOUS_FLAGS:
        if getattr(args, flag) is not None:
            options[flag] = getattr(args, flag)
    extra = {k: getattr(args, k) for k in ("system_prompts", "principles", "splits")
             if getattr(args, k, None)}
    meta = {"model": args.model, "method": args.method if args.model else None,
            "options": {**options, **extra}}
    scorer = make_scorer(args.method, args.model, options) if args.model else None
    summary = run_benchmark(bench, args.out, scorer=scorer, scores_file=args.scores,
                            source=args.data, seed=args.seed, resamples=args.resamples,
                            limit=args.limit, meta=meta, items_per_call=args.items_per_call)
    report = write_report(summary, args.out)
    shown = ", ".join(f"{k} {show(k, summary[k])}" for k in summary["intervals"])
    print(f"{bench.name}: {summary['items']} items; {shown} (% except tau-b)\nreport: {report}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from rewardkit.bench.report import render_comparison
    from rewardkit.bench.runner import RUN, compare_runs

    names = []
    for folder in (args.run_a, args.run_b):
        path = Path(folder) / RUN
        if not path.exists():
            raise FileNotFoundError(f"{folder} is not a run folder (no {RUN})")
        names.append(json.loads(path.read_text(encoding="utf-8"))["benchmark"])
    if names[0] != names[1]:
        raise ValueError(f"cannot compare a {names[0]} run with a {names[1]} run")
    bench = _benchmarks()[names[0]](None)
    result = compare_runs(bench, args.run_a, args.run_b, seed=args.seed,
                          resamples=args.resamples)
    print(json.dumps(result, indent=2) if args.json else render_comparison(result))
    return 0
