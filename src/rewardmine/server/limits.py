"""ASGI middleware that guards the app before any parsing: bearer API keys, body size and time,
and a strict look at the JSON (duplicate keys, NaN, lone surrogates) before FastAPI reads it."""

import asyncio
import hmac
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from rewardmine.io import check_text, unique_keys

# A lone surrogate can only come from a \\uD800-\\uDFFF escape (UTF-8 bytes cannot encode one), so
# a body without such an escape needs no walk over its values.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

# A reply sent before the request's body was all read (401, 413, 408) tells the client that the
# connection closes after it: the rest of that body must not be read as a next request, and a
# client that is not told would send its next request on a connection about to close (and lose
# it). The connection guard closes such a connection in any case (server/connections.py).
_BODY_UNREAD = {"Connection": "close"}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send finite numbers (or null)")


def strict_json_problem(body: bytes) -> str | None:
    """Why ``body`` is not acceptable JSON, or None. JSON's own rules plus three that Python's
    reader lets through: a key given twice in one object (the first value would vanish),
    NaN/Infinity (not JSON, and unencodable in a reply) and lone surrogates (not text)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return f"the request body is not UTF-8 (byte {error.start}); send JSON as UTF-8"
    try:
        value = json.loads(text, object_pairs_hook=unique_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        return f"the request body is not valid JSON: {error.msg} at line {error.lineno} " \
               f"column {error.colno}"
    except ValueError as error:
        return f"the request body is refused: {error}"
    except RecursionError:
        return "the request body nests too deeply"
    if _SURROGATE_ESCAPE.search(body):
        try:
            check_text(value, "")
        except ValueError as error:
            return f"the request body is refused: {error}"
    return None


def check_api_keys(keys: Sequence[str]) -> None:
    """Refuse keys that would let anyone in: an empty or blank key (``--api-key "$UNSET"``)."""
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not key.strip():
            raise ValueError(
                f"API key {i + 1} is empty or blank, which would accept a request with no key; "
                "give a non-empty key, or no --api-key / REWARDMINE_API_KEYS at all for an open "
                "server")


class Limits:
    """ASGI middleware: bearer API keys, a request body size limit and a time limit on receiving
    the body, and strict JSON, before any parsing."""

    def __init__(self, app: Any, *, api_keys: Sequence[str], max_body_bytes: int,
                 body_timeout_s: float = 30.0) -> None:
        self.app = app
        check_api_keys(api_keys)
        self.keys = [k.encode() for k in api_keys]
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.drain: Any = None  # the app's shutdown clock (set by create_app)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.keys and scope.get("path") != "/health":
            given = headers.get(b"authorization", b"")
            token = given[7:] if given.lower().startswith(b"bearer ") else b""
            if not token or not any(hmac.compare_digest(token, key) for key in self.keys):
                await _reply(scope, receive, send, 401, "missing or wrong API key; send "
                             "'Authorization: Bearer <key>'",
                             {"WWW-Authenticate": "Bearer", **_BODY_UNREAD})
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        more = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                await _reply(scope, receive, send, 408, f"the request body did not arrive within "
                             f"{self.body_timeout_s:g} s", _BODY_UNREAD)
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        if body and scope.get("method") == "POST":
            problem = strict_json_problem(bytes(body))
            if problem is not None:
                await _reply(scope, receive, send, 400, problem)
                return
            if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark: accepted, dropped
                del body[:3]
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: dict, receive: Callable, send: Callable) -> None:
        await _reply(scope, receive, send, 413,
                     f"request body exceeds {self.max_body_bytes} bytes; split it", _BODY_UNREAD)


async def _reply(scope: dict, receive: Callable, send: Callable, status: int, detail: str,
                 headers: dict[str, str] | None = None) -> None:
    from starlette.responses import JSONResponse

    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(
        scope, receive, send)
