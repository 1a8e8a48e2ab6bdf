"""What the benchmark scripts share: timing, the machine's name, and a ``rewardmine serve``
subprocess on loopback that is healthy before it is used. Imported by the scripts in this folder
(``python benchmarks/NAME.py`` puts the folder on ``sys.path``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import requests

from rewardmine.models import cpu_description, cpu_name

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

__all__ = ["ROOT", "cpu_description", "cpu_name", "start_server", "timed", "wait_healthy"]


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def start_server(args: Sequence[str], *, port: int, env: dict[str, str] | None = None,
                 log: Path | None = None, timeout_s: float = 120.0) -> subprocess.Popen:
    """``rewardmine serve ARGS --port PORT`` on 127.0.0.1 from this checkout's ``src``, returned
    once its ``/health`` answers 200 (the process is killed if it never does)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    output: Any = log.open("w") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "rewardmine.cli", "serve", *args, "--host", "127.0.0.1",
         "--port", str(port)],
        env=environment, stdout=output, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, timeout_s=timeout_s)
    except BaseException:
        process.kill()
        raise
    return process


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Wait for ``url``/health to answer 200; the process exiting first is an error."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            reply = requests.get(url + "/health", timeout=5)
            if reply.status_code == 200:
                return
            last = reply.text
        except requests.RequestException as error:
            last = repr(error)
        time.sleep(0.2)
    raise RuntimeError(f"the server did not become healthy in {timeout_s:g} s: {last}")
