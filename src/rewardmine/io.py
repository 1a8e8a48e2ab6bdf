"""JSONL in, JSONL out: reading with line-numbered errors, and resumable appending."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardmine.errors import UsageError

# The longest line a JSONL file may have: a row larger than this is refused, naming its line, so
# that a file with no newline (``--input /dev/zero``) cannot grow a process without bound.
MAX_LINE_BYTES = 64 * 1024 * 1024


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: a key given twice in one object is an error,
    since every JSON reader keeps only one of the two values (a response would vanish)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object; JSON object keys "
                             "must be unique (give each response its own id)")
        out[key] = value
    return out


def check_text(value: Any, where: str = "the value") -> None:
    """Raise ``ValueError`` if a string anywhere in ``value`` (a JSON value) is not text.

    JSON's ``\\ud800``..``\\udfff`` escapes decode to lone surrogates, which no tokenizer accepts;
    the message names where the first one is (``responses.b``, ``prompt[1].content``).
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ValueError(
                    f"{path} holds a lone surrogate ({item[error.start]!r} at character "
                    f"{error.start}), which is not text; send valid UTF-8 (a \\ud800-\\udfff "
                    "escape must be one half of a pair)") from None
        elif isinstance(item, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))


def _lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """The physical lines of a file as bytes, numbered from 1, each at most ``MAX_LINE_BYTES``."""
    with open(path, "rb") as handle:
        number = 0
        while True:
            line = handle.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise ValueError(f"{path}:{number}: the line is longer than {MAX_LINE_BYTES} "
                                 "bytes; is this a JSONL file? (one JSON object per line)")
            yield number, line


def _text(path: str | Path, number: int, line: bytes) -> str:
    try:
        return line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}:{number}: byte {error.start + 1} of the line is not UTF-8 "
                         f"({line[error.start:error.start + 1]!r}); save the file as UTF-8"
                         ) from None


def read_jsonl_lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """Every row of a JSONL file with its physical line number (blank lines are skipped but
    counted); a bad line raises ``ValueError`` naming the file and line: not JSON, not UTF-8, or
    longer than ``MAX_LINE_BYTES``. A UTF-8 byte-order mark is accepted."""
    rows = []
    for number, raw in _lines(path):
        line = _text(path, number, raw)
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: each line must be a JSON object")
        try:
            check_text(row, "")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        rows.append((number, row))
    return rows


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSONL file (see :func:`read_jsonl_lines` for the line numbers)."""
    return [row for _, row in read_jsonl_lines(path)]


def completed_rows(path: str | Path) -> list[dict[str, Any]]:
    """The complete rows already in an output file, for resuming.

    Only a regular file is resumed: a pipe, terminal or device (``/dev/stdout``, ``/dev/full``)
    has no rows to read back and is written from the start. A last line cut off mid-write (a
    crash, or a full disk that stopped it inside a character) was never a complete row: it is
    removed from the file, with a line on stderr saying so, and its row is written again; a last
    complete row without its newline gets one. A bad line anywhere else is an error naming it,
    since rows after it would be lost.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if not stat.S_ISREG(mode):
        return []
    lines = list(_lines(path))
    rows = []
    for number, raw in lines:
        last = number == len(lines) and not raw.endswith(b"\n")
        try:
            text = _text(path, number, raw)
            if text.strip():
                rows.append(json.loads(text))
        except ValueError:  # not UTF-8, or not JSON
            if last:
                kept = sum(len(r) for _, r in lines[:-1])
                os.truncate(path, kept)
                print(f"rewardmine: {path}:{number}: the last line was cut off mid-write (a "
                      "crash or a full disk); removed, its row is written again", file=sys.stderr)
                return rows
            raise ValueError(f"{path}:{number}: not valid JSON; fix or remove the file") from None
    if lines and not lines[-1][1].endswith(b"\n"):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n")
    return rows


def resumed_rows(lines: list[tuple[int, dict[str, Any]]], source: str | Path,
                 output: str | Path) -> int:
    """How many of the input ``lines`` (from :func:`read_rows`) ``output`` holds already
    (a JSONL file, or a parquet output and its partial rows).

    A command that adds fields to its input rows resumes after them; an output row that does
    not repeat its input row (another input's output), or more rows than the input has, is an
    error naming the output row and the input's physical line.
    """
    done = completed_output(output)
    if len(done) > len(lines):
        raise UsageError(f"{output} has more rows than {source}; use a new --output")
    for position, ((number, new), old) in enumerate(zip(lines, done, strict=False), start=1):
        if {k: old.get(k) for k in new} != new:
            raise UsageError(f"{output} row {position} does not match {source}:{number}; it is "
                             "the output of another input. Use a new --output")
    return len(done)


