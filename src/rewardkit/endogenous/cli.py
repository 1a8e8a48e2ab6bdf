"""``rewardkit score``: endogenous rewards for a JSONL file, resumable.

Every row is checked (its fields, its text, its length in tokens against the model's context)
before the first one is scored, and errors name the input file's physical line.
"""

from __future__ import annotations

import argparse
from typing import Any

from tqdm.auto import tqdm

from rewardkit.errors import UsageError
from rewardkit.io import JsonlAppender, chunks, completed_rows, read_jsonl_lines

ADDED = ("score", "scores", "token_rewards")  # the fields an output row adds


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "score", help="score responses in a JSONL file with a model's endogenous reward",
        description="Rows hold 'prompt' (a string or chat messages) and 'response' or "
        "'responses'. Output rows repeat the input and add 'score' or 'scores'. Rerunning with "
        "the same output skips the rows already there.",
    )
    parser.add_argument("--model", required=True, help="Hugging Face id or local path")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--system", default=None, help="system prompt that steers the reward")
    parser.add_argument("--token-rewards", action="store_true",
                        help="also write per-token rewards (one response per row only)")
    parser.add_argument("--dtype", default="auto",
                        choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--terminal", default="zero", choices=["zero", "value"])
    parser.add_argument("--aggregate", default="sum", choices=["sum", "mean"])
    parser.add_argument("--rows-per-write", type=int, default=64)
    parser.set_defaults(run=run)


def _responses(row: dict[str, Any], where: str) -> tuple[list[str], bool]:
    if ("response" in row) == ("responses" in row):
        raise UsageError(f"{where}: give exactly one of 'response' or 'responses'")
    if "response" in row:
        texts, many = [row["response"]], False
    else:
        if not isinstance(row["responses"], list) or not row["responses"]:
            raise UsageError(f"{where}: 'responses' must be a non-empty list of strings")
        texts, many = list(row["responses"]), True
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            field = f"'responses'[{i}]" if many else "'response'"
            raise UsageError(f"{where}: {field} is a {type(text).__name__}; responses are "
                             "strings")
    return texts, many


def _check_rows(lines: list[tuple[int, dict[str, Any]]], args: argparse.Namespace) -> None:
    """The checks that need no model: fields and their types."""
    for number, row in lines:
        where = f"{args.input}:{number}"
        if "prompt" not in row:
            raise UsageError(f"{where}: missing 'prompt'")
        taken = [key for key in ADDED if key in row]
        if taken:
            raise UsageError(f"{where}: the row already has {taken[0]!r}, which the output adds; "
                             "rename or remove that field (is this an output file?)")
        _, many = _responses(row, where)
        if args.token_rewards and many:
            raise UsageError(f"{where}: --token-rewards needs one 'response' per row")


def _check_encoding(model: Any, lines: list[tuple[int, dict[str, Any]]],
                    args: argparse.Namespace) -> None:
    """Render and tokenize every row, so a bad prompt or an item over the context stops the run
    before anything is scored, naming its line."""
    limit = model.max_length
    for number, row in lines:
        where = f"{args.input}:{number}"
        texts, many = _responses(row, where)
        try:
            rendered = model.encoder.render_prompt(row["prompt"], system=args.system)
        except (TypeError, ValueError) as error:
            raise UsageError(f"{where}: 'prompt': {error}") from None
        for i, text in enumerate(texts):
            pair = model.encoder.encode(rendered, text)
            if limit is not None and len(pair) > limit:
                field = f"response {i}" if many else "the response"
                raise UsageError(
                    f"{where}: {field} is {len(pair)} tokens with its prompt "
                    f"({len(pair.prompt_ids)} + {len(pair.action_ids)}) but the model's context "
                    f"is {limit}; shorten it (rewardkit never truncates)")


def run(args: argparse.Namespace) -> int:
    from rewardkit.endogenous import EndogenousReward

    if args.rows_per_write < 1:
        raise UsageError(f"--rows-per-write must be at least 1, got {args.rows_per_write}")
    lines = read_jsonl_lines(args.input)
    _check_rows(lines, args)
    rows = [row for _, row in lines]
    done = completed_rows(args.output)
    if len(done) > len(rows):
        raise UsageError(f"{args.output} has more rows than {args.input}; use a new --output")
    for position, ((number, new), old) in enumerate(zip(lines, done, strict=False), start=1):
        if {k: old.get(k) for k in new} != new:
            raise UsageError(
                f"{args.output} row {position} does not match {args.input}:{number}; "
                "it is the output of another input. Use a new --output")
    todo = lines[len(done):]
    if not todo:
        print(f"{args.output}: all {len(rows)} rows already scored")
        return 0
    model = EndogenousReward.from_pretrained(
        args.model, dtype=args.dtype, device=args.device, alpha=args.alpha,
        terminal=args.terminal, progress=False,
    )
    _check_encoding(model, todo, args)
    bar = tqdm(total=len(todo), desc="rows", unit="row", disable=None)
    with JsonlAppender(args.output) as out, bar:
        for block in chunks(todo, args.rows_per_write):
            prompts, responses = [], []
            for number, row in block:
                texts, _ = _responses(row, str(number))
                prompts += [row["prompt"]] * len(texts)
                responses += texts
            scores = iter(model.score_many(prompts, responses, system=args.system,
                                           aggregate=args.aggregate))
            for number, row in block:
                texts, many = _responses(row, str(number))
                result = dict(row)
                if many:
                    result["scores"] = [next(scores) for _ in texts]
                else:
                    result["score"] = next(scores)
                    if args.token_rewards:
                        result["token_rewards"] = model.token_rewards(
                            row["prompt"], texts[0], system=args.system).to_dict()
                out.write(result)
                bar.update(1)
    print(f"{args.output}: scored {len(todo)} rows ({len(done)} were already there)")
    return 0
