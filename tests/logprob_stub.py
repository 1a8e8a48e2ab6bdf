"""A loopback server speaking vLLM's prompt log-probability protocol, computed by a local model.

``POST /v1/completions`` with ``prompt`` as token ids answers ``echo`` + ``logprobs`` (OpenAI's
``choices[0].logprobs.token_logprobs``, entry 0 null, then one generated token) and vLLM's
``prompt_logprobs`` extension. ``fail_first`` answers 503 to that many requests first;
``shift`` drops the leading null (a misaligned server); a prompt longer than ``context`` gets
vLLM's 400. It records request bodies and headers.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

import torch

from openai_stub import JsonHandler, serve_handler


class LogprobHandler(JsonHandler):
    state: dict[str, Any]

    def do_POST(self) -> None:
        body = self._read_json()
        state = self.state
        with state["lock"]:
            state["headers"].append(dict(self.headers))
            if state["fail_first"] > 0:
                state["fail_first"] -= 1
                return self._send(503, {"error": {"message": "warming up"}})
        if self.path != "/v1/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        ids = body["prompt"]
        if len(ids) > state["context"]:
            return self._send(400, {"error": {"message": "This model's maximum context length "
                                              f"is {state['context']} tokens."}})
        with state["lock"], torch.inference_mode():
            logits = state["model"](input_ids=torch.tensor([ids])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        per_token = [None] + [logp[t - 1, ids[t]].item() for t in range(1, len(ids))]
        generated = int(logp[-1].argmax())
        choice: dict[str, Any] = {"index": 0, "text": "", "finish_reason": "length"}
        if body.get("echo"):
            entries = [*per_token, logp[-1, generated].item()]
            if state["shift"]:
                entries = [*entries[1:], 0.0]
            choice["logprobs"] = {"tokens": [f"token_id:{t}" for t in [*ids, generated]],
                                  "token_logprobs": entries}
        if body.get("prompt_logprobs") is not None:
            choice["prompt_logprobs"] = [None] + [
                {str(ids[t]): {"logprob": per_token[t], "rank": 1, "decoded_token": ""}}
                for t in range(1, len(ids))]
        self._send(200, {"id": "cmpl-stub", "object": "text_completion",
                         "model": body["model"], "choices": [choice]})


@contextmanager
def logprob_server(model: Any, *, fail_first: int = 0, shift: bool = False,
                   context: int = 10_000):
    state = {"model": model.eval(), "lock": threading.Lock(), "bodies": [], "headers": [],
             "fail_first": fail_first, "shift": shift, "context": context}
    with serve_handler(LogprobHandler, state) as url:
        yield url, state
