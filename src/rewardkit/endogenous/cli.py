"""``rewardkit score``: endogenous rewards for a JSONL file, resumable."""

from __future__ import annotations

import argparse
from typing import Any

from tqdm.auto import tqdm

from rewardkit.io import JsonlAppender, chunks, completed_rows, read_jsonl


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


def _responses(row: dict[str, Any], number: int) -> tuple[list[str], bool]:
    if ("response" in row) == ("responses" in row):
        raise ValueError(f"input row {number}: give exactly one of 'response' or 'responses'")
    if "response" in row:
        return [row["response"]], False
    if not isinstance(row["responses"], list) or not row["responses"]:
        raise ValueError(f"input row {number}: 'responses' must be a non-empty list")
    return list(row["responses"]), True


def run(args: argparse.Namespace) -> int:
    from rewardkit.endogenous import EndogenousReward

    rows = read_jsonl(args.input)
    for number, row in enumerate(rows, start=1):
        if "prompt" not in row:
            raise ValueError(f"input row {number}: missing 'prompt'")
        _, many = _responses(row, number)
        if args.token_rewards and many:
            raise ValueError(f"input row {number}: --token-rewards needs one 'response' per row")
    done = completed_rows(args.output)
    for number, (old, new) in enumerate(zip(done, rows, strict=False), start=1):
        if {k: old.get(k) for k in new} != new:
            raise ValueError(
                f"{args.output} row {number} does not match {args.input} row {number}; "
                "it is the output of another input. Use a new --output"
            )
    if len(done) > len(rows):
        raise ValueError(f"{args.output} has more rows than {args.input}; use a new --output")
    todo = rows[len(done):]
    if not todo:
        print(f"{args.output}: all {len(rows)} rows already scored")
        return 0
    model = EndogenousReward.from_pretrained(
        args.model, dtype=args.dtype, device=args.device, alpha=args.alpha,
        terminal=args.terminal, progress=False,
    )
    bar = tqdm(total=len(todo), desc="rows", unit="row", disable=None)
    with JsonlAppender(args.output) as out, bar:
        for block in chunks(todo, args.rows_per_write):
            prompts, responses = [], []
            for row in block:
                texts, _ = _responses(row, 0)
                prompts += [row["prompt"]] * len(texts)
                responses += texts
            scores = iter(model.score_many(prompts, responses, system=args.system,
                                           aggregate=args.aggregate))
            for row in block:
                texts, many = _responses(row, 0)
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
