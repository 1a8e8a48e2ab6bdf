"""Every runnable block of the docs (and the README) is accounted for, and the marked ones run as
written and print what their page shows.

A block is runnable when it is ``python``, ``bash``, ``sh`` or ``console``, or a plain block of
``$ command`` lines (a transcript: each command is followed by what it printed). The line right
before its opening fence says what the tests do with it:

- ``<!-- test: run -->`` (python): runs alone in an empty folder and prints the output block that
  follows it (``<!-- test: run from the repository root -->``: in the repository root);
- ``<!-- test: session NAME -->``: runs in the page's folder NAME, in page order, after the
  blocks before it in that session; a plain block so marked with ``, file PATH`` is written to
  PATH there first. Its output block, or for a transcript each command's lines, must match (a
  shell command's stderr counts: the commands print their messages there);
- ``<!-- test: by tests/FILE.py -->``: run or checked by that test, which names the page
  (``<!-- test: extra NAME -->``: by tests/test_extras.py, in the extra's own environment);
- ``<!-- test: not run: REASON -->``: not run, and why (a GPU, an 8B download, hours of CPU).

A session folder holds links to the repository's top-level folders (``examples``, ``src``,
``tests``, ...), so paths in the docs resolve while what a command writes stays in the folder;
``REWARDMINE_DATA`` names the shared data beside the checkout.
Hub model ids in the examples resolve, offline, to tiny random stand-ins saved in a hub cache
(:func:`rewardmine.testing.hub_stand_in`): the loading path is the hub's own, the numbers are the
stand-in's, so blocks that load one show no output the test compares.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from doc_transcripts import transcript_steps

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = ("examples", "src", "tests", "benchmarks", "experiments", "scripts")
# hub ids named by runnable doc blocks -> the tiny stand-in's architecture
STAND_INS = {"Qwen/Qwen2.5-0.5B-Instruct": "qwen2", "Qwen/Qwen2.5-7B-Instruct": "qwen2"}
MARKER = re.compile(r"<!-- test: (run(?: from the repository root)?|session [\w-]+(?:, file \S+)?"
                    r"|by tests/\S+\.py|extra \w+|not run: .+) -->")
RUNNABLE = {"python", "bash", "sh", "console"}
PROGRESS = re.compile(r"^[\w .-]+: +\d+%\|.*\]\n", re.M)  # rewardmine.progress's lines, off a terminal


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marker: str | None
    output: str | None  # the plain block right after it (blank lines between), if any

    @property
    def transcript(self) -> bool:
        return self.lang == "" and self.code.startswith("$ ")

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE or self.transcript


def blocks(page: Path) -> list[Block]:
    """The page's fenced blocks (a fence closes only on a bare ```), in order."""
    lines = page.read_text().split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"```([\w-]*)\s*", lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if re.fullmatch(r"```\s*", lines[j]))
        before = lines[i - 1].strip() if i else ""
        marker = MARKER.fullmatch(before)
        found.append(Block(page.name, i + 1, opening.group(1), "\n".join(lines[i + 1:end]) + "\n",
                           marker.group(1) if marker else None, None))
        i = end + 1
        gap = i
        while gap < len(lines) and not lines[gap].strip():
            gap += 1
        if gap + 1 < len(lines) and re.fullmatch(r"```\s*", lines[gap]) \
                and found[-1].runnable and not found[-1].transcript \
                and not lines[gap + 1].startswith("$ "):  # a transcript is no block's output
            close = next(j for j in range(gap + 1, len(lines)) if re.fullmatch(r"```\s*", lines[j]))
            found[-1].output = "\n".join(lines[gap + 1:close]) + "\n"
            i = close + 1
    return found


ALL = [b for page in PAGES for b in blocks(page)]
RUN = [b for b in ALL if b.marker and b.marker.startswith("run")]
SESSIONS: dict[tuple[str, str], list[Block]] = {}
for _block in ALL:
    if _block.marker and _block.marker.startswith("session "):
        _name = _block.marker.split()[1].rstrip(",")
        SESSIONS.setdefault((_block.page, _name), []).append(_block)


def test_every_runnable_block_says_how_it_is_tested():
    unmarked = [f"{b.page}:{b.line}" for b in ALL if b.runnable and b.marker is None]
    assert not unmarked, f"runnable blocks without a test marker: {unmarked}"
    for b in ALL:
        if b.marker and b.marker.startswith("by "):
            test = ROOT / b.marker[3:]
            assert test.is_file(), f"{b.page}:{b.line}: {test} does not exist"
            assert b.page in test.read_text(), f"{b.page}:{b.line}: {test.name} never names it"
        if b.marker and b.marker.startswith(("run", "session")) and not b.runnable:
            assert ", file " in b.marker, f"{b.page}:{b.line}: a {b.lang or 'plain'} block runs"


