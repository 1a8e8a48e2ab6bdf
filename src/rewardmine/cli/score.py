"""``rewardmine score``: endogenous rewards for a JSONL file, resumable.

Every row is checked (its fields, its text, its length in tokens against the model's context)
before the first one is scored, and errors name the input file's physical line.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any

from rewardmine.chat import check_fits
from rewardmine.cli.flags import add_load_flags, load_settings
from rewardmine.endogenous.rows import ADDED, row_responses, score_rows
from rewardmine.errors import ContextLengthError, UsageError
from rewardmine.io import (
    JsonlAppender,
    chunks,
    finish_parquet,
    is_parquet,
    partial_path,
    read_rows,
    reopen_parquet,
    resumable_output,
)
from rewardmine.progress import progress_bar


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "score", help="score responses in a JSONL file with a model's endogenous reward",
        description="Rows hold 'prompt' (a string or chat messages) and 'response' or "
        "'responses'. Output rows repeat the input and add 'score' or 'scores'. Rerunning with "
        "the same output skips the rows already there. Files are JSONL, or parquet when the "
        "name ends in .parquet (a parquet output collects its rows in NAME.partial.jsonl until "
        "the last one is in).",
    )
    parser.add_argument("--model", required=True, metavar="SPEC",
                        help="the reward: a Hugging Face id or local path (endogenous:PATH), or "
                        "logprobs:MODEL@BASE_URL, a vLLM/SGLang server's prompt "
                        "log-probabilities (the reward minus V(s_1), see docs/endogenous.md)")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--system", default=None, help="system prompt that steers the reward")
    parser.add_argument("--token-rewards", action="store_true",
                        help="also write per-token rewards (one response per row only)")
    add_load_flags(parser)
    parser.add_argument("--alpha", type=float, help="default: 1")
    parser.add_argument("--terminal", choices=["zero", "value"], help="default: zero")
    parser.add_argument("--aggregate", choices=["sum", "mean"],
                        help="sum (default: the return) or mean (the mean log-likelihood)")
    parser.add_argument("--rows-per-write", type=int, default=64,
                        help="rows scored together (one score_many call, one Ray task)")
    parser.add_argument("--on-overflow", default="refuse", choices=["refuse", "skip"],
                        help="a row over the model's context: refuse the run before anything is "
                        "scored (default), or write the row with 'skipped' and its reason "
                        "instead of a score, counted in the summary")
    parser.add_argument("--engine", default="local", choices=["local", "ray"],
                        help="ray: score on Ray Data, one model per actor (joins RAY_ADDRESS)")
    parser.add_argument("--workers", type=int, default=1, help="Ray actors, one model each")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0)
    parser.set_defaults(run=run)


def _check_rows(lines: list[tuple[int, dict[str, Any]]], args: argparse.Namespace) -> None:
    """The checks that need no model: fields and their types."""
    for number, row in lines:
        where = f"{args.input}:{number}"
        taken = [key for key in ADDED if key in row]
        if taken:
            raise UsageError(f"{where}: the row already has {taken[0]!r}, which the output adds; "
                             "rename or remove that field (is this an output file?)")
        _, many = row_responses(row, where)
        if args.token_rewards and many:
            raise UsageError(f"{where}: --token-rewards needs one 'response' per row")


def _check_encoding(model: Any, lines: list[tuple[int, dict[str, Any]]],
                    args: argparse.Namespace) -> dict[int, str]:
    """Render and tokenize every row, so a bad prompt or an item over the context stops the run
    before anything is scored, naming its line. With ``--on-overflow skip`` a row over the
    context is not an error: returns the input line numbers of such rows and why each is
    skipped."""
    skipped: dict[int, str] = {}
    for number, row in lines:
        where = f"{args.input}:{number}"
        texts, many = row_responses(row, where)
        try:
            rendered = model.encoder.render_prompt(row["prompt"], system=args.system)
        except (TypeError, ValueError) as error:
            raise UsageError(f"{where}: 'prompt': {error}") from None
        for i, text in enumerate(texts):
            pair = model.encoder.encode(rendered, text)
            try:
                check_fits(i, len(pair.prompt_ids), len(pair.action_ids), model.max_length,
                           label=f"response {i}" if many else "the response")
            except ContextLengthError as error:
                if args.on_overflow != "skip":
                    raise UsageError(f"{where}: {error}, or pass --on-overflow skip") from None
                skipped[number] = str(error)
                break
    return skipped


SETTINGS = ("alpha", "terminal", "aggregate")
"""The reward's own settings that have flags (besides the loading flags); a flag left out keeps
the reward's default."""


