"""``rewardmine serve --replicas N``: the same app on Ray Serve replicas, behind one URL.

Each replica builds the very app ``rewardmine serve`` runs (:func:`rewardmine.server.app.create_app`
through the CLI's builder) with its own model in its own process, so routes, auth, limits,
503/Retry-After and errors are the single server's. Serve's proxy spreads requests over the
replicas; inside a replica, the app's :class:`~rewardmine.server.batcher.DynamicBatcher` merges
the requests that arrive together into one model call, as it does in one process (its queue
bound and 503 stay in force). Serve caps the requests in flight per replica
(``max_ongoing_requests``, 5 by default), which would cap a merged call at 5 requests: it is
raised here. A replica whose process dies is restarted by Serve; until it is back, the others
answer. Ray is joined as any Ray program joins it (``RAY_ADDRESS``), else started locally.

Requests reach the replicas through a small ingress, :class:`Router` (no model, no CPU
reserved), that hands each HTTP request to a replica as one call and returns its answer. Where
Serve's proxy would answer a request whose replica died mid-way with a plain-text 500, the
router sends it again to another replica (scoring is a pure function of the request, so a retry
gives the same reward) and, when no replica can take it, answers 503 with Retry-After.

Every response carries ``x-rewardmine-replica`` (the replica's id) and ``x-rewardmine-pid``, so a
client or a test can see how requests were spread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rewardmine.errors import RewardmineError

Builder = Callable[[], Any]  # builds the ASGI app, inside each replica
APP_NAME = "rewardmine"
RETRIES = 3  # attempts of a request whose replica died, before the router answers 503
RETRY_AFTER_S = 2


class ReplicaHeaders:
    """ASGI middleware: adds the replica's id and process id to every HTTP response."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.headers = [(b"x-rewardmine-replica", replica.encode()),
                        (b"x-rewardmine-pid", str(os.getpid()).encode())]

    def __getattr__(self, name: str) -> Any:  # app.drain, app.app, ... stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, tagged)


async def call_asgi(app: Any, method: str, path: str, query: bytes,
                    headers: list[tuple[bytes, bytes]], body: bytes
                    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP request through an ASGI app, in process: its status, headers and body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query, "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 80)}
    sent = False
    status, out_headers, chunks = 500, [], []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:  # the body was read; the client stays connected until the answer is sent
            import asyncio

            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, out_headers
        if message["type"] == "http.response.start":
            status, out_headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, out_headers, b"".join(chunks)


async def start_lifespan(app: Any) -> None:
    """Run an ASGI app's startup (its ``lifespan`` handler: the server starts its batchers there),
    as a server would before the first request; a failed startup raises its message."""
    import asyncio

    events: asyncio.Queue = asyncio.Queue()
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    await events.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete" and not done.done():
            done.set_result(None)
        elif message["type"] == "lifespan.startup.failed" and not done.done():
            done.set_exception(RuntimeError(message.get("message") or "startup failed"))

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                     events.get, send))
    await done
    start_lifespan.tasks.add(task)  # the handler lives as long as the replica


start_lifespan.tasks = set()  # type: ignore[attr-defined]


