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

Every response carries ``x-rewardmine-replica`` (the replica's id) and ``x-rewardmine-pid``, so a
client or a test can see how requests were spread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

Builder = Callable[[], Any]  # builds the ASGI app, inside each replica
APP_NAME = "rewardmine"


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


def _deployment(build: Builder, *, replicas: int, gpus_per_replica: float,
                cpus_per_replica: float, max_ongoing_requests: int,
                graceful_timeout_s: float) -> Any:
    """The bound Serve application: ``replicas`` copies of the app ``build`` returns."""
    from ray import serve

    @serve.ingress()
    class RewardServer:
        """One replica: its own model, the app built in the replica's process."""

        def __init__(self, build: Builder) -> None:
            self.build = build

        def __serve_build_asgi_app__(self) -> Any:
            replica = serve.get_replica_context().replica_id.unique_id
            return ReplicaHeaders(self.build(), replica)

    options: dict[str, Any] = {"num_cpus": cpus_per_replica}
    if gpus_per_replica:
        options["num_gpus"] = gpus_per_replica
    deployment = serve.deployment(
        RewardServer, name="RewardServer", num_replicas=replicas,
        max_ongoing_requests=max_ongoing_requests, ray_actor_options=options,
        health_check_period_s=2, graceful_shutdown_timeout_s=graceful_timeout_s)
    return deployment.bind(build)


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

    join_ray()
    serve.start(http_options={"host": host, "port": port})
    serve.run(_deployment(build, replicas=replicas, gpus_per_replica=gpus_per_replica,
                          cpus_per_replica=cpus_per_replica,
                          max_ongoing_requests=max_ongoing_requests,
                          graceful_timeout_s=graceful_timeout_s),
              name=APP_NAME, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"


def shutdown() -> None:
    """Stop the replicas and Serve (Ray itself keeps running)."""
    from ray import serve

    serve.shutdown()
