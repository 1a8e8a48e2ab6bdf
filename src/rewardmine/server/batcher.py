"""Dynamic batching: requests that arrive close together run as one call, results in order.

Each request submits a list of items. A worker collects queued requests until they hold
``max_batch_size`` items or the oldest has waited ``max_wait_s``, runs them as one call of
``run(items) -> results`` on its own thread (one model call at a time), and hands every request
its own slice of the results. A request is never split; one larger than ``max_batch_size`` runs
alone. The queue is bounded in items: a request that does not fit raises :class:`QueueFull` at
once (the server answers 503 with Retry-After) instead of piling up, and one that could never fit
raises :class:`TooLarge` (413). If a merged call fails, each of its requests runs alone, so one
bad request cannot fail its neighbours; a failure that is nobody's request (:class:`Unavailable`,
such as a model process that died) fails the whole call at once.

A request whose items are those of a request already queued or running (a client's retry after
its own timeout, while the first attempt is still in the queue) joins that work instead of being
computed twice, when the batcher is given a ``key`` for requests.

Abandoned work does not hold the model: a queued request that timed out is skipped, and when every
request of the running call has timed out, and no retry has joined it within ``cancel_grace_s``,
the batcher calls ``cancel`` (a model worker kills its process and starts a new one), so the next
requests do not queue behind a call nobody waits for.
:meth:`DynamicBatcher.running_for` says how long the current call has run, for a health check.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Unavailable(Exception):
    """The service cannot answer now, through no fault of the request; retry after
    ``retry_after`` seconds (the server answers 503 with Retry-After)."""

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFull(Unavailable):
    """The batcher's queue has no room for the request; retry after ``retry_after`` seconds."""


class Closed(Unavailable):
    """The batcher is shutting down and accepts no new requests."""


class TooLarge(ValueError):
    """A request holds more items than the queue can ever hold; it must be split."""


@dataclass
class _Job(Generic[Item, Result]):
    items: list[Item]
    future: asyncio.Future[list[Result]]
    enqueued: float = field(default_factory=time.monotonic)
    abandoned: bool = False  # every request waiting for it gave up
    waiters: int = 0


@dataclass
class BatcherStats:
    """Counters for monitoring and the load benchmark."""

    requests: int = 0
    items: int = 0
    calls: int = 0
    rejected: int = 0
    timed_out: int = 0
    cancelled: int = 0  # calls given up because every request in them had timed out
    joined: int = 0  # requests that joined identical work already queued or running
    largest_call: int = 0
    busy_s: float = 0.0  # time spent inside run

    def to_dict(self) -> dict[str, Any]:
        mean = self.items / self.calls if self.calls else 0.0
        return {**self.__dict__, "mean_items_per_call": mean}


