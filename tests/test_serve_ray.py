"""`rewardmine serve --replicas 2` on a real local Ray Serve (2 CPUs): the single server's answers,
spread over both replicas, and a killed replica restarted by Serve."""

from __future__ import annotations

import functools
import os
import signal
import time

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")
requests = pytest.importorskip("requests")
pytest.importorskip("fastapi")

from rewardmine.cli import build_parser  # noqa: E402
from rewardmine.cli.serve import build, build_replica  # noqa: E402
from rewardmine.server.run import BackgroundServer, free_port  # noqa: E402

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
REQUEST = {"prompt": "What is 2+2?", "responses": ["4", "It is four.", "five"]}


def serve_args(model, port):
    return build_parser().parse_args([
        "serve", "--endogenous-model", str(model), "--api-key", KEY, "--port", str(port),
        "--max-items-per-request", "8", "--max-queue", "64"])


@pytest.fixture(scope="module")
def replicas(saved_model):
    from rewardmine.distributed.ray_serve import serve_replicas, shutdown

    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    args = serve_args(saved_model, free_port())
    url = serve_replicas(functools.partial(build_replica, args), replicas=2,
                         cpus_per_replica=1, max_ongoing_requests=32, port=args.port)
    yield url, args
    shutdown()
    ray.shutdown()


def post(url, path, body, headers=AUTH, timeout=60):
    return requests.post(url + path, json=body, headers=headers, timeout=timeout)


def spread(url, n=24):
    """The replicas (id, pid) that answered ``n`` concurrent requests."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(url, "/v1/score", REQUEST), range(n)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return {(a.headers["x-rewardmine-replica"], a.headers["x-rewardmine-pid"]) for a in answers}


def test_same_answers_as_one_server_spread_over_both(replicas, saved_model):
    url, args = replicas
    one = build(argparse_in_process(args))
    many = {"prompts": ["Q1", "Q2", "Q1"], "responses": ["a", "b", "c"], "system": "Be brief."}
    with BackgroundServer(one) as local:
        for path, body in (("/v1/score", REQUEST), ("/v1/score_many", many)):
            want = post(local.url, path, body)
            got = post(url, path, body)
            assert got.status_code == want.status_code == 200
            assert got.json() == want.json()
        for headers, body, path in ((None, REQUEST, "/v1/score"),  # the same errors
                                    (AUTH, {**REQUEST, "responses": ["x"] * 9}, "/v1/score"),
                                    (AUTH, {"prompts": ["a"], "responses": []},
                                     "/v1/score_many"),
                                    (AUTH, {"prompt": "Q", "responses": ["a"]}, "/v1/judge")):
            want = post(local.url, path, body, headers=headers)
            got = post(url, path, body, headers=headers)
            assert got.status_code == want.status_code != 200, path
            assert got.json() == want.json()
    assert len(spread(url)) == 2


def argparse_in_process(args):
    import argparse

    return argparse.Namespace(**{**vars(args), "in_process": True})


def test_a_killed_replica_is_restarted_and_the_url_answers(replicas):
    url, _ = replicas
    before = spread(url)
    _, pid = sorted(before)[0]
    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 90
    while True:  # the survivor answers meanwhile; Serve starts a new replica beside it
        seen = spread(url, n=16)
        if len(seen) == 2 and not any(p == pid for _, p in seen):
            break
        assert time.monotonic() < deadline, f"no second replica after the kill: {seen}"
        time.sleep(1)
    assert len(seen - before) == 1  # one new replica, the other one kept


def test_the_router_resends_a_request_whose_replica_died_then_answers_503(monkeypatch):
    import asyncio

    from ray import exceptions as ray_errors

    from rewardmine.distributed import ray_serve

    async def no_wait(seconds):
        return None

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    calls = []

    async def dies_once(*request):
        calls.append(request)
        if len(calls) == 1:
            raise ray_errors.ActorDiedError()
        return 200, [(b"content-type", b"application/json")], b'{"rewards": [1.0]}'

    request = ("POST", "/v1/score", b"", [], b"{}")
    assert asyncio.run(ray_serve.Router(dies_once).answer(*request))[0] == 200
    assert len(calls) == 2 and calls[0] == calls[1] == request  # the same request, resent

    async def always_dead(*request):
        raise ray_errors.ActorUnavailableError("gone", None)

    status, headers, body = asyncio.run(ray_serve.Router(always_dead).answer(*request))
    assert status == 503 and (b"retry-after", b"2") in headers and b"retry" in body

    async def a_bug(*request):
        raise ValueError("a bug in the app")

    with pytest.raises(ValueError, match="a bug"):  # only a replica's death is resent
        asyncio.run(ray_serve.Router(a_bug).answer(*request))


def test_an_asgi_call_in_process_returns_status_headers_and_body():
    import asyncio

    from fastapi import FastAPI

    from rewardmine.distributed.ray_serve import call_asgi

    app = FastAPI()

    @app.post("/echo")
    async def echo(payload: dict):
        return {"got": payload}

    status, headers, body = asyncio.run(call_asgi(app, "POST", "/echo", b"",
                                                  [(b"content-type", b"application/json")],
                                                  b'{"a": 1}'))
    assert status == 200 and body == b'{"got":{"a":1}}'
    assert (b"content-type", b"application/json") in headers


def test_a_taken_port_is_refused_before_serve_starts():
    import socket

    from rewardmine.distributed.ray_serve import serve_replicas
    from rewardmine.errors import RewardmineError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RewardmineError, match=f"port {port} on 127.0.0.1 is taken.*"
                                                  "serve shutdown -y"):
            serve_replicas(lambda: None, replicas=1, port=port)
