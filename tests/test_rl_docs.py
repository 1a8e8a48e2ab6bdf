"""docs/rl.md as a user reads it: its Python snippets and shell commands run as written, in a
folder holding the tiny model its first snippet saves, and print what the page shows.

The peers' commands (verl's ``main_ppo``, OpenRLHF's ``train_ppo_ray``) run in their own
environments in tests/test_rl_peers.py; the TRL recipe command in tests/test_rl_recipes.py.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "rl.md").read_text()


def blocks(language: str) -> list[tuple[str, str | None]]:
    """Each fenced block of ``language`` and the plain output block right after it, if any."""
    found = re.finditer(rf"```{language}\n(.*?)```\n(?:\s*```\n(.*?)```)?", DOCS, flags=re.S)
    return [(m.group(1), m.group(2)) for m in found]


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The reader's folder: tiny-rm from the page's first snippet, judges.py as the page says."""
    where = tmp_path_factory.mktemp("docs")
    first, _ = blocks("python")[0]
    assert first.startswith("# make_tiny.py")
    run_python(first, where)
    judge = next(code for code, _ in blocks("python") if "class ShortestWins" in code)
    (where / "judges.py").write_text(judge.split("reward_func = ")[0]
                                     + "\n\ndef make():\n    return ShortestWins()\n")
    bin_dir = where / "bin"  # `rewardmine` as installed, running this checkout
    bin_dir.mkdir()
    shim = bin_dir / "rewardmine"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m rewardmine.cli \"$@\"\n")
    shim.chmod(0o755)
    return where


def env_for(folder: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{folder}",
            "PATH": f"{folder / 'bin'}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}


def run_python(code: str, folder: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=folder, env=env_for(folder), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SNIPPETS = [(code, out) for code, out in blocks("python")
            if out is not None and "rewardanything" not in code]


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_python_snippets_print_what_the_page_shows(index, folder):
    code, shown = SNIPPETS[index]
    printed = run_python(code, folder)
    assert numbers(printed) == pytest.approx(numbers(shown), abs=1e-4), printed
    assert re.sub(r"-?\d+\.\d+(e-?\d+)?", "N", printed.strip()) == re.sub(
        r"-?\d+\.\d+(e-?\d+)?", "N", shown.strip())


def test_serve_and_curl_commands_as_written(folder):
    (serve, _), = [b for b in blocks("bash") if b[0].startswith("rewardmine serve")]
    (curl, shown), = [b for b in blocks("bash") if b[0].startswith("curl ")]
    server = subprocess.Popen(["bash", "-c", serve], cwd=folder, env=env_for(folder),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"--port (\d+)", serve).group(1))
        deadline = time.monotonic() + 600  # loading torch and the model on a busy 2-core box
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()[-3000:]
                assert time.monotonic() < deadline, f"rewardmine serve not up on port {port}"
                time.sleep(0.5)
        done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, cwd=folder,
                              env=env_for(folder), timeout=60)
    finally:
        server.terminate()
        server.wait(30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rewards"] == pytest.approx(
        json.loads(shown)["rewards"], abs=1e-4)


def test_every_python_snippet_parses():
    for code, _ in blocks("python"):
        ast.parse(code)