class DynamicBatcher(Generic[Item, Result]):
    """Merges concurrent requests into calls of ``run``.

    Args:
        run: scores a list of items, returning one result per item in order (runs on a thread).
        max_batch_size: items per call (a single larger request runs alone).
        max_wait_s: how long the oldest queued request may wait for others to join it.
        max_queue: items that may wait; beyond it requests are refused with :class:`QueueFull`.
        name: for thread names and messages.
        cancel: stops the running call when every request in it has timed out (None: the call
            runs to its end, its results dropped).
        key: a request's identity (its items, hashable), or None for requests that never
            join each other; requests with one key share one computation.
        cancel_grace_s: how long a call nobody waits for may go on before ``cancel``, so that a
            client's retry can still join it.
    """

    def __init__(self, run: Callable[[list[Item]], Sequence[Result]], *, max_batch_size: int = 64,
                 max_wait_s: float = 0.005, max_queue: int = 4096, name: str = "batcher",
                 cancel: Callable[[], None] | None = None,
                 key: Callable[[list[Item]], Hashable] | None = None,
                 cancel_grace_s: float = 0.0) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1 and max_wait_s >= 0")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.name = name
        self.cancel = cancel
        self.cancel_grace_s = cancel_grace_s
        self.key = key
        self._pending: dict[Hashable, _Job[Item, Result]] = {}  # unsettled jobs by key
        self.stats = BatcherStats()
        self._running: list[_Job[Item, Result]] = []  # the jobs of the call in progress
        self._call_started: float | None = None
        self._queue: deque[_Job[Item, Result]] = deque()
        self._queued_items = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._call_seconds = 0.05  # running estimate, for Retry-After

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._worker = asyncio.create_task(self._loop(), name=f"{self.name}-worker")

    async def submit(self, items: Sequence[Item], *, timeout: float | None = None) -> list[Result]:
        """Queue ``items`` and wait for their results (in order); raise on timeout or overload."""
        if self._worker is None or self._wake is None:
            raise RuntimeError(f"{self.name} is not started")
        if self._closing:
            raise Closed(f"{self.name} is shutting down")
        items = list(items)
        if not items:
            return []
        identity = self.key(items) if self.key is not None else None
        same = self._pending.get(identity) if identity is not None else None
        if same is not None and not same.future.done():
            same.abandoned = False  # a retry adopts the work its first attempt left
            self.stats.joined += 1
            return await self._wait(same, timeout)
        if len(items) > self.max_queue:
            raise TooLarge(f"{len(items)} items in one request but the {self.name} queue holds "
                           f"at most {self.max_queue}; split the request")
        if self._queued_items + len(items) > self.max_queue:
            self.stats.rejected += 1
            waiting_calls = 1 + self._queued_items / self.max_batch_size
            raise QueueFull(
                f"{self.name} queue is full ({self._queued_items} items waiting, limit "
                f"{self.max_queue})", retry_after=max(1.0, waiting_calls * self._call_seconds))
        job: _Job[Item, Result] = _Job(items, asyncio.get_running_loop().create_future())
        if identity is not None:
            self._pending[identity] = job
            job.future.add_done_callback(lambda _: self._forget(identity, job))
        self._queue.append(job)
        self._queued_items += len(items)
        self.stats.requests += 1
        self._wake.set()
        return await self._wait(job, timeout)

    def _forget(self, identity: Hashable, job: _Job[Item, Result]) -> None:
        if self._pending.get(identity) is job:
            del self._pending[identity]

    async def _wait(self, job: _Job[Item, Result], timeout: float | None) -> list[Result]:
        job.waiters += 1
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except asyncio.TimeoutError:
            self.stats.timed_out += 1
            self._give_up(job)
            raise
        except asyncio.CancelledError:  # the caller gave up (a shutdown past its deadline)
            self._give_up(job)
            raise
        finally:
            job.waiters -= 1

    def _give_up(self, job: _Job[Item, Result]) -> None:
        if job.waiters == 1:  # the last one waiting: skipped if still queued, else dropped
            job.abandoned = True
            self._cancel_if_abandoned()

    async def close(self, timeout_s: float | None = None) -> None:
        """Refuse new requests, finish every queued one, then stop the worker.

        After ``timeout_s`` the requests still queued fail with :class:`Closed` and the call
        in progress is left to finish on its own (its callers have been answered already).
        """
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._worker is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), timeout_s)
            except asyncio.TimeoutError:
                self._worker.cancel()
                while self._queue:
                    job = self._queue.popleft()
                    _settle(job, error=Closed(f"{self.name} shut down before the request ran"))
                self._queued_items = 0
                self._executor.shutdown(wait=False, cancel_futures=True)
                return
        self._executor.shutdown(wait=True)

    def running_for(self) -> float:
        """Seconds the call in progress has run (0 when none runs)."""
        started = self._call_started
        return 0.0 if started is None else time.monotonic() - started

    # ------------------------------------------------------------------------------ internals

    def _cancel_if_abandoned(self) -> None:
        running = self._running
        if self.cancel is None or not running or not all(job.abandoned for job in running):
            return

        def still_abandoned() -> None:
            if self._running is running and all(job.abandoned for job in running):
                self._running = []
                self.stats.cancelled += 1
                self.cancel()  # type: ignore[misc]

        asyncio.get_running_loop().call_later(self.cancel_grace_s, still_abandoned)

    def _take(self) -> list[_Job[Item, Result]]:
        jobs: list[_Job[Item, Result]] = []
        size = 0
        while self._queue:
            job = self._queue[0]
            if job.abandoned:
                self._queue.popleft()
                self._queued_items -= len(job.items)
                job.future.cancel()  # nobody waits; a later retry queues it anew
                continue
            if jobs and size + len(job.items) > self.max_batch_size:
                break
            self._queue.popleft()
            self._queued_items -= len(job.items)
            jobs.append(job)
            size += len(job.items)
        return jobs

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            deadline = self._queue[0].enqueued + self.max_wait_s
            while (self._queued_items < self.max_batch_size and not self._closing
                   and (remaining := deadline - time.monotonic()) > 0):
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            jobs = self._take()
            if jobs:
                await self._execute(jobs)

    async def _call(self, items: list[Item]) -> list[Result]:
        loop = asyncio.get_running_loop()
        start = self._call_started = time.monotonic()
        self.stats.calls += 1  # attempts, failed ones included
        self.stats.items += len(items)
        self.stats.largest_call = max(self.stats.largest_call, len(items))
        try:
            results = list(await loop.run_in_executor(self._executor, self.run, items))
        finally:
            self._call_started = None
            self.stats.busy_s += time.monotonic() - start
        self._call_seconds = 0.8 * self._call_seconds + 0.2 * (time.monotonic() - start)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: run returned {len(results)} results for "
                               f"{len(items)} items")
        return results

    async def _execute(self, jobs: list[_Job[Item, Result]]) -> None:
        items = [item for job in jobs for item in job.items]
        self._running = jobs
        try:
            results = await self._call(items)
        except Exception as error:
            if len(jobs) == 1 or isinstance(error, Unavailable):
                for job in jobs:
                    _settle(job, error=error)
                return
            for job in jobs:  # find the culprit: every request alone (none that gave up)
                if job.abandoned:
                    continue
                self._running = [job]
                try:
                    _settle(job, results=await self._call(job.items))
                except Exception as alone:
                    _settle(job, error=alone)
            return
        finally:
            self._running = []
        start = 0
        for job in jobs:
            _settle(job, results=results[start:start + len(job.items)])
            start += len(job.items)


def _settle(job: _Job[Any, Any], *, results: list[Any] | None = None,
            error: BaseException | None = None) -> None:
    if job.future.done():
        return
    if error is not None:
        job.future.set_exception(error)
        if job.abandoned:  # nobody waits for it: no "exception never retrieved" warning
            job.future.exception()
    else:
        job.future.set_result(results)
