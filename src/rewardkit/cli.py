"""The ``rewardkit`` command. Each subcommand lives beside the feature it runs.

A user error (a missing file, a bad option or row, an item over the context) prints one line,
``rewardkit COMMAND: message``, and exits with status 2; Ctrl-C prints one line and exits with
130. ``--traceback`` (or ``REWARDKIT_TRACEBACK=1``) shows the full trace instead, for bug reports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rewardkit import __version__
from rewardkit.errors import RewardkitError

# What bad input raises: these are the user's to fix, so they get a sentence, not a trace.
USER_ERRORS = (RewardkitError, ValueError, TypeError, OSError)


def build_parser() -> argparse.ArgumentParser:
    from rewardkit.bench import cli as bench_cli
    from rewardkit.buildbench import cli as buildbench_cli
    from rewardkit.endogenous import cli as endogenous_cli
    from rewardkit.judge import cli as judge_cli
    from rewardkit.server import cli as server_cli
    from rewardkit.toy import demo

    parser = argparse.ArgumentParser(
        prog="rewardkit", description="Reward signals you do not have to train."
    )
    parser.add_argument("--version", action="version", version=f"rewardkit {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error (also REWARDKIT_TRACEBACK=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, endogenous_cli, judge_cli, bench_cli, buildbench_cli, server_cli):
        module.register(commands)
    return parser


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) \
            not in text:
        text = f"{error.filename}: {text}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    trace = args.traceback or os.environ.get("REWARDKIT_TRACEBACK", "") not in ("", "0")
    if trace:
        return int(args.run(args) or 0)
    name = f"rewardkit {args.command}"
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        print(f"{name}: {_one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
