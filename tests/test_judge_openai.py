"""The OpenAI-compatible backend against real servers on loopback.

``transformers serve`` runs a tiny random model saved by the test; its greedy replies must equal
the local backend's, request by request. A small standard-library HTTP server stands in for
servers that reject ``response_format`` and for measuring how many requests are in flight.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import ThreadingHTTPServer
from typing import ClassVar

import pytest

from judge_fixtures import save_tiny_judge
from openai_stub import JsonHandler
from rewardmine import ContextLengthError
from rewardmine.judge import PrincipleJudge
from rewardmine.judge.backends import GenerationRequest
from rewardmine.judge.prompt import build_request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base_url, model path) of a running ``transformers serve``; stopped after the module."""
    for module in ("fastapi", "uvicorn", "accelerate"):
        pytest.importorskip(module, reason=f"transformers serve needs {module}")
    exe = shutil.which("transformers")
    if exe is None:
        pytest.skip("the transformers CLI is not on PATH")
    path = save_tiny_judge(tmp_path_factory.mktemp("served"))
    port = free_port()
    log = open(path / "serve.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [exe, "serve", str(path), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"transformers serve did not start:\n{log.read()[-3000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_greedy_replies_match_the_local_backend_in_order(served):
    base_url, path = served
    remote = PrincipleJudge.from_openai(base_url, path, max_new_tokens=12, concurrency=3)
    local = PrincipleJudge.from_pretrained(path, max_new_tokens=12, batch_size=5)
    requests = [
        GenerationRequest(build_request("Be correct.", f"Question {k}?", {"a": "x" * k, "b": "y"},
                                        rng=random.Random(k), system="Judge.").messages)
        for k in range(5)
    ]
    over_http = remote.backend.generate(requests, options=remote.options, seed=0)
    in_process = local.backend.generate(requests, options=local.options, seed=0)
    # the server strips the reply's surrounding whitespace; the tokens are the same
    assert [g.text.strip() for g in over_http] == [g.text.strip() for g in in_process]
    assert [g.prompt_tokens for g in over_http] == [g.prompt_tokens for g in in_process]
    assert len({g.text for g in over_http}) > 1


def test_judge_over_http_retries_and_reports_invalid(served):
    base_url, path = served
    judge = PrincipleJudge.from_openai(base_url, path, max_new_tokens=6, max_retries=1,
                                       on_invalid="return")
    results = judge.judge_many([("p", "q", ["a", "b"]), ("p", "q", {"x": "1", "y": ""})])
    assert [r.status for r in results] == ["invalid", "invalid"]
    assert judge.usage.calls == 4 and judge.usage.completion_tokens == 4 * 6


def test_transport_failures_are_retried_then_raised():
    port = free_port()  # nothing listens here
    judge = PrincipleJudge.from_openai(f"http://127.0.0.1:{port}/v1", "m", backoff=0.01,
                                       max_transport_retries=2, timeout=2)
    with pytest.raises(ConnectionError, match="did not answer within 3 attempts"):
        judge.judge("p", "q", ["a", "b"])
    assert judge.backend.transport_retries == 2


class _Strict(JsonHandler):
    """Rejects response_format with a 400 and answers a valid verdict after a short wait."""

    in_flight = 0
    peak = 0
    bodies: ClassVar[list] = []
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.bodies.append(body)
        if "response_format" in body:
            return self._send(400, {"error": {"message": "response_format is not supported"}})
        if "HUGE" in body["messages"][-1]["content"]:
            return self._send(400, {"error": {"message": "This model's maximum context "
                                              "length is 100 tokens"}})
        with cls.lock:  # in flight: the work, counted down before the answer is sent
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
        time.sleep(0.1)
        with cls.lock:
            cls.in_flight -= 1
        ids = list(json.loads(body["messages"][-1]["content"])["responses"])
        content = json.dumps({"scores": {i: 3 for i in ids}, "best-to-worst": ids})
        self._send(200, {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": content, "reasoning_content": "thought"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        })


def test_schema_fallback_concurrency_and_reasoning_content():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Strict)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        judge = PrincipleJudge.from_openai(f"http://127.0.0.1:{server.server_port}/v1", "m",
                                           concurrency=3, thinking=False)
        results = judge.judge_many([("p", "q", [str(k), "b"]) for k in range(9)])
    finally:
        server.shutdown()
        server.server_close()
    assert all(r.status == "ok" for r in results)
    assert all("thought" in r.reasoning for r in results)
    assert judge.backend.response_format == "none"  # fell back after the 400
    assert "response_format" in _Strict.bodies[0]
    assert _Strict.bodies[-1]["chat_template_kwargs"] == {"enable_thinking": False}
    assert 1 < _Strict.peak <= 3
    assert judge.usage.prompt_tokens == 9 * 10


class _LlamaCppLike(JsonHandler):
    """What llama-cpp-python 0.3.36's server does (checked against it, see docs/scale.md):
    ``json_schema`` fails validation with a 500 that names the field; ``json_object`` with a
    ``schema`` beside it constrains the answer to that schema."""

    bodies: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        kind = body.get("response_format", {}).get("type")
        if kind == "json_schema":
            return self._send(500, {"error": {"message": "1 validation error: ('body', "
                                              "'response_format', 'type') Input should be "
                                              "'text' or 'json_object'"}})
        ids = list(json.loads(body["messages"][-1]["content"])["responses"])
        valid = kind == "json_object" and "schema" in body["response_format"]
        content = (json.dumps({"scores": {i: 3 for i in ids}, "best-to-worst": ids}) if valid
                   else "They both look fine to me.")  # unconstrained: prose
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": content}}]})


def test_a_refused_json_schema_falls_back_to_json_object_with_the_schema():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LlamaCppLike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        judge = PrincipleJudge.from_openai(f"http://127.0.0.1:{server.server_port}/v1", "m",
                                           concurrency=1, max_retries=0)
        results = judge.judge_many([("p", "q", ["a", "b"]), ("p", "q", ["c", "d"])])
    finally:
        server.shutdown()
        server.server_close()
    assert [r.status for r in results] == ["ok", "ok"]
    kinds = [b["response_format"]["type"] for b in _LlamaCppLike.bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]  # kept after the refusal
    assert _LlamaCppLike.bodies[1]["response_format"]["schema"]["required"] == [
        "scores", "best-to-worst"]
    assert judge.backend.response_format == "json_object"


def test_context_errors_name_the_request(tmp_path):
    from transformers import AutoTokenizer

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Strict)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        judge = PrincipleJudge.from_openai(url, "m", response_format="none")
        with pytest.raises(ContextLengthError, match=r"request 2: .*maximum context length"):
            judge.judge_many([("p", "q", ["a", "b"]), ("p", "q", ["c", "d"]),
                              ("p", "q", ["HUGE", "e"])])
        # with a tokenizer and a limit, the check happens before anything is sent
        tokenizer = AutoTokenizer.from_pretrained(save_tiny_judge(tmp_path))
        sent = len(_Strict.bodies)
        judge = PrincipleJudge.from_openai(url, "m", tokenizer=tokenizer, context_limit=300,
                                           max_new_tokens=50)
        with pytest.raises(ContextLengthError, match="request 0 needs") as info:
            judge.judge("p", "q", ["a", "b"])
        assert info.value.limit == 300 and len(_Strict.bodies) == sent
    finally:
        server.shutdown()
        server.server_close()
