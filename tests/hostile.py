"""A bounded corpus of hostile requests for the reward server (issue 14's findings and the cases
that already held up), shared by the server tests and ``benchmarks/soak.py``.

Each case is a request the server must refuse with a 4xx (or, where named, accept), never a
5xx, after which it must still answer a known-good request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

KEY = "secret"


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: bytes | None = None
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = ()  # empty: any 4xx
    detail: str | None = None  # a phrase the error must contain


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def make_judge():
    """``--judge hostile:make_judge``: the tests' deterministic judge (longer is better)."""
    from test_server_app import LengthJudge

    return LengthJudge()


GOOD_SCORE = {"prompt": "What is 2+2?", "responses": ["4"]}
GOOD_JUDGE = {"principle": "p", "prompt": "Q", "responses": {"a": "xx", "b": "x"}}


def corpus(max_items: int, max_body_bytes: int) -> list[Case]:
    """Every case, for a server started with these two limits and the API key ``KEY``."""
    long_prompt = "x " * 50_000  # 100 KB of prompt, far over a tiny model's context
    cases = [
        # stalls and slowdowns (findings 3, 5)
        Case("100KB prompt x 200 empty responses", "/v1/score",
             _json({"prompt": long_prompt, "responses": [""] * 200}), expect=(400,),
             detail="context"),
        Case("one response over the context", "/v1/score",
             _json({"prompt": "q", "responses": ["y " * 2000]}), expect=(400,), detail="context"),
        Case("over-context item among good ones", "/v1/score_many",
             _json({"prompts": ["q", "q"], "responses": ["fine", "y " * 2000]}), expect=(400,),
             detail="item 1"),
        # silent data loss (findings 8, 12, 13, 14)
        Case("duplicate response ids, /v1/judge", "/v1/judge",
             b'{"principle": "p", "prompt": "Q", "responses": {"a": "x", "a": "y"}}',
             expect=(400,), detail="'a' appears twice"),
        Case("duplicate response ids, /api/rewardanything", "/api/rewardanything",
             b'{"principle": "p", "prompt": "Q", "responses": {"m": "1", "n": "2", "m": "3"}}',
             expect=(400,), detail="'m' appears twice"),
        Case("unknown field 'sytem'", "/v1/score",
             _json({**GOOD_SCORE, "sytem": "Be brief."}), expect=(422,), detail="sytem"),
        Case("unknown field 'aggregate'", "/v1/score_many",
             _json({"prompts": ["q"], "responses": ["a"], "aggregate": "mean"}), expect=(422,),
             detail="aggregate"),
        Case("unknown field in a judge batch", "/v1/judge_batch",
             _json([{**GOOD_JUDGE, "temperature": 2}]), expect=(422,), detail="temperature"),
        Case("NaN in a field", "/v1/score", b'{"prompt": "q", "responses": ["a"], "system": NaN}',
             expect=(400,), detail="NaN"),
        Case("Infinity inside a list", "/v1/score", b'{"prompt": "q", "responses": [Infinity]}',
             expect=(400,), detail="Infinity"),
        Case("-Infinity in labels", "/openrlhf",
             b'{"query": ["q a"], "prompts": ["q "], "labels": [-Infinity]}', expect=(400,)),
        Case("more items than the request limit", "/v1/score",
             _json({"prompt": "q", "responses": ["a"] * (max_items + 1)}), expect=(413,)),
        Case("more judge requests than the limit", "/v1/judge_batch",
             _json([GOOD_JUDGE] * (max_items + 1)), expect=(413,)),
        # clear errors (findings 17, 18)
        Case("lone surrogate in a response", "/v1/score",
             _raw('{"prompt": "q", "responses": ["ok", "bad \\ud800"]}'), expect=(400,),
             detail="responses[1]"),
        Case("lone surrogate in message content", "/v1/score",
             _raw('{"prompt": [{"role": "user", "content": "\\udfff"}], "responses": ["a"]}'),
             expect=(400,), detail="prompt[0].content"),
        Case("lone surrogate in a judge response", "/v1/judge",
             _raw('{"principle": "p", "prompt": "Q", "responses": {"b": "\\ud83d"}}'),
             expect=(400,), detail="responses.b"),
        Case("empty judge batch", "/v1/judge_batch", b"[]", expect=(422,)),
        Case("empty rewardanything batch", "/api/rewardanything_batch", b"[]", expect=(422,)),
        Case("empty responses", "/v1/score", _json({"prompt": "q", "responses": []}),
             expect=(422,)),
        Case("empty query list", "/openrlhf", _json({"query": [], "prompts": []}),
             expect=(422,)),
        # what held up before: keep it so
        Case("no API key", "/v1/score", _json(GOOD_SCORE), headers={"Authorization": ""},
             expect=(401,)),
        Case("wrong API key", "/v1/score", _json(GOOD_SCORE),
             headers={"Authorization": "Bearer nope"}, expect=(401,)),
        Case("basic auth instead of bearer", "/v1/score", _json(GOOD_SCORE),
             headers={"Authorization": f"Basic {KEY}"}, expect=(401,)),
        Case("body over the size limit", "/v1/score",
             _json({"prompt": "x" * max_body_bytes, "responses": ["a"]}), expect=(413,)),
        Case("not JSON", "/v1/score", b"{prompt: q", expect=(400,)),
        Case("not UTF-8", "/v1/score", b'{"prompt": "\xff\xfe", "responses": ["a"]}',
             expect=(400,)),
        Case("deeply nested JSON", "/v1/score", b"[" * 100_000 + b"]" * 100_000),
        Case("a list instead of an object", "/v1/score", _json([GOOD_SCORE]), expect=(422,)),
        Case("responses as one string", "/v1/score", _json({"prompt": "q", "responses": "abc"}),
             expect=(422,)),
        Case("responses of numbers", "/v1/score", _json({"prompt": "q", "responses": [1, 2]}),
             expect=(422,)),
        Case("prompt as an object", "/v1/score", _json({"prompt": {"a": 1}, "responses": ["a"]}),
             expect=(422,)),
        Case("message with an unknown role", "/v1/score",
             _json({"prompt": [{"role": "bot", "content": "b"}], "responses": ["a"]}),
             expect=(400,), detail="role"),
        Case("prompt ending with an assistant turn", "/v1/score",
             _json({"prompt": [{"role": "user", "content": "q"},
                               {"role": "assistant", "content": "a"}], "responses": ["a"]}),
             expect=(400,)),
        Case("empty message list", "/v1/score", _json({"prompt": [], "responses": ["a"]}),
             expect=(400,)),
        Case("prompts and responses of different lengths", "/v1/score_many",
             _json({"prompts": ["a"], "responses": ["1", "2"]}), expect=(400,)),
        Case("system prompt twice", "/v1/score",
             _json({"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
                    "responses": ["a"], "system": "t"}), expect=(400,)),
        Case("judge request without a principle on a server without one", "/v1/judge",
             _json({"prompt": "Q", "responses": ["a"]}), expect=(400,)),
        Case("judge response ids empty", "/v1/judge",
             _json({"principle": "p", "prompt": "Q", "responses": {}}), expect=(400,)),
        Case("judge response text not a string", "/v1/judge",
             _json({"principle": "p", "prompt": "Q", "responses": {"a": 3}}), expect=(422,)),
        Case("openrlhf without prompts", "/openrlhf", _json({"query": ["q a"]}), expect=(400,)),
        Case("openrlhf query not starting with its prompt", "/openrlhf",
             _json({"query": ["something"], "prompts": ["else"]}), expect=(400,)),
        Case("GET on a POST route", "/v1/score", None, method="GET", expect=(405,)),
        Case("unknown route", "/v2/score", _json(GOOD_SCORE), expect=(404,)),
        # accepted
        Case("HEAD /health", "/health", None, method="HEAD", expect=(200,)),
        Case("UTF-8 byte-order mark", "/v1/score", b"\xef\xbb\xbf" + _json(GOOD_SCORE),
             expect=(200,)),
    ]
    return cases
