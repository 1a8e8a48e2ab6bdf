"""The ``rewardmine`` command: one module per subcommand in this package (``score``, ``judge``,
``bench``, ``build-bench``, ``serve``, ``train-judge``, ``demo``); the library's packages hold
no argparse.

A user error (a missing file, a bad option or row, an item over the context) prints one line,
``rewardmine COMMAND: message``, and exits with status 2; Ctrl-C prints one line and exits with
130. ``--traceback`` (or ``REWARDMINE_TRACEBACK=1``) shows the full trace instead, for bug reports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rewardmine import __version__
from rewardmine.errors import RewardmineError

# What bad input raises: these are the user's to fix, so they get a sentence, not a trace.
USER_ERRORS = (RewardmineError, ValueError, TypeError, OSError)


def build_parser() -> argparse.ArgumentParser:
    from rewardmine.cli import bench, build_bench, demo, judge, score, serve, train_judge

    parser = argparse.ArgumentParser(
        prog="rewardmine", description="Reward signals you do not have to train."
    )
    parser.add_argument("--version", action="version", version=f"rewardmine {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error (also REWARDMINE_TRACEBACK=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, score, judge, bench, build_bench, serve, train_judge):
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
    trace = args.traceback or os.environ.get("REWARDMINE_TRACEBACK", "") not in ("", "0")
    if trace:
        return int(args.run(args) or 0)
    name = f"rewardmine {args.command}"
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        print(f"{name}: {_one_line(error)}", file=sys.stderr)
        return 2
