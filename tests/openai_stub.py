"""A standard-library OpenAI-compatible server on loopback, for generator and judge tests.

``POST /v1/chat/completions`` answers a judge request (the last message is the judge's JSON with
"responses") with a valid verdict that prefers longer responses, and any other request with a
deterministic answer that shows the model, the seed and whether a system prompt was sent. A
prompt containing FAIL gets a 500. It records request bodies and the peak number in flight.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet request handler that answers with JSON."""

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass

    def _read_json(self) -> dict[str, Any]:
        """The request body, recorded in ``state["bodies"]``."""
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.state["lock"]:
            self.state["bodies"].append(body)
        return body


class Handler(JsonHandler):
    state: dict[str, Any]

    def do_POST(self) -> None:
        body = self._read_json()
        state = self.state
        with state["lock"]:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        try:
            time.sleep(state["delay"])
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            last = body["messages"][-1]["content"]
            if "FAIL" in last:
                return self._send(500, {"error": {"message": "the model crashed"}})
            try:
                ids = list(json.loads(last)["responses"])
                lengths = {i: len(t) for i, t in json.loads(last)["responses"].items()}
                order = sorted(ids, key=lambda i: -lengths[i])
                content = json.dumps({"scores": {i: 5 - min(r, 4) for r, i in enumerate(order)},
                                      "best-to-worst": order})
            except (ValueError, KeyError, TypeError):
                system = body["messages"][0]["role"] == "system"
                content = (f"{body['model']} seed {body.get('seed')} "
                           f"{'follows' if system else 'free'}: {last[:24]}")
            self._send(200, {
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
        finally:
            with state["lock"]:
                state["in_flight"] -= 1



@contextmanager
def serve(delay: float = 0.0):
    """Yield ``(base_url, state)`` of a running stub; stop it afterwards."""
    state = {"lock": threading.Lock(), "bodies": [], "in_flight": 0, "peak": 0, "delay": delay}
    with serve_handler(Handler, state) as url:
        yield url, state


@contextmanager
def serve_handler(handler_class: type, state: dict[str, Any]):
    """Run ``handler_class`` (with ``state`` as its class attribute) on loopback; yield its
    ``/v1`` URL and stop it afterwards."""
    handler = type("StubHandler", (handler_class,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
