"""docs/scale.md as a user runs it: every ```console session on the page runs as written.

Each ``$ `` line (with ``\\`` continuations) runs in bash in a folder that holds this checkout's
``src``, ``examples`` and ``tests`` (the paths the page uses), with ``rewardmine`` on PATH, and
must print the lines shown under it (numbers to 1e-4), in order, among what a terminal shows
(stdout and stderr: rewardmine's messages go to stderr, beside Ray's own log lines). A command
ending in ``&`` is a server: it is started, its first printed line must be the one shown, and it
is stopped (SIGTERM) when the session ends. The Ray commands join a cluster started the way users
start one, ``ray start --head`` in another directory (so a relative path that reached a worker
unresolved would name another folder there), through ``RAY_ADDRESS``. The ```bash blocks are
what needs GPUs or vLLM: the page says they were not run here, and this test only checks that
they parse as shell.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doc_transcripts import transcript_steps

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "scale.md").read_text()
NUMBER = r"-?\d+\.\d+(?:e-?\d+)?"


def sessions() -> list[list[tuple[str, list[str]]]]:
    """Each console block as (command, shown output lines) pairs."""
    return [transcript_steps(block) for block in re.findall(r"```console\n(.*?)```", DOCS,
                                                             flags=re.S)]


def shown_in_order(printed: list[str], shown: list[str]) -> bool:
    """Every shown line is one of the printed lines, in the page's order."""
    at = 0
    for line in shown:
        while at < len(printed) and not same([printed[at]], [line]):
            at += 1
        if at == len(printed):
            return False
        at += 1
    return True


def same(printed: list[str], shown: list[str]) -> bool:
    values = [[float(x) for s in lines for x in re.findall(NUMBER, s)]
              for lines in (printed, shown)]
    words = [[re.sub(NUMBER, "N", s) for s in lines] for lines in (printed, shown)]
    return words[0] == words[1] and values[0] == pytest.approx(values[1], abs=1e-4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    where = tmp_path_factory.mktemp("scale-docs")
    for name in ("src", "examples", "tests"):
        (where / name).symlink_to(ROOT / name)
    bin_dir = where / "bin"
    bin_dir.mkdir()
    for name, command in (("rewardmine", f"{sys.executable} -m rewardmine.cli"),
                          ("python", sys.executable)):
        shim = bin_dir / name
        shim.write_text(f"#!/bin/sh\nexec {command} \"$@\"\n")
        shim.chmod(0o755)
    elsewhere = tmp_path_factory.mktemp("ray-start-cwd")  # the workers' working directory
    port = _free_port()
    # Ray 2.60's `ray start` turns token authentication on where a token file is lying around
    # (~/.ray/auth_token, left by an earlier ray.init) while clients default to none: this
    # test's cluster runs without it, as docs/scale.md says
    ray_env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats"], cwd=elsewhere, env=ray_env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"127.0.0.1:{port}"
    env = {**ray_env, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RAY_ADDRESS": address}
    try:
        for _ in range(240):  # the head takes a few seconds to come up on a busy machine
            up = subprocess.run([str(Path(sys.executable).parent / "ray"), "status",
                                 f"--address={address}"], capture_output=True, timeout=60,
                                env=ray_env)
            if up.returncode == 0:
                break
            assert head.poll() is None, "ray start --head exited"
            time.sleep(0.5)
        else:
            pytest.fail("the Ray head did not come up")
        yield where, env
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block: ray start stops what it started
        head.wait(120)
        # `ray start` left its address where a later ray.init() without one would look for a
        # cluster to join (and fail on this dead one): take it back
        from ray._private.utils import get_ray_address_file

        record = Path(get_ray_address_file(None))
        if record.exists() and record.read_text().strip().endswith(f":{port}"):
            record.unlink()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("index", range(len(sessions())))
def test_console_sessions_run_as_written(index, folder):
    where, env = folder
    servers = []
    try:
        for command, shown in sessions()[index]:
            if command.endswith("&"):
                server = subprocess.Popen(["bash", "-c", command[:-1]], cwd=where, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True, start_new_session=True)
                servers.append(server)
                first = server.stdout.readline().rstrip("\n")  # printed once it answers
                assert same([first], shown), (command, first)
                continue
            done = subprocess.run(["bash", "-c", command], cwd=where, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            printed = done.stdout.rstrip("\n").splitlines()
            assert done.returncode == 0, (command, printed[-40:])
            assert shown_in_order(printed, shown), (command, printed)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(120)


def test_the_commands_not_run_here_parse_as_shell():
    blocks = re.findall(r"```bash\n(.*?)```", DOCS, flags=re.S)
    assert blocks
    for block in blocks:
        done = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
        assert done.returncode == 0, (block, done.stderr)
