"""Models in worker processes (``rewardmine serve``'s default): the same rewards as in process,
errors that keep their type, a worker that fails to load or dies is reported, never hidden."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import time

import pytest

pytest.importorskip("fastapi")
requests = pytest.importorskip("requests")

from rewardmine import EndogenousReward  # noqa: E402
from rewardmine.cli import serve as serve_cli  # noqa: E402
from rewardmine.errors import ContextLengthError  # noqa: E402
from rewardmine.server.run import BackgroundServer  # noqa: E402
from rewardmine.server.scoring import encode_chat, load_endogenous_runner  # noqa: E402
from rewardmine.server.worker import ModelWorker, WorkerDied, default_worker_threads  # noqa: E402

PROMPTS = ["What is 2+2?", "What is 2+2?", [{"role": "user", "content": "Name a colour."}]]
RESPONSES = ["4", "It is 5.", "Blue."]


def make_judge():
    """Built in the judge worker by ``--judge test_server_worker:make_judge``."""
    from test_server_app import LengthJudge

    return LengthJudge()


def make_slow_judge():
    """A judge that takes 2 s to load, so a restart is seen while it loads."""
    time.sleep(2)
    return make_judge()


def _torch_threads(items):
    import torch

    return [torch.get_num_threads() for _ in items]


def report_threads():
    """A worker factory whose runner answers each item with the child's torch thread count."""
    return _torch_threads


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


def test_worker_scores_like_in_process_and_errors_keep_their_type(saved_model):
    reward = EndogenousReward.from_pretrained(str(saved_model))
    items = encode_chat(reward, PROMPTS, RESPONSES, None)
    worker = ModelWorker(functools.partial(load_endogenous_runner, str(saved_model)))
    try:
        assert worker(items) == pytest.approx(reward.score_many(PROMPTS, RESPONSES), abs=1e-5)
        vocab = len(reward.tokenizer)
        with pytest.raises(ValueError, match="item 1: a token id is outside the vocabulary"):
            worker([items[0], ((1, 2), (vocab + 7,))])
        with pytest.raises(ContextLengthError, match="never truncates") as caught:
            worker([((1,) * 600, (2,))])
        assert (caught.value.index, caught.value.length, caught.value.limit) == (0, 601, 512)
        assert worker(items[:1]) == pytest.approx(reward.score_many(PROMPTS[:1], RESPONSES[:1]),
                                                  abs=1e-5)  # still serving after errors
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerDied, match="exited and a new one is loading") as died:
            wait_dead(worker, items)
        assert died.value.retry_after >= 1
        wait_until(lambda: worker.alive, 60)  # restarted in the background
        assert worker.restarts == 1
        assert worker(items) == pytest.approx(reward.score_many(PROMPTS, RESPONSES), abs=1e-5)
    finally:
        worker.close()
    assert not worker.alive


def test_worker_threads_are_set_in_the_child_and_kept_across_a_restart():
    worker = ModelWorker(report_threads, torch_threads=1)
    try:
        assert worker(["a", "b"]) == [1, 1]
        os.kill(worker.pid, signal.SIGKILL)
        wait_until(lambda: worker.restarts == 1 and worker.alive, 60)
        assert worker(["a"]) == [1]  # the new child got the same setting
    finally:
        worker.close()
    with pytest.raises(ValueError, match="torch_threads must be at least 1"):
        ModelWorker(report_threads, torch_threads=0)


def test_small_hosts_default_to_one_worker_thread():
    assert [default_worker_threads(n) for n in (1, 2, 3, 16)] == [1, 1, None, None]
    assert default_worker_threads() == default_worker_threads(os.cpu_count())
    args = serve_args("--endogenous-model", "m")
    assert args.worker_threads is None  # the CLI passes "auto": ModelWorker resolves it as above
    assert serve_args("--endogenous-model", "m", "--worker-threads", "3").worker_threads == 3
    worker = ModelWorker(report_threads)  # "auto"
    try:
        assert worker.torch_threads == default_worker_threads()
        if worker.torch_threads is not None:  # a small host: the child runs one thread
            assert worker(["a"]) == [worker.torch_threads]
    finally:
        worker.close()


