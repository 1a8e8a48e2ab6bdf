"""Running the app with uvicorn, in the foreground (the CLI) or on a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from rewardmine.optional import require_extra
from rewardmine.server.connections import ConnectionLimits, guarded_protocol


def require_server_extra() -> None:
    """Refuse at once, before a model loads, where fastapi or uvicorn is missing."""
    for module in ("fastapi", "uvicorn"):
        require_extra(module, extra="server", needed_for="the reward server")


def uvicorn_server(app: Any, *, host: str = "127.0.0.1", port: int = 8000,
                   graceful_timeout_s: float | None = 60.0, log_level: str = "info",
                   limits: ConnectionLimits | None = None) -> Any:
    """A ``uvicorn.Server`` that, on SIGINT/SIGTERM or ``should_exit``, stops accepting
    connections and finishes the requests it has accepted, up to ``graceful_timeout_s``: then
    the requests still waiting answer 503 (the app's ``drain``) and the process exits. Every
    connection is held to ``limits`` (:mod:`rewardmine.server.connections`)."""
    require_server_extra()
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            drain = getattr(app, "drain", None)
            if drain is not None:
                drain.begin(graceful_timeout_s)
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=graceful_timeout_s, access_log=False,
                            http=guarded_protocol(limits or ConnectionLimits()))
    return Server(config)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class BackgroundServer:
    """The app served on a thread (tests, notebooks, benchmarks); ``stop()`` shuts down gracefully.

    >>> with BackgroundServer(app) as server:   # doctest: +SKIP
    ...     requests.post(server.url + "/v1/score", json=...)
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None,
                 graceful_timeout_s: float | None = 60.0, log_level: str = "warning",
                 limits: ConnectionLimits | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn_server(app, host=host, port=self.port,
                                     graceful_timeout_s=graceful_timeout_s, log_level=log_level,
                                     limits=limits)
        self.thread = threading.Thread(target=self.server.run, name="rewardmine-server",
                                       daemon=True)

    def start(self, timeout_s: float = 30.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
