"""ASGI middleware that guards the app before any parsing: bearer API keys and body size."""

import hmac
from collections.abc import Callable, Sequence
from typing import Any


def check_api_keys(keys: Sequence[str]) -> None:
    """Refuse keys that would let anyone in: an empty or blank key (``--api-key "$UNSET"``)."""
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not key.strip():
            raise ValueError(
                f"API key {i + 1} is empty or blank, which would accept a request with no key; "
                "give a non-empty key, or no --api-key / REWARDKIT_API_KEYS at all for an open "
                "server")


class Limits:
    """ASGI middleware: bearer API keys and a request body size limit, before any parsing."""

    def __init__(self, app: Any, *, api_keys: Sequence[str], max_body_bytes: int) -> None:
        self.app = app
        check_api_keys(api_keys)
        self.keys = [k.encode() for k in api_keys]
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        headers = dict(scope.get("headers") or [])
        if self.keys and scope.get("path") != "/health":
            given = headers.get(b"authorization", b"")
            token = given[7:] if given.lower().startswith(b"bearer ") else b""
            if not token or not any(hmac.compare_digest(token, key) for key in self.keys):
                response = JSONResponse({"detail": "missing or wrong API key; send "
                                         "'Authorization: Bearer <key>'"}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: dict, receive: Callable, send: Callable) -> None:
        from starlette.responses import JSONResponse

        response = JSONResponse(
            {"detail": f"request body exceeds {self.max_body_bytes} bytes; split it"},
            status_code=413)
        await response(scope, receive, send)
