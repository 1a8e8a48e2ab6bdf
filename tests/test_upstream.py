"""Upstream servers that misbehave: garbage, refusals, trickling answers, unsupported fields.

Every client rewardmine has for an HTTP server goes through ``rewardmine.upstream``: one retry
policy (transport failures, 429 and 502-504 retried; a refusal never), one total deadline, and
errors that name the server. The reward server answers them 502 or 503, never 400 or a bare 500.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rewardmine.upstream import (
    RetryPolicy,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
    post_json,
)

FAST = RetryPolicy(retries=2, backoff_s=0.01, deadline_s=5.0)


@contextmanager
def upstream(behaviour):
    """A loopback server answering every POST with ``behaviour(handler, body)``; yields its
    base URL and the list of bodies it was sent."""
    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            behaviour(self, body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", bodies
    finally:
        server.shutdown()
        server.server_close()


def send(handler, status, data: bytes, content_type="application/json"):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def verdict_reply(body):
    ids = list(json.loads(body["messages"][-1]["content"])["responses"])
    content = json.dumps({"scores": dict.fromkeys(ids, 3), "best-to-worst": ids})
    return {"choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


GARBAGE = {
    "not JSON": (200, b"<html>502 Bad Gateway</html>", "not JSON"),
    "a JSON list": (200, b"[1, 2]", "not an object"),
    "no choices": (200, b'{"object": "chat.completion"}', "without a choice"),
    "choices not objects": (200, b'{"choices": [1]}', "without a choice"),
    "a message that is not text": (200, b'{"choices": [{"message": {"content": 5}}]}',
                                   "not text"),
    "a 500 with a traceback": (500, b"Traceback (most recent call last): ...", "HTTP 500"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_is_an_upstream_error_naming_the_server(case):
    from rewardmine.judge import PrincipleJudge

    status, data, phrase = GARBAGE[case]
    with upstream(lambda h, b: send(h, status, data)) as (url, bodies):
        judge = PrincipleJudge.from_openai(url, "m", response_format="none", backoff=0.01)
        with pytest.raises(UpstreamError, match=phrase) as info:
            judge.judge("p", "q", ["a", "b"])
        assert url in str(info.value) and not isinstance(info.value, UpstreamUnavailable)
        assert len(bodies) == 1  # nothing here is worth a retry


def test_a_refusal_is_not_retried_and_keeps_the_servers_words():
    message = {"error": {"message": "model 'm' does not exist"}}
    with upstream(lambda h, b: send(h, 404, json.dumps(message).encode())) as (url, bodies):
        with pytest.raises(UpstreamRefused, match="HTTP 404: model 'm' does not exist"):
            post_json(url + "/completions", {"x": 1}, policy=FAST)
        assert len(bodies) == 1


def test_overload_is_retried_then_reported_unavailable():
    calls = []

    def busy_twice(handler, body):
        calls.append(1)
        if len(calls) <= 2:
            return send(handler, 503, b'{"error": "busy"}')
        send(handler, 200, b'{"ok": true}')

    with upstream(busy_twice) as (url, _):
        counter = [0]
        assert post_json(url, {}, policy=FAST, retry_counter=counter) == {"ok": True}
        assert counter == [2]
    with upstream(lambda h, b: send(h, 429, b"slow down")) as (url, bodies):
        with pytest.raises(UpstreamUnavailable, match=r"3 attempts .*HTTP 429: slow down"):
            post_json(url, {}, policy=FAST)
        assert len(bodies) == 3


def test_the_deadline_holds_against_a_trickling_server():
    """A server that sends its answer a byte at a time cannot outlive the total deadline (a
    per-read timeout let one run for minutes past a 2 s timeout)."""

    def trickle(handler, body):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        try:
            for _ in range(1000):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    with upstream(trickle) as (url, _):
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable, match="deadline"):
            post_json(url, {}, policy=RetryPolicy(retries=0, deadline_s=1.0))
        assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("status", [400, 422, 500])
def test_a_server_that_does_not_take_response_format_is_asked_without_it(status):
    """vLLM takes response_format; transformers serve answers 422 and llama-cpp-python 500. A
    server that takes no format at all is asked with json_object, then without one."""
    from rewardmine.judge import PrincipleJudge

    def strict(handler, body):
        if "response_format" in body:
            return send(handler, status, b'{"error": {"message": "unsupported field"}}')
        send(handler, 200, json.dumps(verdict_reply(body)).encode())

    with upstream(strict) as (url, bodies):
        judge = PrincipleJudge.from_openai(url, "m", thinking=False)
        assert judge.judge("p", "q", ["a", "b"]).status == "ok"
        assert judge.backend.response_format == "none"
        kinds = [b.get("response_format", {}).get("type") for b in bodies]
        assert kinds == ["json_schema", "json_object", None]


def test_the_reward_server_answers_upstream_failures_502_and_503():
    """A judge behind the reward server whose upstream answers garbage gives 502 naming it; one
    that cannot be reached gives 503 with Retry-After; neither is blamed on the client."""
    requests = pytest.importorskip("requests")
    from rewardmine.judge import PrincipleJudge
    from rewardmine.server.app import create_app
    from rewardmine.server.run import BackgroundServer, free_port

    good = {"principle": "p", "prompt": "Q", "responses": {"a": "xx", "b": "x"}}
    with upstream(lambda h, b: send(h, 200, b"garbage")) as (url, _):
        judge = PrincipleJudge.from_openai(url, "m", response_format="none")
        with BackgroundServer(create_app(judge=judge)) as running:
            reply = requests.post(running.url + "/v1/judge", json=good, timeout=60)
            assert reply.status_code == 502 and url in reply.json()["detail"]
    gone = f"http://127.0.0.1:{free_port()}/v1"
    judge = PrincipleJudge.from_openai(gone, "m", max_transport_retries=1, backoff=0.01)
    with BackgroundServer(create_app(judge=judge)) as running:
        reply = requests.post(running.url + "/v1/judge", json=good, timeout=60)
        assert reply.status_code == 503 and "Retry-After" in reply.headers
        assert gone in reply.json()["detail"]


def test_a_failure_that_is_not_about_the_field_keeps_response_format_for_later_requests():
    """A 500 that says nothing of response_format (a crash on one request) is asked again with a
    weaker format for that request only; the next requests still ask for the verdict schema."""
    from rewardmine.judge import PrincipleJudge

    failed = []

    def crash_once(handler, body):
        if not failed:
            failed.append(1)
            return send(handler, 500, b'{"error": {"message": "CUDA error: device-side assert"}}')
        send(handler, 200, json.dumps(verdict_reply(body)).encode())

    with upstream(crash_once) as (url, bodies):
        judge = PrincipleJudge.from_openai(url, "m", thinking=False, concurrency=1)
        assert judge.judge("p", "q", ["a", "b"]).status == "ok"
        assert judge.backend.response_format == "json_schema"
        assert judge.judge("p", "r", ["a", "b"]).status == "ok"
        kinds = [b.get("response_format", {}).get("type") for b in bodies]
        assert kinds == ["json_schema", "json_object", "json_schema"]