def wait_until(condition, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def wait_dead(worker, items):
    """Call until the killed process is seen gone (the kill is asynchronous)."""
    for _ in range(200):
        worker(items)
        time.sleep(0.05)


def test_a_model_that_fails_to_load_raises_at_start(tmp_path):
    with pytest.raises(OSError):
        ModelWorker(functools.partial(load_endogenous_runner, str(tmp_path / "missing")))


def test_serve_with_workers_answers_and_reports_a_dead_worker(saved_model):
    app = serve_cli.build(serve_args("--endogenous-model", str(saved_model),
                                     "--judge", "test_server_worker:make_slow_judge"))
    workers = {kind: b.run for kind, b in app.app.state.batchers.items()}
    assert all(isinstance(w, ModelWorker) and w.alive for w in workers.values())
    expected = EndogenousReward.from_pretrained(str(saved_model)).score(PROMPTS[0], RESPONSES[:2])
    with BackgroundServer(app) as server:
        assert requests.get(server.url + "/health").json()["status"] == "healthy"
        reply = requests.post(server.url + "/v1/score",
                              json={"prompt": PROMPTS[0], "responses": RESPONSES[:2]})
        assert reply.json()["rewards"] == pytest.approx(expected, abs=1e-5)
        verdict = requests.post(server.url + "/v1/judge", json={
            "principle": "longer is better", "prompt": "Q", "responses": ["a", "abc"]}).json()
        assert verdict["ranking"] == ["1", "0"]
        assert requests.post(server.url + "/v1/score", json={
            "prompt": "x" * 2000, "responses": ["y"]}).status_code == 400  # too long: named

        os.kill(workers["judge"].pid, signal.SIGKILL)
        wait_until(lambda: not workers["judge"]._child.process.is_alive(), 10)
        health = requests.get(server.url + "/health")  # restarting without waiting for a call
        assert health.status_code == 503 and "judge worker is loading" in \
            health.json()["detail"] and int(health.headers["Retry-After"]) >= 1
        judged = {"principle": "p", "prompt": "Q", "responses": ["a"]}
        dead = requests.post(server.url + "/v1/judge", json=judged)  # it loads for 2 s
        assert dead.status_code == 503 and "new one is loading" in dead.json()["detail"]
        assert int(dead.headers["Retry-After"]) >= 1
        reply = requests.post(server.url + "/v1/score",  # the other model is unaffected
                              json={"prompt": PROMPTS[0], "responses": RESPONSES[:2]})
        assert reply.json()["rewards"] == pytest.approx(expected, abs=1e-5)
        wait_until(lambda: requests.get(server.url + "/health").status_code == 200, 60)
        assert requests.post(server.url + "/v1/judge", json=judged).status_code == 200
    assert not any(w.alive for w in workers.values())  # shutdown stopped the judge worker too


def _judge_unless_hung(items):
    from test_server_app import LengthJudge

    if any(item["prompt"] == "hang" for item in items):
        time.sleep(120)
    return LengthJudge().judge_many(items)


def hanging_judge():
    """A judge worker whose call on the prompt "hang" never comes back in a test's time."""
    return _judge_unless_hung


GOOD = {"principle": "p", "prompt": "Q", "responses": {"a": "xx", "b": "x"}}


def test_abandoned_and_hung_calls_are_cancelled_and_health_tells():
    """A call that outlives every request in it is not left to block the next ones: the worker
    process is killed and replaced (a call that hangs, and a process stopped with SIGSTOP), and
    /health says 503 until the new one answers."""
    from rewardmine.server.app import ServerConfig, create_app

    worker = ModelWorker(hanging_judge, name="judge", torch_threads=1)
    app = create_app(run_judge=worker, config=ServerConfig(request_timeout_s=1.0))
    with BackgroundServer(app) as server:
        def post(body):
            return requests.post(server.url + "/v1/judge", json=body, timeout=60)

        assert post(GOOD).status_code == 200
        assert post({**GOOD, "prompt": "hang"}).status_code == 504
        wait_until(lambda: worker.restarts == 1, 60)  # killed, then loaded anew
        wait_until(lambda: requests.get(server.url + "/health").status_code == 200, 60)
        assert post(GOOD).status_code == 200
        os.kill(worker.pid, signal.SIGSTOP)  # a hung process: alive, never answering
        assert post(GOOD).status_code == 504
        wait_until(lambda: worker.restarts == 2, 60)
        wait_until(lambda: requests.get(server.url + "/health").status_code == 200, 60)
        assert post(GOOD).status_code == 200
        stats = requests.get(server.url + "/health").json()["stats"]["judge"]
        assert stats["cancelled"] == 2 and stats["timed_out"] == 2


def test_health_is_unhealthy_while_an_in_process_call_outlives_the_timeout():
    """A call in this process cannot be killed; /health answers 503 while it runs past the
    request timeout, and 200 again once it ends."""
    from rewardmine.server.app import ServerConfig, create_app
    from test_server_app import LengthJudge

    app = create_app(judge=LengthJudge(delay_s=3.0), config=ServerConfig(request_timeout_s=1.0))
    with BackgroundServer(app) as server:
        assert requests.post(server.url + "/v1/judge", json=GOOD, timeout=60).status_code == 504
        wait_until(lambda: requests.get(server.url + "/health").status_code == 503, 10)
        assert "is stuck" in requests.get(server.url + "/health").json()["detail"]
        wait_until(lambda: requests.get(server.url + "/health").status_code == 200, 10)
