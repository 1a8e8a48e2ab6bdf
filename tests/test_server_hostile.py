"""Hostile input and faults against real servers on loopback, in both modes (``--in-process``
and model worker processes): every corpus case answers 4xx (never 5xx) and the server answers a
known-good request right after; a worker killed under load is restarted and nothing is lost or
mixed up; stalled bodies, shutdown past the graceful timeout and a stuck encoder are bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
requests = pytest.importorskip("requests")

from hostile import GOOD_JUDGE, GOOD_SCORE, KEY, corpus  # noqa: E402
from rewardmine import EndogenousReward  # noqa: E402
from rewardmine.cli import serve as serve_cli  # noqa: E402
from rewardmine.server.app import ServerConfig, create_app  # noqa: E402
from rewardmine.server.connections import ConnectionLimits  # noqa: E402
from rewardmine.server.run import BackgroundServer  # noqa: E402
from test_server_app import LengthJudge  # noqa: E402
from test_server_worker import serve_args, wait_until  # noqa: E402

MAX_ITEMS, MAX_BODY = 300, 1_000_000
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def reward(saved_model):
    return EndogenousReward.from_pretrained(str(saved_model))


@pytest.fixture(scope="module")
def in_process(reward):
    config = ServerConfig(api_keys=(KEY,), max_items_per_request=MAX_ITEMS,
                          max_body_bytes=MAX_BODY, max_wait_ms=2)
    with BackgroundServer(create_app(endogenous=reward, judge=LengthJudge(),
                                     config=config)) as running:
        yield running


@pytest.fixture(scope="module")
def workers(saved_model):
    app = serve_cli.build(serve_args(
        "--endogenous-model", str(saved_model), "--judge", "test_server_worker:make_judge",
        "--api-key", KEY, "--max-items-per-request", str(MAX_ITEMS),
        "--max-body-bytes", str(MAX_BODY), "--max-wait-ms", "2"))
    with BackgroundServer(app) as running:
        running.workers = {kind: b.run for kind, b in app.app.state.batchers.items()}
        yield running


@pytest.fixture(params=["in-process", "worker"])
def server(request):
    return request.getfixturevalue("in_process" if request.param == "in-process" else "workers")


def send(server, case):
    headers = {"Content-Type": "application/json", **AUTH, **case.headers}
    headers = {k: v for k, v in headers.items() if v}
    return requests.request(case.method, server.url + case.path, data=case.body,
                            headers=headers, timeout=30)


def check_good(server, reward):
    reply = requests.post(server.url + "/v1/score", json=GOOD_SCORE, headers=AUTH, timeout=60)
    assert reply.status_code == 200, reply.text
    expected = reward.score(GOOD_SCORE["prompt"], GOOD_SCORE["responses"])
    assert reply.json()["rewards"] == pytest.approx(expected, abs=1e-5)
    judged = requests.post(server.url + "/v1/judge", json=GOOD_JUDGE, headers=AUTH, timeout=60)
    assert judged.status_code == 200 and judged.json()["ranking"] == ["a", "b"]


def test_hostile_corpus_gets_4xx_and_the_server_keeps_serving(server, reward):
    cases = corpus(MAX_ITEMS, MAX_BODY)
    wrong, server_errors = [], []
    for case in cases:
        started = time.monotonic()
        try:
            reply = send(server, case)
        except requests.RequestException as error:  # no answer in time is a failure too
            wrong.append((case.name, "no answer", type(error).__name__))
            continue
        took = time.monotonic() - started
        if reply.status_code >= 500:
            server_errors.append((case.name, reply.status_code, reply.text[:200]))
        ok = reply.status_code in case.expect if case.expect else 400 <= reply.status_code < 500
        if case.detail is not None and case.method != "HEAD":
            ok = ok and case.detail in reply.text
        if not ok or took > 20:
            wrong.append((case.name, reply.status_code, round(took, 2), reply.text[:300]))
        check_good(server, reward)
    assert not server_errors and not wrong, (server_errors, wrong)


def test_over_context_requests_never_reach_a_model_call(server):
    stats = lambda: requests.get(server.url + "/health").json()["stats"]["endogenous"]  # noqa: E731
    before = stats()
    reply = requests.post(server.url + "/v1/score", headers=AUTH, timeout=60, json={
        "prompt": "x " * 5000, "responses": [""] * 50})
    assert reply.status_code == 400 and "item 0" in reply.json()["detail"]
    assert "has a prompt of 10012 tokens alone" in reply.json()["detail"]
    assert stats()["calls"] == before["calls"] and stats()["requests"] == before["requests"]


def test_worker_killed_under_load_restarts_and_nothing_is_mixed_up(workers, reward):
    prompts = [f"What is {i}+{i}?" for i in range(8)]
    expected = {p: reward.score(p, [str(2 * i)])[0] for i, p in enumerate(prompts)}
    stop = threading.Event()
    seen: list[tuple[int, str, object]] = []

    def client(k: int) -> None:
        n = 0
        while not stop.is_set():
            prompt = prompts[(k + n) % len(prompts)]
            n += 1
            answer = str(2 * prompts.index(prompt))
            reply = requests.post(workers.url + "/v1/score", headers=AUTH, timeout=60,
                                  json={"prompt": prompt, "responses": [answer]})
            body = reply.json()
            seen.append((reply.status_code, prompt, body if reply.status_code != 200
                         else body["rewards"][0]))
            if reply.status_code == 503:
                assert int(reply.headers["Retry-After"]) >= 1
                time.sleep(0.2)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(client, k) for k in range(6)]
        time.sleep(1.0)
        os.kill(workers.workers["endogenous"].pid, signal.SIGKILL)
        wait_until(lambda: workers.workers["endogenous"].restarts >= 1, 90)
        time.sleep(1.0)  # served again, under load
        stop.set()
        for future in futures:
            future.result()
    codes = [code for code, _, _ in seen]
    assert set(codes) <= {200, 503}, [s for s in seen if s[0] not in (200, 503)][:3]
    assert 503 in codes and codes[-1] == 200
    for code, prompt, value in seen:
        if code == 200:
            assert value == pytest.approx(expected[prompt], abs=1e-4)  # never another's reward
        else:
            assert "new one is loading" in value["detail"]
    assert requests.get(workers.url + "/health").status_code == 200


def test_stalled_bodies_are_cut_off(reward):
    config = ServerConfig(body_timeout_s=0.5)
    with BackgroundServer(create_app(endogenous=reward, config=config)) as running:
        port = int(running.url.rsplit(":", 1)[1])
        sockets = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 1000\r\n\r\n{\"prompt\": ")
            sockets.append(sock)
        started = time.monotonic()
        for sock in sockets:
            reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 408"), reply[:100]
            sock.close()
        assert time.monotonic() - started < 5
        good = requests.post(running.url + "/v1/score", json=GOOD_SCORE, timeout=30)
        assert good.status_code == 200


def _recv_all(sock):
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_idle_and_stalled_heads_are_closed_before_authentication(reward):
    """Without a key: connections that say nothing, stall inside the request head, or go
    quiet after a response are closed after the header timeout, and a good request still gets
    through beside them."""
    limits = ConnectionLimits(header_timeout_s=0.5)
    config = ServerConfig(api_keys=("secret",))
    with BackgroundServer(create_app(endogenous=reward, config=config),
                          limits=limits) as running:
        port = int(running.url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(10)]
        stalled = []
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            stalled.append(sock)
        kept_alive = socket.create_connection(("127.0.0.1", port), timeout=10)
        kept_alive.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nG")  # then one byte more
        started = time.monotonic()
        for sock in idle + stalled:
            reply = _recv_all(sock)
            assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply[:100]
            sock.close()
        reply = _recv_all(kept_alive)
        assert reply.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in reply, reply[-200:]
        assert time.monotonic() - started < 5
        good = requests.post(running.url + "/v1/score", json=GOOD_SCORE, timeout=30,
                             headers={"Authorization": "Bearer secret"})
        assert good.status_code == 200


def test_a_huge_request_head_is_refused_with_431_before_it_is_read(reward):
    limits = ConnectionLimits(max_header_bytes=16 * 1024)
    with BackgroundServer(create_app(endogenous=reward, config=ServerConfig(api_keys=("k",))),
                          limits=limits) as running:
        port = int(running.url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 32 * 1024 * 1024:  # the server closes long before 32 MiB
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        reply = _recv_all(sock)
        assert reply.startswith(b"HTTP/1.1 431"), reply[:100]
        assert sent < 32 * 1024 * 1024
        # a large but allowed head (12 KiB of headers) still passes
        ok = requests.get(running.url + "/health", headers={"X-Pad": "a" * 12_000}, timeout=30)
        assert ok.status_code == 200


def test_connections_beyond_the_limit_get_503_and_the_rest_are_served(reward):
    limits = ConnectionLimits(max_connections=8, header_timeout_s=5.0)
    with BackgroundServer(create_app(endogenous=reward), limits=limits) as running:
        port = int(running.url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
        extra = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert _recv_all(extra).startswith(b"HTTP/1.1 503")
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 10
        while True:  # the server sees the closes shortly after
            reply = requests.post(running.url + "/v1/score", json=GOOD_SCORE, timeout=30)
            if reply.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply.status_code == 200


def test_shutdown_honours_the_graceful_timeout_with_503():
    running = BackgroundServer(create_app(judge=LengthJudge(delay_s=6.0)),
                               graceful_timeout_s=1.0).start()
    replies = []
    caller = threading.Thread(target=lambda: replies.append(requests.post(
        running.url + "/v1/judge", json=GOOD_JUDGE, timeout=30)))
    caller.start()
    time.sleep(0.3)  # the request is in the model call
    started = time.monotonic()
    running.stop()
    stopped = time.monotonic() - started
    caller.join()
    assert not running.thread.is_alive() and stopped < 3.5, stopped
    assert replies[0].status_code == 503 and "graceful timeout" in replies[0].json()["detail"]
    assert int(replies[0].headers["Retry-After"]) >= 1


class SlowTokenizer:
    """A real tokenizer that takes ``delay_s`` longer on texts holding ``marker`` (a slow
    encoder, without depending on how fast this machine tokenizes)."""

    def __init__(self, tokenizer, marker: str, delay_s: float) -> None:
        self.__dict__.update(_tokenizer=tokenizer, marker=marker, delay_s=delay_s)

    def __call__(self, text, *args, **kwargs):
        if self.marker in text:
            time.sleep(self.delay_s)
        return self._tokenizer(text, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)

    def __deepcopy__(self, memo):
        import copy

        return SlowTokenizer(copy.deepcopy(self._tokenizer, memo), self.marker, self.delay_s)


def test_encoding_is_bounded_in_time_and_health_sees_a_stuck_encoder(reward):
    slow = EndogenousReward(reward.model, SlowTokenizer(reward.tokenizer, "SLOW", 0.05))
    stuck = EndogenousReward(reward.model, SlowTokenizer(reward.tokenizer, "STUCK", 3.0))
    config = ServerConfig(encode_timeout_s=0.2, max_body_bytes=64_000_000)
    with BackgroundServer(create_app(endogenous=slow, config=config)) as running:
        many = requests.post(running.url + "/v1/score", timeout=60, json={
            "prompt": "q", "responses": ["a b SLOW"] * 1000})
        assert many.status_code == 504 and "longer than 0.2 s" in many.json()["detail"]
    with BackgroundServer(create_app(endogenous=stuck, config=config)) as running:
        replies = []
        huge = threading.Thread(target=lambda: replies.append(requests.post(
            running.url + "/v1/score", timeout=120,
            json={"prompt": "q", "responses": ["word " * 600 + "STUCK"]})))
        huge.start()
        wait_until(lambda: requests.get(running.url + "/health").status_code == 503, 30)
        assert "encoder is stuck" in requests.get(running.url + "/health").json()["detail"]
        huge.join()
        assert replies[0].status_code == 400 and "context" in replies[0].json()["detail"]
        assert requests.get(running.url + "/health").status_code == 200


def test_the_rest_of_a_refused_body_is_never_read_as_the_next_request(reward):
    """A request answered before its body has arrived (413 on its Content-Length) must not leave
    the rest of that body to be read as the next request's head on the keep-alive connection:
    it was, and the server answered 431 to whatever came next (the soak run found it: a good
    request after a large hostile body). The connection closes after such a response."""
    config = ServerConfig(api_keys=("k",), max_body_bytes=1000)
    with BackgroundServer(create_app(endogenous=reward, config=config),
                          limits=ConnectionLimits()) as running:
        port = int(running.url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        body = b'{"prompt": "q", "responses": ["' + b"x" * 4_000_000 + b'"]}'
        head = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n")
        with contextlib.suppress(OSError):  # the server may close while the body streams
            sock.sendall(head)
            time.sleep(0.3)  # the 413 goes out before the body arrives
            sock.sendall(body)
        replies = _recv_all(sock)
        assert replies.startswith(b"HTTP/1.1 413"), replies[:200]
        # the client is told, so it does not send its next request on this connection
        assert b"\r\nconnection: close\r\n" in replies.split(b"\r\n\r\n")[0].lower()
        assert b"HTTP/1.1 431" not in replies, replies[:400]
        ok = requests.post(running.url + "/v1/score", json=GOOD_SCORE, timeout=30,
                           headers={"Authorization": "Bearer k"})
        assert ok.status_code == 200


def test_a_keep_alive_client_loses_nothing_after_a_refused_body(reward):
    """A session (one keep-alive connection, as clients and the soak run use) that sends a body
    refused before it is read (413 on its size, 401 on its key) and then good requests: the
    refusals say ``Connection: close``, so the client opens a new connection and every good
    request is answered 200, none lost to a connection closing under it."""
    config = ServerConfig(api_keys=("k",), max_body_bytes=1000)
    with BackgroundServer(create_app(endogenous=reward, config=config),
                          limits=ConnectionLimits()) as running:
        session = requests.Session()
        for _ in range(10):
            big = session.post(running.url + "/v1/score", timeout=30, data=b"x" * 200_000,
                               headers={"Authorization": "Bearer k"})
            assert big.status_code == 413 and big.headers["Connection"] == "close"
            wrong = session.post(running.url + "/v1/score", json=GOOD_SCORE, timeout=30,
                                 headers={"Authorization": "Bearer wrong"})
            assert wrong.status_code == 401 and wrong.headers["Connection"] == "close"
            ok = session.post(running.url + "/v1/score", json=GOOD_SCORE, timeout=30,
                              headers={"Authorization": "Bearer k"})
            assert ok.status_code == 200, ok.text