def test_the_page_parser_finds_what_it_should():
    assert len(RUN) + sum(map(len, SESSIONS.values())) >= 35
    text = "".join(p.read_text() for p in PAGES)
    assert text.count("<!-- test: ") == sum(b.marker is not None for b in ALL)


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory) -> Path:
    from rewardmine.testing import hub_stand_in

    cache = tmp_path_factory.mktemp("hub")
    for repo_id, architecture in STAND_INS.items():
        hub_stand_in(cache, repo_id, architecture=architecture)
    return cache


def environment(hub_cache: Path) -> dict[str, str]:
    """The reader's environment: their checkout's code, the shared data where a checkout beside
    it has it (as ``../shared/data`` is found from the repository root), no hub."""
    data = os.environ.get("REWARDMINE_DATA") or str(ROOT.parent / "shared" / "data")
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1",
            "REWARDMINE_DATA": data,
            "HF_HUB_CACHE": str(hub_cache), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error", "PYTHONUNBUFFERED": "1"}


def session_folder(tmp_path: Path) -> Path:
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def execute(block: Block, cwd: Path, env: dict[str, str]) -> tuple[str, Path]:
    """Run one block: what it printed (stdout, and a shell block's stderr too) and the folder
    the next block starts in (a shell block's ``cd`` carries over, as in the reader's shell).
    What a shell block left running in the background (a server) is stopped after it."""
    if block.lang == "python":
        done = subprocess.run([sys.executable, "-c", block.code], capture_output=True,
                              text=True, cwd=cwd, timeout=600, env=env)
        assert done.returncode == 0, f"{block.page}:{block.line}\n{done.stderr[-3000:]}"
        return done.stdout, cwd
    where, log = cwd / ".doc-test-cwd", cwd / ".doc-test-output"
    script = f"set -eo pipefail\n{block.code}\npwd > {shlex.quote(str(where))}\n"
    with log.open("w") as out:  # a file, not a pipe: a background server would hold a pipe open
        shell = subprocess.Popen(["bash", "-c", script], stdout=out, stderr=subprocess.STDOUT,
                                 text=True, cwd=cwd, env=env, start_new_session=True)
        try:
            shell.wait(timeout=600)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
    printed = log.read_text()
    assert shell.returncode == 0, f"{block.page}:{block.line}\n{printed[-3000:]}"
    return without_progress(printed), Path(where.read_text().strip())


def without_progress(text: str) -> str:
    return PROGRESS.sub("", text)


def transcript(block: Block, cwd: Path, env: dict[str, str]) -> None:
    """Each ``$ command`` (with its ``\\`` continuation lines) prints the lines after it."""
    steps = transcript_steps(block.code)
    for command, shown in steps:
        done = subprocess.run(["bash", "-c", command], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, cwd=cwd, timeout=600, env=env)
        out = without_progress(done.stdout)
        printed = out.rstrip("\n").split("\n") if out.strip() else []
        assert printed == shown, (f"{block.page}:{block.line}: `{command}` printed:\n"
                                  + "\n".join(printed))


@pytest.mark.parametrize("block", RUN, ids=[f"{b.page}:{b.line}" for b in RUN])
def test_a_doc_example_prints_what_its_page_shows(block, tmp_path, hub_cache):
    assert block.lang == "python" and block.output is not None, f"{block.page}:{block.line}"
    cwd = ROOT if block.marker.endswith("repository root") else tmp_path
    printed, _ = execute(block, cwd, environment(hub_cache))
    assert printed == block.output, f"docs/{block.page}:{block.line} printed:\n{printed}"


@pytest.mark.parametrize("key", list(SESSIONS), ids=[f"{p}:{s}" for p, s in SESSIONS])
def test_a_doc_session_runs_as_written(key, tmp_path, hub_cache):
    cwd, env = session_folder(tmp_path), environment(hub_cache)
    for block in SESSIONS[key]:
        if ", file " in block.marker:
            target = cwd / block.marker.split(", file ")[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
        elif block.transcript:
            transcript(block, cwd, env)
        else:
            printed, cwd = execute(block, cwd, env)
            if block.output is not None:
                assert printed == block.output, f"{block.page}:{block.line} printed:\n{printed}"
