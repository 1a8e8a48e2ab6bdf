"""Bounds on what a client can hold before its request reaches the app (and its API key check).

uvicorn closes an idle connection only after a response (keep-alive), never one that connects and
says nothing or stalls inside its request head, and its default parser reads a request head of
any size. :func:`guarded_protocol` wraps uvicorn's HTTP protocol (httptools or h11) with three
limits, so an unauthenticated client cannot exhaust descriptors or memory:

- ``max_connections``: a connection beyond it is answered 503 and closed at once;
- ``header_timeout_s``: a request head (request line and headers) must arrive within this of the
  connection opening or the previous response ending, or the connection is closed (408);
- ``max_header_bytes``: a longer request head is answered 431 and the connection closed.

A response sent before its request's body was all received (a 413 for a body too large, a 401)
closes the connection after it: the rest of that body must never be read as the next request.
(:mod:`rewardmine.server.limits` also says ``Connection: close`` in such replies, so that the client
does not reuse the connection.)

Request bodies are bounded in size and time by :class:`rewardmine.server.limits.Limits`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection bounds applied before the app sees a request (see the module doc)."""

    max_connections: int = 1024
    header_timeout_s: float = 10.0
    max_header_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_header_bytes < 1 or self.header_timeout_s <= 0:
            raise ValueError(f"connection limits must be positive, got {self}")


def _raw_reply(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


def guarded_protocol(limits: ConnectionLimits) -> type:
    """uvicorn's HTTP protocol class with ``limits`` applied (pass it as ``uvicorn.Config(http=)``)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class Guarded(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_bytes = 0
            self._head_timer: Any = None
            self._armed_cycle: Any = None
            if len(self.connections) > limits.max_connections:
                self._refuse(503, "Service Unavailable", f"the server holds its limit of "
                             f"{limits.max_connections} connections; retry later")
                return
            self._arm()

        def _arm(self) -> None:
            """Start the clock for the next request head."""
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_bytes = 0
            self._armed_cycle = self.cycle
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_overdue)

        def _awaiting_head(self) -> bool:
            """No request head since the clock started, and no request in progress."""
            return self.cycle is self._armed_cycle and (
                self.cycle is None or self.cycle.response_complete)

        def _head_overdue(self) -> None:
            self._head_timer = None
            if self._awaiting_head() and not self.transport.is_closing():
                self._refuse(408, "Request Timeout", f"no complete request head within "
                             f"{limits.header_timeout_s:g} s")

        def _refuse(self, status: int, reason: str, detail: str) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            if not self.transport.is_closing():
                self.transport.write(_raw_reply(status, reason, detail))
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            waiting = self._awaiting_head()
            super().data_received(data)
            if not waiting or not self._awaiting_head():
                return
            self._head_bytes += len(data)
            if self._head_bytes > limits.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large", f"the request head "
                             f"exceeds {limits.max_header_bytes} bytes")

        def on_response_complete(self) -> None:
            if self.cycle is not None and getattr(self.cycle, "more_body", False) \
                    and not self.transport.is_closing():
                # answered before the request's body was all read (a 413, a 401): the rest of
                # that body would be taken for the next request's head, so close instead
                super().on_response_complete()
                if not self.transport.is_closing():
                    self.transport.close()
                return
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    return Guarded
