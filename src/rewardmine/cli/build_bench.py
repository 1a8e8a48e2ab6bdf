"""``rewardmine build-bench``: build a principle-following benchmark in resumable stages.

``build-bench run`` goes from principles and prompts to the verification page:
tasks.jsonl -> candidates.jsonl -> judgements.jsonl -> consensus.jsonl -> verify.html.
``build-bench finish`` imports the annotators' files and writes benchmark.jsonl (with
verification.json holding their agreement). Each stage skips the rows its file already holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rewardmine.cli.judge import add_judge_arguments, judge_settings
from rewardmine.io import JsonlAppender, completed_rows, read_jsonl


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "build-bench", help="build a principle-following ranking benchmark",
        description=__doc__,
    )
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    run_parser = stages.add_parser("run", help="principles x prompts -> verification page")
    run_parser.add_argument("--principles", required=True, help="JSONL: principle, dimension")
    run_parser.add_argument("--prompts", required=True, help="JSONL: prompt, domain")
    run_parser.add_argument("--out", required=True, help="the run's folder")
    run_parser.add_argument(
        "--generator", action="append", required=True,
        metavar="PATH|openai:MODEL@BASE_URL[:follow|none]",
        help="a local model or an OpenAI-compatible endpoint that answers; ':none' leaves the "
        "principle out (repeatable)")
    run_parser.add_argument("--k", type=int, required=True,
                            help="judges that must agree on a pair's order to keep it")
    run_parser.add_argument("--min-responses", type=int, default=3)
    run_parser.add_argument("--samples", type=int, default=1, help="answers per generator")
    run_parser.add_argument("--temperature", type=float, default=0.0)
    run_parser.add_argument("--max-new-tokens", type=int, default=512)
    run_parser.add_argument("--min-new-tokens", type=int, default=1)
    run_parser.add_argument("--seed", type=int, default=0)
    run_parser.add_argument("--device", default="auto")
    run_parser.add_argument("--concurrency", type=int, default=8,
                            help="requests in flight per OpenAI-compatible endpoint")
    # each --judge is one judge of the consensus (principle:PATH judges decode constrained)
    add_judge_arguments(run_parser, prefix="judge-")
    run_parser.set_defaults(run=run)
    finish = stages.add_parser("finish", help="annotators' files -> benchmark.jsonl")
    finish.add_argument("--out", required=True, help="the run's folder")
    finish.add_argument("--annotations", nargs="*", default=[],
                        help="two or more files saved from verify.html")
    finish.add_argument("--require", choices=["all", "majority"], default="all",
                        help="annotators who must keep a list")
    finish.add_argument("--unverified", action="store_true",
                        help="write every kept list without human verification")
    finish.set_defaults(run=run_finish)


def _write_all(path: Path, rows: list[dict[str, Any]]) -> None:
    done = completed_rows(path)
    if done and done != rows[:len(done)]:
        raise ValueError(f"{path} holds other rows than this run's; use a new --out folder")
    with JsonlAppender(path) as out:
        for row in rows[len(done):]:
            out.write(row)


def _generators(args: argparse.Namespace) -> list[Any]:
    from rewardmine.buildbench.generate import TransformersGenerator
    from rewardmine.buildbench.remote import OpenAIGenerator
    from rewardmine.buildbench.specs import api_key, parse_generator

    out: list[Any] = []
    for number, spec in enumerate(map(parse_generator, args.generator), start=1):
        options = dict(name=f"g{number}-{spec.label}", instruction=spec.instruction,
                       samples=args.samples, temperature=args.temperature,
                       max_new_tokens=args.max_new_tokens, seed=args.seed)
        if spec.kind == "openai":
            assert spec.base_url is not None
            out.append(OpenAIGenerator(spec.base_url, spec.target, api_key=api_key(),
                                       concurrency=args.concurrency, **options))
        else:
            out.append(TransformersGenerator.from_pretrained(
                spec.target, device=args.device, min_new_tokens=args.min_new_tokens, **options))
    return out


def _judges(args: argparse.Namespace) -> dict[str, Any]:
    from rewardmine.specs import check_settings, load_judge, parse_spec

    # a judge that cannot give a valid verdict after its retries leaves an "invalid" judgement,
    # which the consensus skips, rather than stopping the run; a local PrincipleJudge decodes
    # constrained, so even a small model gives a valid verdict
    defaults = dict(on_invalid="return", progress=False, seed=args.seed, device=args.device,
                    concurrency=args.concurrency, constrained=True)
    settings = judge_settings(args, prefix="judge-")
    specs = [parse_spec(spec, default="principle") for spec in args.judge]
    for spec in specs:  # refuse a bad option before loading any model
        check_settings(spec, settings)
    return {f"j{number}-{spec.label}": load_judge(spec, defaults=defaults, **settings)
            for number, spec in enumerate(specs, start=1)}


def run(args: argparse.Namespace) -> int:
    from rewardmine.buildbench.agree import consensus_stage
    from rewardmine.buildbench.generate import generate_stage
    from rewardmine.buildbench.judging import judge_stage
    from rewardmine.buildbench.tasks import make_tasks
    from rewardmine.buildbench.verify import write_page

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not 1 <= args.k <= len(args.judge):
        raise ValueError(f"--k {args.k} with {len(args.judge)} judges; k must be 1..judges")
    tasks = make_tasks(args.principles, args.prompts)
    _write_all(out / "tasks.jsonl", tasks)
    written = generate_stage(tasks, _generators(args), out / "candidates.jsonl", seed=args.seed)
    print(f"candidates: {written} new, {len(tasks)} lists")
    candidates = read_jsonl(out / "candidates.jsonl")
    written = judge_stage(candidates, _judges(args), out / "judgements.jsonl")
    print(f"judgements: {written} new")
    written = consensus_stage(candidates, read_jsonl(out / "judgements.jsonl"),
                              out / "consensus.jsonl", k=args.k, min_responses=args.min_responses)
    rows = read_jsonl(out / "consensus.jsonl")
    kept = sum(bool(row["keep"]) for row in rows)
    print(f"consensus: {kept} of {len(rows)} lists kept (see 'reason' in consensus.jsonl)")
    if kept:
        export = write_page(rows, out / "verify.html")
        print(f"verification page: {out / 'verify.html'} (export {export})")
    return 0


def run_finish(args: argparse.Namespace) -> int:
    from rewardmine.buildbench.final import benchmark_rows, write_benchmark
    from rewardmine.buildbench.verify import import_annotations

    out = Path(args.out)
    rows = read_jsonl(out / "consensus.jsonl")
    if args.unverified == bool(args.annotations):
        raise ValueError("give either --annotations (two or more files) or --unverified")
    verification = None
    if args.annotations:
        verification = import_annotations(rows, args.annotations)
        report = {**verification.agreement, "undecided": verification.undecided}
        (out / "verification.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
    bench = benchmark_rows(rows, verification, require=args.require)
    write_benchmark(out / "benchmark.jsonl", bench)
    print(f"benchmark: {len(bench)} lists -> {out / 'benchmark.jsonl'}")
    return 0
