"""``rewardmine judge``: score and rank the responses of a JSONL file under a principle, resumable.

:func:`add_judge_arguments` and :func:`judge_from_args` are the judge flags of every command that
takes a judge (``rewardmine judge``, ``rewardmine serve``, ``rewardmine build-bench``): ``--judge
SPEC`` (repeatable: a Kemeny panel), the generation options as flags, and any other setting of
the judge or its backend as ``KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from rewardmine.cli.flags import key_value
from rewardmine.errors import ContextLengthError, UsageError
from rewardmine.io import JsonlAppender, chunks, read_jsonl_lines, resumable_output
from rewardmine.judge.options import GenerationOptions
from rewardmine.progress import progress_bar

SPEC_HELP = ("a judge: principle:PATH (local model), openai:MODEL@BASE_URL (OpenAI-compatible "
             "server; key from $OPENAI_API_KEY or api_key=), openai-completions:MODEL@BASE_URL "
             "(vLLM/SGLang /v1/completions with the prompt rendered here, tokenizer= default "
             "MODEL: use it for untrusted responses), endogenous:PATH or MODULE:FUNCTION; "
             "repeat for a panel (Kemeny consensus)")



def add_judge_arguments(parser: argparse.ArgumentParser, *, prefix: str = "",
                        spec_flag: str = "--judge", required: bool = True) -> None:
    """The judge flags: ``spec_flag`` SPEC (repeatable), ``--{prefix}option KEY=VALUE`` and one
    flag per generation option (``--{prefix}max-new-tokens``, ``--{prefix}thinking on|off``,
    ...). Left out, a generation option keeps the :class:`GenerationOptions` default."""
    defaults = GenerationOptions()
    parser.add_argument(spec_flag, action="append", required=required, metavar="SPEC",
                        help=SPEC_HELP)
    parser.add_argument(f"--{prefix}option", action="append", type=key_value, default=[],
                        metavar="KEY=VALUE",
                        help="a setting of the judge or its backend, VALUE read as JSON when it "
                        "parses: mode=pairwise, permutations=2, constrained=true, dtype=bfloat16, "
                        "device=cuda, concurrency=16, batch_size=4, context_limit=32768, ... "
                        "(repeatable; an unknown key is refused with the accepted ones)")
    parser.add_argument(f"--{prefix}max-new-tokens", type=int, default=None,
                        help=f"reply budget, thinking included (default {defaults.max_new_tokens})")
    parser.add_argument(f"--{prefix}temperature", type=float, default=None,
                        help=f"0 decodes greedily (default {defaults.temperature})")
    parser.add_argument(f"--{prefix}top-p", type=float, default=None,
                        help=f"nucleus mass when sampling (default {defaults.top_p})")
    parser.add_argument(f"--{prefix}thinking", choices=["on", "off"], default=None,
                        help="let a thinking model think before its verdict (default on)")
    parser.add_argument(f"--{prefix}seed", type=int, default=None,
                        help=f"seeds the orders shown and the sampling (default {defaults.seed})")


def judge_settings(args: argparse.Namespace, *, prefix: str = "") -> dict[str, Any]:
    """The settings the judge flags hold: ``--option`` pairs, then the generation flags given."""
    dest = prefix.replace("-", "_")
    settings = dict(getattr(args, f"{dest}option"))
    for name in ("max_new_tokens", "temperature", "top_p", "seed"):
        value = getattr(args, f"{dest}{name}")
        if value is not None:
            settings[name] = value
    thinking = getattr(args, f"{dest}thinking")
    if thinking is not None:
        settings["thinking"] = thinking == "on"
    return settings


def judge_from_args(args: argparse.Namespace, *, prefix: str = "", spec_dest: str = "judge",
                    defaults: Mapping[str, Any] | None = None) -> Any:
    """The list judge (or panel) the judge flags describe."""
    from rewardmine.specs import load_judge

    return load_judge(getattr(args, spec_dest), defaults=defaults,
                      **judge_settings(args, prefix=prefix))


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "judge", help="judge responses in a JSONL file against a principle",
        description="Rows hold 'prompt' (a string or chat messages), 'responses' (a list or a "
        "dict of ids to texts) and optionally 'principle' (else --principle). Output rows "
        "repeat the input and add 'judgement' (scores, ranking, reasoning, raw, status, error, "
        "repairs). Rerunning with the same output skips the rows already there.",
    )
    parser.add_argument("--principle", default=None, help="used by rows without a 'principle'")
    add_judge_arguments(parser)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--rows-per-write", type=int, default=32)
    parser.set_defaults(run=run)


def _request(row: dict[str, Any], where: str, principle: str | None) -> dict[str, Any]:
    """The judge request of one input row, checked as the judge would check it."""
    from rewardmine.chat import normalize_messages
    from rewardmine.judge.prompt import normalize_responses

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
        responses = normalize_responses(row["responses"])  # a list gets the ids "0", "1", ...
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: 'responses': {error}") from None
    return {"principle": chosen, "prompt": row["prompt"], "responses": responses}


def build_judge(args: argparse.Namespace) -> Any:
    # 'return' writes status 'invalid' rows and goes on (--option on_invalid=raise stops)
    return judge_from_args(args, defaults={"on_invalid": "return", "progress": False})


def _row_error(source: str, lines: list[tuple[int, Any]], positions: list[int],
               error: ContextLengthError) -> Exception:
    """A judge's ContextLengthError about request ``error.index`` of ``positions``, said about
    the input file's line; an error that names no request of them is returned as it is."""
    if error.index is None or not 0 <= error.index < len(positions):
        return error
    return UsageError(f"{source}:{lines[positions[error.index]][0]}: the row {error.detail}")


