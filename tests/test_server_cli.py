"""``rewardmine serve`` as a real process: load, answer, shut down cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
requests = pytest.importorskip("requests")

from rewardmine import EndogenousReward  # noqa: E402
from rewardmine.server.run import free_port  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


def test_serve_command_scores_and_stops_on_sigterm(saved_model):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "REWARDMINE_API_KEYS": "k1,k2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rewardmine.cli", "serve", "--endogenous-model", str(saved_model),
         "--port", str(port), "--max-wait-ms", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        reply = requests.post(url + "/v1/score", headers={"Authorization": "Bearer k2"},
                              json={"prompt": "What is 2+2?", "responses": ["4"]}, timeout=30)
        expected = EndogenousReward.from_pretrained(str(saved_model)).score("What is 2+2?", ["4"])
        assert reply.json()["rewards"] == pytest.approx(expected, abs=1e-5)
        assert requests.post(url + "/v1/judge", headers={"Authorization": "Bearer k1"}, json={
            "prompt": "Q", "responses": ["a"]}).status_code == 404  # no judge loaded
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn finishes its graceful shutdown, then re-raises the signal it caught
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "leaked semaphore" not in output and "Traceback" not in output, output


def test_serve_needs_a_model():
    result = subprocess.run([sys.executable, "-m", "rewardmine.cli", "serve"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode != 0 and "give --endogenous-model" in result.stderr


@pytest.mark.parametrize("flags, env", [(["--api-key", ""], None), ([], ""), ([], "good,"),
                                        (["--api-key", "good"], " ")])
def test_serve_refuses_empty_api_keys(saved_model, flags, env):
    environ = {**os.environ, "PYTHONPATH": str(SRC)}
    environ.pop("REWARDMINE_API_KEYS", None)
    if env is not None:
        environ["REWARDMINE_API_KEYS"] = env
    result = subprocess.run(
        [sys.executable, "-m", "rewardmine.cli", "serve", "--endogenous-model", str(saved_model),
         "--port", str(free_port()), *flags],
        capture_output=True, text=True, env=environ, timeout=120)
    assert result.returncode != 0 and "empty or blank" in result.stderr, result.stderr
    where = "REWARDMINE_API_KEYS" if env is not None else "--api-key"
    assert result.stderr.startswith(f"rewardmine serve: {where}: "), result.stderr


def test_a_queue_smaller_than_a_request_is_refused_at_startup(saved_model, cli_error):
    message = cli_error(["serve", "--endogenous-model", str(saved_model), "--max-queue", "10",
                         "--max-items-per-request", "20"])
    assert "max_queue (10) is below max_items_per_request (20)" in message