@contextlib.contextmanager
def exclusive_output(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the output ``path`` for the length of a run.

    A second run on the same output would read the same completed rows, then append every
    remaining row a second time; it stops at once instead, naming the file. The lock is an
    ``flock`` on a file beside the output (``out.jsonl.lock``, removed when the run ends; the
    output itself is not created before a row is written, and a parquet output is replaced at
    the end), released by the kernel if the run dies. A pipe or device is not locked.
    """
    path = Path(path)
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        yield
        return
    import fcntl

    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{path} is being written by another run (it holds the file's "
                             "lock); wait for that run to end or use another --output") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


@contextlib.contextmanager
def resumable_output(lines: list[tuple[int, dict[str, Any]]], source: str | Path,
                     output: str | Path) -> Iterator[int]:
    """Open a run's ``output`` for resuming: yields how many input rows it holds already.

    Refuses an output that is the input file itself (by any path: a symlink, a hard link), which
    would read the input's rows back as results, and holds the output's lock while the run
    writes (:func:`exclusive_output`).
    """
    for candidate in (Path(output), partial_path(output)):
        with contextlib.suppress(OSError):
            if os.path.samefile(source, candidate):
                raise UsageError(f"--output {output} is the input file {source}; write the "
                                 "results to another file")
    with exclusive_output(output):
        yield resumed_rows(lines, source, output)


class JsonlAppender:
    """Appends rows to a JSONL file, flushing each so that an interrupted run can resume."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, row: dict[str, Any]) -> None:
        try:
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._handle.flush()
        except OSError as error:  # a full disk or device: say which file
            raise OSError(error.errno, f"cannot write to {self.path}: {error.strerror}") \
                from None

    def close(self) -> None:
        with contextlib.suppress(OSError):  # each row was flushed; a failed one was reported
            self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ------------------------------------------------------------------------------------ parquet

def is_parquet(path: str | Path) -> bool:
    return str(path).lower().endswith(".parquet")


def _pyarrow() -> Any:
    from rewardmine.optional import require_extra

    require_extra("pyarrow.parquet", extra="parquet", needed_for="parquet files")
    return require_extra("pyarrow", extra="parquet", needed_for="parquet files")


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a parquet file as plain Python values (lists, dicts, strings, numbers)."""
    return _pyarrow().parquet.read_table(path).to_pylist()


def write_parquet(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """``rows`` as a parquet file, written whole beside ``path`` and then moved onto it (a reader
    never sees half a file). A column that mixes types is refused with a ValueError."""
    pa = _pyarrow()
    try:
        table = pa.Table.from_pylist(list(rows))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(f"{path}: these rows do not fit one parquet schema ({error}); a column "
                         "mixes types (string prompts and chat messages?)") from None
    temporary = Path(f"{path}.writing")
    pa.parquet.write_table(table, temporary)
    temporary.replace(path)


def read_rows(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a JSONL or ``.parquet`` file, each with its number (a JSONL file's physical
    line, a parquet file's row from 1), for errors that name ``path:number``."""
    if not is_parquet(path):
        return read_jsonl_lines(path)
    return list(enumerate(read_parquet(path), start=1))


def partial_path(path: str | Path) -> Path:
    """Where the rows of a parquet output go while a run is under way (parquet files cannot be
    appended to): ``x.parquet.partial.jsonl``, turned into ``x.parquet`` when every row is in."""
    return Path(f"{path}.partial.jsonl")


def completed_output(path: str | Path) -> list[dict[str, Any]]:
    """The rows already in an output file (JSONL, or a parquet file and its partial rows)."""
    if not is_parquet(path):
        return completed_rows(path)
    if Path(path).exists():
        return [row for _, row in read_rows(path)]
    return completed_rows(partial_path(path))


def finish_parquet(path: str | Path) -> None:
    """Write ``path`` from its partial rows, then remove them."""
    partial = partial_path(path)
    try:
        write_parquet(completed_rows(partial), path)
    except ValueError as error:
        raise ValueError(f"{error}. Write JSONL instead; the scored rows are in {partial}") from None
    partial.unlink()


def reopen_parquet(path: str | Path) -> None:
    """Turn a finished parquet output back into partial rows, so that more rows can be added
    (an input that grew since)."""
    rows = [row for _, row in read_rows(path)]
    with JsonlAppender(partial_path(path)) as out:
        for row in rows:
            out.write(row)
    Path(path).unlink()