class Router:
    """The ingress: each HTTP request goes to a replica as one call; a request whose replica
    died is sent again (``RETRIES`` attempts), then answered 503 with Retry-After."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call  # async (method, path, query, headers, body) -> (status, headers, body)

    async def answer(self, method: str, path: str, query: bytes,
                     headers: list[tuple[bytes, bytes]], body: bytes
                     ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        import asyncio

        from ray import exceptions as ray_errors
        from ray.serve import exceptions as serve_errors

        gone = (ray_errors.RayActorError, ray_errors.ActorUnavailableError,
                serve_errors.ReplicaUnavailableError, serve_errors.DeploymentUnavailableError)
        for attempt in range(RETRIES):
            try:
                return await self.call(method, path, query, headers, body)
            except gone:
                await asyncio.sleep(0.5 * (attempt + 1))
        detail = (b'{"detail":"the reward server replica handling this request stopped, and '
                  b'no other could take it; retry after a few seconds"}')
        return 503, [(b"content-type", b"application/json"),
                     (b"retry-after", str(RETRY_AFTER_S).encode())], detail


def _deployment(build: Builder, *, replicas: int, gpus_per_replica: float,
                cpus_per_replica: float, max_ongoing_requests: int,
                graceful_timeout_s: float) -> Any:
    """The bound Serve application: ``replicas`` copies of the app ``build`` returns."""
    from ray import serve

    class RewardServer:
        """One replica: its own model, the app built in the replica's process."""

        def __init__(self, build: Builder) -> None:
            import asyncio

            replica = serve.get_replica_context().replica_id.unique_id
            self.app = ReplicaHeaders(build(), replica)
            self.started: asyncio.Task | None = None

        async def handle(self, method: str, path: str, query: bytes,
                         headers: list[tuple[bytes, bytes]], body: bytes
                         ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            import asyncio

            if self.started is None:  # the app's startup, once, before its first request
                self.started = asyncio.ensure_future(start_lifespan(self.app.app))
            await asyncio.shield(self.started)
            return await call_asgi(self.app, method, path, query, headers, body)

    class Front:
        """The ingress (no model, no CPU reserved): forwards to a replica, retries a death."""

        def __init__(self, backend: Any) -> None:
            self.router = Router(lambda *request: backend.handle.remote(*request))

        async def __call__(self, request: Any) -> Any:
            from starlette.responses import Response

            status, headers, body = await self.router.answer(
                request.method, request.url.path, request.url.query.encode(),
                list(request.headers.raw), await request.body())
            response = Response(body, status_code=status)
            response.raw_headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            response.raw_headers.append((b"content-length", str(len(body)).encode()))
            return response

    options: dict[str, Any] = {"num_cpus": cpus_per_replica}
    if gpus_per_replica:
        options["num_gpus"] = gpus_per_replica
    backend = serve.deployment(
        RewardServer, name="RewardServer", num_replicas=replicas,
        max_ongoing_requests=max_ongoing_requests, ray_actor_options=options,
        health_check_period_s=2, graceful_shutdown_timeout_s=graceful_timeout_s).bind(build)
    front = serve.deployment(
        Front, name="Router", num_replicas=1, ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=max_ongoing_requests * replicas,
        graceful_shutdown_timeout_s=graceful_timeout_s)
    return front.bind(backend)


def serve_replicas(build: Builder, *, replicas: int, gpus_per_replica: float = 0.0,
                   cpus_per_replica: float = 1.0, max_ongoing_requests: int = 256,
                   host: str = "127.0.0.1", port: int = 8000,
                   graceful_timeout_s: float = 60.0) -> str:
    """Start ``replicas`` replicas of the app ``build`` makes (a picklable callable, run in each
    replica) behind ``http://host:port``; returns that URL once every replica is up.

    Args:
        build: builds the ASGI app in the replica (``rewardmine serve`` passes its builder).
        replicas: replicas, each holding its own model.
        gpus_per_replica, cpus_per_replica: what each replica reserves.
        max_ongoing_requests: requests in flight per replica; keep it above the batch size so
            that merged calls can fill.
        host, port: where Serve's HTTP proxy listens.
        graceful_timeout_s: how long a stopping replica may finish its requests.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    if gpus_per_replica < 0 or cpus_per_replica < 0:
        raise ValueError("gpus_per_replica and cpus_per_replica must be 0 or more")
    if max_ongoing_requests < 1:
        raise ValueError(f"max_ongoing_requests must be at least 1, got {max_ongoing_requests}")
    from rewardmine.optional import require_extra

    serve = require_extra("ray.serve", extra="ray", needed_for="--replicas (Ray Serve)")
    from rewardmine.distributed.cluster import join_ray

    _check_port_free(host, port)
    join_ray()
    serve.start(http_options={"host": host, "port": port})
    try:
        serve.run(_deployment(build, replicas=replicas, gpus_per_replica=gpus_per_replica,
                              cpus_per_replica=cpus_per_replica,
                              max_ongoing_requests=max_ongoing_requests,
                              graceful_timeout_s=graceful_timeout_s),
                  name=APP_NAME, route_prefix="/", blocking=False)
    except Exception as error:  # a replica that cannot build its app: one line, and nothing left
        shutdown()
        first = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        raise RewardmineError(f"the replicas did not start: {first}") from None
    return f"http://{host}:{port}"


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on: Serve would keep its earlier proxy there and
    ignore the new address (an app of an earlier run, left when its command was killed)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise RewardmineError(
                f"port {port} on {host} is taken; if an earlier `rewardmine serve --replicas` "
                "is still deployed (its command was killed), stop it with `serve shutdown -y` "
                "(Ray's command, with RAY_ADDRESS set as for the run), or pick another --port"
            ) from None


def shutdown() -> None:
    """Stop the replicas and Serve (Ray itself keeps running)."""
    from ray import serve

    serve.shutdown()
