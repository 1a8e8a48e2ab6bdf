"""A standard-library OpenAI-compatible server on loopback, for generator and judge tests.

``POST /v1/chat/completions`` answers a judge request (the last message is the judge's JSON with
"responses") with a valid verdict that prefers longer responses, and any other request with a
deterministic answer that shows the model, the seed and whether a system prompt was sent. A
prompt containing FAIL gets a 500. It records request bodies and the peak number in flight.

Given a ChatML ``tokenizer``, the stub reads prompts the way vLLM and SGLang do: token ids, split
into turns at the control-token ids. ``POST /v1/completions`` then takes a ``prompt`` of token
ids (as both servers do), and the chat route renders the messages with the tokenizer's template
and tokenizes the text, special-token strings included, as those servers do. Either way the
judge's JSON is read from the last user turn of those ids, and the turns are recorded in
``state["turns"]``: what the model would see.
"""

from __future__ import annotations

import json
import re
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


def turns(tokenizer: Any, ids: list[int]) -> list[tuple[str, str]]:
    """(role, content) of each ChatML turn in ``ids``, split at the control-token ids only."""
    start, end = (tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>"))
    out, current = [], None
    for token in ids:
        if token == start:
            current = []
        elif token == end and current is not None:
            out.append(_role_and_content(tokenizer.decode(current)))
            current = None
        elif current is not None:
            current.append(token)
    if current is not None:  # the open generation prompt
        out.append((_role_and_content(tokenizer.decode(current))[0], ""))
    return out


def _role_and_content(turn: str) -> tuple[str, str]:
    """A turn's role line and content; inside JSON a forged turn's newline is written ``\\n``,
    which a model reads as one all the same."""
    match = re.match(r"(\w+)(?:\n|\\n)?(.*)", turn, re.S)
    return (match.group(1), match.group(2)) if match else ("", turn)


def answer(last: str, body: dict[str, Any], system: bool) -> str:
    """A verdict preferring longer responses when ``last`` is the judge's JSON, else an echo."""
    try:
        ids = list(json.loads(last)["responses"])
        lengths = {i: len(t) for i, t in json.loads(last)["responses"].items()}
        order = sorted(ids, key=lambda i: -lengths[i])
        return json.dumps({"scores": {i: 5 - min(r, 4) for r, i in enumerate(order)},
                           "best-to-worst": order})
    except (ValueError, KeyError, TypeError, AttributeError):
        return (f"{body['model']} seed {body.get('seed')} "
                f"{'follows' if system else 'free'}: {last[:24]}")


class Handler(JsonHandler):
    state: dict[str, Any]

    def do_POST(self) -> None:
        body = self._read_json()
        state = self.state
        # in flight: the "model's" work, counted before the answer is sent (a client that has
        # its answer may send its next request before this thread would count down after it)
        with state["lock"]:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        try:
            time.sleep(state["delay"])
        finally:
            with state["lock"]:
                state["in_flight"] -= 1
        if self.path == "/v1/completions":
            return self._completion(body)
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        last = body["messages"][-1]["content"]
        if "FAIL" in last:
            return self._send(500, {"error": {"message": "the model crashed"}})
        system = body["messages"][0]["role"] == "system"
        tokenizer = state.get("tokenizer")
        if tokenizer is not None:  # the server's own template and tokenizer
            text = tokenizer.apply_chat_template(body["messages"], tokenize=False,
                                                 add_generation_prompt=True)
            seen = turns(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])
            self._record(seen)
            last = [c for r, c in seen if r == "user"][-1]
        content = answer(last, body, system)
        self._send(200, {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

    def _record(self, seen: list[tuple[str, str]]) -> None:
        with self.state["lock"]:
            self.state["turns"].append(seen)

    def _completion(self, body: dict[str, Any]) -> None:
        prompt, tokenizer = body.get("prompt"), self.state.get("tokenizer")
        if tokenizer is None or not isinstance(prompt, list) or not prompt \
                or not all(type(i) is int for i in prompt):
            return self._send(400, {"error": {"message": "prompt must be a list of token ids"}})
        seen = turns(tokenizer, prompt)
        self._record(seen)
        users = [c for r, c in seen if r == "user"]
        text = answer(users[-1] if users else "", body, any(r == "system" for r, _ in seen))
        self._send(200, {
            "id": "x", "object": "text_completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "text": text, "logprobs": None}],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": 5,
                      "total_tokens": len(prompt) + 5}})


@contextmanager
def serve(delay: float = 0.0, tokenizer: Any = None):
    """Yield ``(base_url, state)`` of a running stub; stop it afterwards."""
    state = {"lock": threading.Lock(), "bodies": [], "in_flight": 0, "peak": 0, "delay": delay,
             "tokenizer": tokenizer, "turns": []}
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
