"""The server's shutdown clock: requests still waiting when the graceful timeout is about to run
out answer 503 instead of being cut off, and encoding stops between items."""

from __future__ import annotations

import asyncio
import threading
import time


class Drain:
    """The server's shutdown clock: when the graceful timeout is about to run out, requests
    still waiting answer 503 (instead of being cut off) and encoding stops between items."""

    margin_s = 0.5  # answer this long before the server cancels what is left

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._expired: asyncio.Event | None = None
        self.deadline: float | None = None

    def expired(self) -> asyncio.Event:
        if self._expired is None:
            self._expired = asyncio.Event()
        return self._expired

    def begin(self, timeout_s: float | None) -> None:
        """Called on the event loop when shutdown starts; None waits without a limit."""
        self.expired()
        if timeout_s is None:
            return
        delay = max(0.0, timeout_s - self.margin_s)
        self.deadline = time.monotonic() + delay
        asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self.cancel.set()
        self.expired().set()

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
