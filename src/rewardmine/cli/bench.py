"""``rewardmine bench NAME`` (run a benchmark) and ``rewardmine bench compare RUN_A RUN_B``.

The benchmarks and methods are created by name in :mod:`rewardmine.bench.registry`.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

from rewardmine.bench.registry import BENCHMARKS, make_benchmark
from rewardmine.cli.flags import add_load_flags, key_value, load_settings
from rewardmine.errors import UsageError

ENDOGENOUS_FLAGS = ("alpha", "terminal", "aggregate")
BENCH_SETTINGS = ("system_prompts", "principles", "splits", "columns", "split")


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
    for name in BENCHMARKS:
        sub = names.add_parser(name, help=f"run {name}")
        source = sub.add_mutually_exclusive_group(required=True)
        source.add_argument("--model", action="append", metavar="SPEC",
                            help="the reward's spec (docs/specs.md): for the "
                            "endogenous method a model id or path (endogenous:PATH) or "
                            "logprobs:MODEL@BASE_URL (a vLLM/SGLang server's log-probabilities: "
                            "the reward minus V(s_1), the same figures); for the judge methods "
                            "principle:PATH (or a bare path), openai:MODEL@URL, ..., repeatable "
                            "for a panel")
        source.add_argument("--scores", help="JSONL of precomputed per-item scores")
        sub.add_argument("--method", default="endogenous",
                         help="endogenous, classifier, verifier, judge, judge-pointwise, "
                         "judge-pairwise, length-short, length-long, position-first, a "
                         "registered method or MODULE:FUNCTION")
        sub.add_argument("--scorer-kind", choices=["scalar", "generative"], default=None,
                         help="scalar scorer or generative judge, for the tie rule of "
                         "rewardbench and hh-rlhf (default: from the method; --scores needs it "
                         "there)")
        sub.add_argument("--data", default=None,
                         help="data path or Hugging Face id (default: $REWARDMINE_DATA/NAME, "
                         "else ../shared/data/NAME from the working directory)")
        sub.add_argument("--out", required=True, help="run folder")
        sub.add_argument("--seed", type=int, default=0, help="bootstrap seed")
        sub.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
        sub.add_argument("--limit", type=_positive, default=None,
                         help="score only the first N items")
        sub.add_argument("--option", action="append", type=key_value, default=[],
                         metavar="KEY=VALUE", help="method option, VALUE read as JSON when it "
                         "parses (max_new_tokens=512, thinking=false), else as text (repeatable)")
        add_load_flags(sub)
        sub.add_argument("--alpha", type=float)
        sub.add_argument("--terminal", choices=["zero", "value"])
        sub.add_argument("--aggregate", choices=["sum", "mean"])
        sub.add_argument("--items-per-call", type=int, default=16)
        sub.add_argument("--engine", default="local", choices=["local", "ray"],
                         help="ray: score on Ray Data, one model per actor (joins RAY_ADDRESS)")
        sub.add_argument("--workers", type=_positive, default=1,
                         help="Ray actors, one model each")
        sub.add_argument("--gpus-per-worker", type=float, default=0.0)
        if name == "dsp":
            sub.add_argument("--system-prompts", help="JSON file: domain -> system prompt")
        if name in ("principles-rm-bench", "principles-dsp"):
            sub.add_argument("--principles", help="JSON file: principle name -> text")
        if name == "hh-rlhf":
            sub.add_argument("--splits", nargs="+", help="splits to score (default: all four)")
        if name == "preferences":
            sub.add_argument("--columns", nargs="+", type=key_value, metavar="ROLE=COLUMN",
                             help="which of the file's columns is which: prompt, chosen, "
                             "rejected, responses, ranks (1 is best), scores, id, stratum "
                             "(e.g. chosen=better rejected=worse)")
            sub.add_argument("--split", help="a hub dataset's split (default: test)")
        sub.set_defaults(run=run)
    compare = names.add_parser("compare", help="paired difference of two runs")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    compare.add_argument("--permutations", type=int, default=2000,
                         help="draws of the paired permutation test (exact when 2^n is fewer)")
    compare.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare.set_defaults(run=run_compare)


def run(args: argparse.Namespace) -> int:
    from rewardmine.bench.report import show, steering_lines, tie_line, write_report
    from rewardmine.bench.runner import run_benchmark

    extra = {k: getattr(args, k) for k in BENCH_SETTINGS if getattr(args, k, None)}
    if "columns" in extra:  # ROLE=COLUMN pairs; a column is named by text
        extra["columns"] = {role: str(column) for role, column in extra["columns"]}
    bench = make_benchmark(args.bench_name, extra)
    options = {**load_settings(args), **dict(args.option)}
    for flag in ENDOGENOUS_FLAGS:
        if getattr(args, flag) is not None:
            options[flag] = getattr(args, flag)
    if args.model:  # local paths made absolute: they mean the same on a Ray worker
        args.model = [_resolve(args.method, m) for m in args.model]
    model = None if not args.model else args.model[0] if len(args.model) == 1 else args.model
    meta = {"model": model, "method": args.method if model else None,
            "options": {**options, **extra}}
    if args.scores and args.engine != "local":
        raise UsageError("--scores reads precomputed scores: --engine ray needs --model")
    # the data is read before a model of gigabytes loads, so a bad --data costs no model load
    items = bench.load(args.data) if model and not args.scores else None
    reward = _reward(args, model, options) if model else None
    from rewardmine.bench.registry import method_kind

    kind = args.scorer_kind or (method_kind(args.method) if model else None)
    summary = run_benchmark(bench, args.out, reward=reward, scores_file=args.scores,
                            source=args.data, items=items, seed=args.seed, kind=kind,
                            resamples=args.resamples,
                            limit=args.limit, meta=meta, items_per_call=args.items_per_call)
    report = write_report(summary, args.out)
    shown = ", ".join(f"{k} {show(k, summary[k])}" for k in summary["intervals"])
    print(f"{bench.name}: {summary['items']} items; {shown} (% except tau-b)")
    print(tie_line(summary))
    for line in steering_lines(summary, per_domain=False):
        print(line)
    print(f"report: {report}")
    return 0


def _resolve(method: str, model: str) -> str:
    """``model`` with a local path made absolute; a bare name is the kind the method reads."""
    from rewardmine.bench.registry import JUDGE_METHODS
    from rewardmine.models import resolve_source
    from rewardmine.specs import KINDS, resolve_spec

    if method in ("endogenous", "classifier"):
        return resolve_spec(model, default=method)
    if method in JUDGE_METHODS:
        return resolve_spec(model, default="principle")
    if model.partition(":")[0] in KINDS:
        raise UsageError(f"--model {model} is a reward spec, which the endogenous and judge "
                         f"methods read; --method {method} takes a model's id or path")
    return resolve_source(model) if ":" not in model else model


def _reward(args: argparse.Namespace, model: Any, options: dict[str, Any]) -> Any:
    """The scorer or judge (``--engine local``), or Ray actors that each build one."""
    from rewardmine.bench.registry import make_method

    factory = functools.partial(make_method, args.method, model, options)
    if args.engine == "local":
        return factory()
    if args.gpus_per_worker < 0:
        raise UsageError(f"--gpus-per-worker must be 0 or more, got {args.gpus_per_worker}")
    from rewardmine.distributed.ray_data import RayEngine

    return RayEngine(factory, workers=args.workers, gpus_per_worker=args.gpus_per_worker)


def run_compare(args: argparse.Namespace) -> int:
    from rewardmine.bench.report import render_comparison
    from rewardmine.bench.runner import RUN, compare_runs

    names = []
    for folder in (args.run_a, args.run_b):
        path = Path(folder) / RUN
        if not path.exists():
            raise FileNotFoundError(f"{folder} is not a run folder (no {RUN})")
        names.append(json.loads(path.read_text(encoding="utf-8"))["benchmark"])
    if names[0] != names[1]:
        raise ValueError(f"cannot compare a {names[0]} run with a {names[1]} run")
    bench = make_benchmark(names[0])
    result = compare_runs(bench, args.run_a, args.run_b, seed=args.seed,
                          resamples=args.resamples, permutations=args.permutations)
    print(json.dumps(result, indent=2) if args.json else render_comparison(result))
    return 0
