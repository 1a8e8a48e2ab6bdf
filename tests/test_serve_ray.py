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