def _plan(args: argparse.Namespace, requests: list[dict[str, Any]]) -> str:
    """The first line, before the model loads: how much work the settings ask for, and, for a
    local model on a CPU with settings that make each call long, how to make it shorter."""
    from rewardmine.judge.modes import calls

    settings = judge_settings(args)
    options = GenerationOptions().replace(**{k: v for k, v in settings.items()
                                             if k in GenerationOptions.names()})
    mode, permutations = settings.get("mode", "listwise"), int(settings.get("permutations", 1))
    total = len(args.judge) * sum(calls(len(r["responses"]), mode, permutations)
                                  for r in requests)
    constrained = bool(settings.get("constrained", False))
    line = (f"judge: {len(requests)} rows, up to {total} model calls of up to "
            f"{options.max_new_tokens} new tokens each (thinking "
            f"{'on' if options.thinking else 'off'}, "
            f"{'constrained' if constrained else 'unconstrained'})")
    local = any(not spec.startswith(("openai", "endogenous:")) for spec in args.judge)
    slow = options.thinking or options.max_new_tokens > 1024 or not constrained
    if local and slow:
        import torch

        if not torch.cuda.is_available():
            line += ("; a local model on a CPU can take minutes per call at these settings: "
                     "--thinking off, --max-new-tokens 512 and --option constrained=true make "
                     "each call short")
    return line


def run(args: argparse.Namespace) -> int:
    if args.rows_per_write < 1:
        raise UsageError(f"--rows-per-write must be at least 1, got {args.rows_per_write}")
    lines = read_jsonl_lines(args.input)
    rows = [row for _, row in lines]
    requests = [_request(row, f"{args.input}:{n}", args.principle) for n, row in lines]
    with resumable_output(lines, args.input, args.output) as done:
        todo = list(range(done, len(rows)))
        if not todo:
            print(f"{args.output}: all {len(rows)} rows already judged", file=sys.stderr)
            return 0
        print(_plan(args, [requests[i] for i in todo]), file=sys.stderr, flush=True)
        judge = build_judge(args)
        check = getattr(judge, "check", None)
        if check is not None:  # before any row is judged, so a bad file writes nothing
            try:
                check([requests[i] for i in todo])
            except ContextLengthError as error:
                raise _row_error(args.input, lines, todo, error) from None
        invalid = 0
        bar = progress_bar(len(todo), desc="rows", unit="row")
        with JsonlAppender(args.output) as out, bar:
            for block in chunks(todo, args.rows_per_write):
                try:
                    verdicts = judge.judge_many([requests[i] for i in block])
                except ContextLengthError as error:  # a judge whose context the check cannot read
                    raise _row_error(args.input, lines, block, error) from None
                for index, verdict in zip(block, verdicts, strict=True):
                    invalid += not verdict.ok
                    out.write({**rows[index], "judgement": verdict.to_dict()})
                    bar.update(1)
        usage = getattr(judge, "usage", None)
        calls = f"; {usage.calls} model calls" if usage is not None else ""
        print(f"{args.output}: judged {len(todo)} rows ({done} were already there; "
              f"{invalid} invalid{calls})", file=sys.stderr)
        return 0
