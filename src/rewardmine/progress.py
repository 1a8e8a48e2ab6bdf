"""Progress of long work, one way for every command: a bar on a terminal, lines elsewhere.

On a terminal a tqdm bar. Where stderr is not a terminal (a job under nohup, a batch scheduler, a
log file) a bar's carriage returns make one endless line, or none at all; there a line is printed
when the work starts, every ``LINE_EVERY_S`` seconds while it runs (done, rate, time left) and
when it ends.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

LINE_EVERY_S = 60.0


class _Lines:
    """A file for tqdm that turns each refresh into a line of its own."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")
            self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int, *, desc: str, unit: str, enabled: bool | None = None) -> Any:
    """A progress bar over ``total`` units: a tqdm bar on a terminal, a line a minute elsewhere.

    Args:
        total: how many units the work has.
        desc: what is counted, shown first.
        unit: the unit's name.
        enabled: False shows nothing; None or True show it wherever stderr goes.
    """
    stream = sys.stderr
    if enabled is False or stream is None:  # asked for nothing, or no stderr (pythonw)
        return tqdm(total=total, disable=True)
    if stream.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=stream)
    return tqdm(total=total, desc=desc, unit=unit, file=_Lines(stream), mininterval=LINE_EVERY_S,
                maxinterval=LINE_EVERY_S, ascii=True, dynamic_ncols=False, ncols=100)