def _factory(args: argparse.Namespace) -> Any:
    """A picklable callable that builds the reward (run here, or in each Ray actor)."""
    from rewardmine.specs import check_settings, load_scorer, parse_spec

    spec = parse_spec(args.model, default="endogenous")
    if spec.kind not in ("endogenous", "logprobs"):
        raise UsageError(f"--model {args.model}: score takes endogenous:PATH (or a bare path) or "
                         "logprobs:MODEL@BASE_URL")
    if args.token_rewards and spec.kind == "logprobs":
        raise UsageError("--token-rewards needs V(s_t) at every position, which a "
                         "log-probability server does not return (see docs/endogenous.md)")
    settings = {**load_settings(args),
                **{k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}}
    try:
        check_settings(spec, settings)
    except ValueError as error:
        raise UsageError(f"--model {args.model}: {error}") from None
    return functools.partial(load_scorer, str(spec), defaults={"progress": False}, **settings)


class _Checker:
    """What the row checks need, without the model: its chat encoder and context length."""

    def __init__(self, args: argparse.Namespace) -> None:
        from rewardmine.server.scoring import RequestEncoder
        from rewardmine.specs import parse_spec

        spec = parse_spec(args.model)
        encoder = RequestEncoder.from_pretrained(spec.target)  # the one loader: GGUF files too
        self.encoder = encoder.encoder
        self.max_length = None if spec.kind == "logprobs" else encoder.max_length


def run(args: argparse.Namespace) -> int:
    if args.rows_per_write < 1:
        raise UsageError(f"--rows-per-write must be at least 1, got {args.rows_per_write}")
    from rewardmine.specs import resolve_spec

    # a relative path means the same on a Ray worker
    args.model = resolve_spec(args.model, default="endogenous")
    lines = read_rows(args.input)
    _check_rows(lines, args)
    rows = [row for _, row in lines]
    with resumable_output(lines, args.input, args.output) as done:
        todo = lines[done:]
        parquet = is_parquet(args.output)
        if not todo:
            if parquet and partial_path(args.output).exists():
                finish_parquet(args.output)  # a run that stopped after its last row
            print(f"{args.output}: all {len(rows)} rows already scored", file=sys.stderr)
            return 0
        factory = _factory(args)
        if parquet and os.path.exists(args.output):
            reopen_parquet(args.output)
        if args.engine == "ray":
            if args.workers < 1:
                raise UsageError(f"--workers must be at least 1, got {args.workers}")
            from rewardmine.distributed.ray_data import score_rows_on_ray

            skipped = _check_encoding(_Checker(args), todo, args)
            scored = [line for line in todo if line[0] not in skipped]
            blocks = score_rows_on_ray(
                [row for _, row in scored], factory, system=args.system,
                token_rewards=args.token_rewards, rows_per_block=args.rows_per_write,
                workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                first_number=done + 1)
        else:
            model = factory()
            skipped = _check_encoding(model, todo, args)
            scored = [line for line in todo if line[0] not in skipped]
            blocks = (score_rows(model, [row for _, row in block], system=args.system,
                                 token_rewards=args.token_rewards)
                      for block in chunks(scored, args.rows_per_write))
        results = (result for block in blocks for result in block)
        bar = progress_bar(len(todo), desc="rows", unit="row")
        with JsonlAppender(partial_path(args.output) if parquet else args.output) as out, bar:
            for number, row in todo:  # input order: a skipped row in its place, never dropped
                out.write({**row, "skipped": skipped[number]} if number in skipped
                          else next(results))
                bar.update(1)
        if parquet:
            finish_parquet(args.output)
        over = f"; {len(skipped)} skipped over the context (--on-overflow skip)" if skipped \
            else ""
        print(f"{args.output}: scored {len(todo) - len(skipped)} rows ({done} were already "
              f"there{over})", file=sys.stderr)
        return 0
