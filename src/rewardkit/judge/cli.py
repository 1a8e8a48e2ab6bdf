"""``rewardkit judge``: score and rank the responses of a JSONL file under a principle, resumable."""

from __future__ import annotations

import argparse
import os
from typing import Any

from tqdm.auto import tqdm

from rewardkit.errors import ContextLengthError, UsageError
from rewardkit.io import JsonlAppender, chunks, completed_rows, read_jsonl_lines


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "judge", help="judge responses in a JSONL file against a principle",
        description="Rows hold 'prompt' (a string or chat messages), 'responses' (a list or a "
        "dict of ids to texts) and optionally 'principle' (else --principle). Output rows "
        "repeat the input and add 'judgement' (scores, ranking, reasoning, raw, status, error). "
        "Rerunning with the same output skips the rows already there. Use a local model "
        "(--model PATH) or a server (--base-url URL --model NAME).",
    )
    parser.add_argument("--principle", default=None, help="used by rows without a 'principle'")
    parser.add_argument("--model", required=True, help="local path or hub id; with --base-url "
                        "the model name the server knows")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible API root, "
                        "e.g. http://localhost:8000/v1")
    parser.add_argument("--api-key", default=None, help="default: $OPENAI_API_KEY")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--mode", default="listwise", choices=["listwise", "pairwise", "pointwise"])
    parser.add_argument("--permutations", type=int, default=1)
    parser.add_argument("--max-retries", type=int, default=2)
    parser.add_argument("--on-invalid", default="return", choices=["return", "raise"],
                        help="'return' writes status 'invalid' rows; 'raise' stops the run")
    parser.add_argument("--no-thinking", action="store_true")
    parser.add_argument("--constrained", action="store_true",
                        help="constrained decoding with xgrammar (local models only)")
    parser.add_argument("--max-new-tokens", type=int, default=4096)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8, help="local: sequences per generate")
    parser.add_argument("--concurrency", type=int, default=8, help="server: requests in flight")
    parser.add_argument("--dtype", default="auto",
                        choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows-per-write", type=int, default=32)
    parser.set_defaults(run=run)


def _request(row: dict[str, Any], where: str, principle: str | None) -> dict[str, Any]:
    """The judge request of one input row, checked as the judge would check it."""
    from rewardkit.chat import normalize_messages
    from rewardkit.judge.prompt import normalize_responses

    for key in ("prompt", "responses"):
        if key not in row:
            raise UsageError(f"{where}: missing {key!r}")
    if "judgement" in row:
        raise UsageError(f"{where}: the row already has 'judgement', which the output adds; "
                         "rename or remove that field (is this an output file?)")
    chosen = row.get("principle", principle)
    if chosen is None:
        raise UsageError(f"{where}: no 'principle' in the row and no --principle")
    if not isinstance(chosen, str) or not chosen.strip():
        raise UsageError(f"{where}: 'principle' must be a non-empty string, got {chosen!r}")
    try:
        normalize_messages(row["prompt"])
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: 'prompt': {error}") from None
    try:
        normalize_responses(row["responses"])
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: 'responses': {error}") from None
    return {"principle": chosen, "prompt": row["prompt"], "responses": row["responses"]}


def build_judge(args: argparse.Namespace) -> Any:
    from rewardkit.judge import PrincipleJudge

    common = dict(mode=args.mode, permutations=args.permutations, max_retries=args.max_retries,
                  on_invalid=args.on_invalid, seed=args.seed, thinking=not args.no_thinking,
                  max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                  progress=False)
    if args.base_url:
        if args.constrained:
            raise ValueError("--constrained works with local models; servers get the verdict's "
                             "JSON schema as response_format instead")
        return PrincipleJudge.from_openai(
            args.base_url, args.model, api_key=args.api_key or os.environ.get("OPENAI_API_KEY"),
            concurrency=args.concurrency, **common)
    return PrincipleJudge.from_pretrained(args.model, constrained=args.constrained,
                                          batch_size=args.batch_size, dtype=args.dtype,
                                          device=args.device, **common)


def run(args: argparse.Namespace) -> int:
    if args.rows_per_write < 1:
        raise UsageError(f"--rows-per-write must be at least 1, got {args.rows_per_write}")
    lines = read_jsonl_lines(args.input)
    rows = [row for _, row in lines]
    requests = [_request(row, f"{args.input}:{n}", args.principle) for n, row in lines]
    done = completed_rows(args.output)
    if len(done) > len(rows):
        raise UsageError(f"{args.output} has more rows than {args.input}; use a new --output")
    for position, ((number, new), old) in enumerate(zip(lines, done, strict=False), start=1):
        if {k: old.get(k) for k in new} != new:
            raise UsageError(
                f"{args.output} row {position} does not match {args.input}:{number}; "
                "it is the output of another input. Use a new --output"
            )
    todo = list(range(len(done), len(rows)))
    if not todo:
        print(f"{args.output}: all {len(rows)} rows already judged")
        return 0
    judge = build_judge(args)
    invalid = 0
    bar = tqdm(total=len(todo), desc="rows", unit="row", disable=None)
    with JsonlAppender(args.output) as out, bar:
        for block in chunks(todo, args.rows_per_write):
            try:
                verdicts = judge.judge_many([requests[i] for i in block])
            except ContextLengthError as error:
                if error.index is None or not 0 <= error.index < len(block):
                    raise
                line = lines[block[error.index]][0]
                text = str(error)
                for prefix in (f"request {error.index}: ", f"request {error.index} "):
                    if text.startswith(prefix):
                        text = "the row " + text[len(prefix):]
                        break
                raise UsageError(f"{args.input}:{line}: {text}") from None
            for index, verdict in zip(block, verdicts, strict=True):
                invalid += not verdict.ok
                out.write({**rows[index], "judgement": verdict.to_dict()})
                bar.update(1)
    print(f"{args.output}: judged {len(todo)} rows ({len(done)} were already there; "
          f"{invalid} invalid; {judge.usage.calls} model calls)")
    return 0
