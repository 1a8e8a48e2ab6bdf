"""A model in a process of its own, so the server's HTTP and tokenizing work cannot stall it.

In one process the model thread needs the GIL back after every kernel of a forward pass. While
the event loop parses JSON or the encoding threads render chat templates, each of those hand-backs
can wait for the interpreter's switch interval (5 ms), so a loaded server's forward passes run
several times slower than the same call alone (``docs/performance.md`` has the measurement).
``rewardmine serve`` therefore builds each model in a child process and sends it merged calls over
a pipe: token ids and judge requests in, floats and verdicts out.

If the child dies (killed, out of memory, a crash in a kernel), the worker logs it and starts a
new one in the background, waiting 1, 2, 4 ... up to 60 s between failed attempts; until the new
one has loaded, calls fail at once with :class:`WorkerDied` carrying a Retry-After estimate (the
server answers 503). The child ignores SIGINT (a terminal's Ctrl-C reaches the whole process
group), so the server's graceful shutdown can still finish the requests it accepted; it exits
when the parent closes the pipe or dies.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from rewardmine.server.batcher import Unavailable

Factory = Callable[[], Callable[[list[Any]], Sequence[Any]]]

log = logging.getLogger("rewardmine.server")

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)  # between failed restarts
SMALL_HOST_CPUS = 2  # at most this many CPUs: one torch thread per worker by default


def default_worker_threads(cpus: int | None = None) -> int | None:
    """Torch threads of a model worker when none are asked for: 1 on a host with at most
    ``SMALL_HOST_CPUS`` CPUs, else None (torch's choice, one per core).

    On 2 shared cores a worker with 2 torch threads competes with the server's own process for
    both; in one interleaved run one thread served 1.9x to 13x the requests of two, at a quarter
    of the median latency with batching (``benchmarks/results/server-threads.md``).
    """
    cpus = os.cpu_count() if cpus is None else cpus
    return 1 if (cpus or 1) <= SMALL_HOST_CPUS else None


class WorkerDied(Unavailable, RuntimeError):
    """The model's process is gone; a new one is loading (retry after ``retry_after`` s)."""


class _Child:
    """One model process and its end of the pipe."""

    def __init__(self, factory: Factory, name: str, torch_threads: int | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(factory, child_end, torch_threads),
                                       name=f"rewardmine-{name}", daemon=True)
        self.process.start()
        child_end.close()

    def receive(self, died: Callable[[], BaseException]) -> Any:
        while not self.conn.poll(0.5):
            if not self.process.is_alive():
                raise died()
        try:
            ok, payload = self.conn.recv()
        except (EOFError, OSError):
            raise died() from None
        if not ok:
            raise payload
        return payload

    def stop(self, timeout_s: float) -> None:
        with contextlib.suppress(OSError):  # the child may be gone already
            self.conn.send(None)
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.conn.close()
        with contextlib.suppress(ValueError):
            self.process.close()


class ModelWorker:
    """Runs ``factory()`` (which loads a model and returns ``run(items) -> results``) in a child
    process; calling the worker calls ``run`` there. Exceptions come back with their own type.

    ``factory`` must be picklable (a module-level function or a ``functools.partial`` of one):
    the child is started with "spawn", which CUDA needs. The first load happens in the
    constructor and its error is raised there; later loads (after the child died) happen on a
    background thread with backoff.

    ``torch_threads`` is the number of torch threads in the child (``torch.set_num_threads``,
    before ``factory`` runs); None leaves torch's own choice (one per core); "auto" is
    :func:`default_worker_threads` (1 on a small host).
    """

    def __init__(self, factory: Factory, *, name: str = "model",
                 torch_threads: int | Literal["auto"] | None = "auto") -> None:
        if torch_threads == "auto":
            torch_threads = default_worker_threads()
        if torch_threads is not None and torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1 (or None), got {torch_threads}")
        self.name = name
        self.torch_threads = torch_threads
        self.restarts = 0  # completed restarts, for monitoring and tests
        self._factory = factory
        self._lock = threading.Lock()  # one call on the pipe at a time
        self._state = threading.Lock()  # guards the fields below
        self._restarting: threading.Thread | None = None
        self._closed = False
        self._stop = threading.Event()  # set by close(): wakes a restart that waits out a backoff
        self._load_seconds = 1.0
        self._ready_at = 0.0  # when the running child's restart is expected to finish
        self._served_at = 0.0  # when the last restart finished
        self._streak = 0  # deaths soon after a restart, for the backoff
        started = time.monotonic()
        self._child = _Child(factory, name, torch_threads)
        try:
            self._child.receive(self._died)  # "ready", or what stopped the model from loading
        except BaseException:
            self._child.stop(5)
            raise
        self._load_seconds = time.monotonic() - started
        self._watch(self._child)

    @property
    def alive(self) -> bool:
        """Whether a loaded model process is answering (False while one restarts)."""
        with self._state:
            return self._restarting is None and not self._closed \
                and self._child.process.is_alive()

    @property
    def pid(self) -> int | None:
        """The process id of the current model process."""
        with self._state:
            return self._child.process.pid

    @property
    def loading(self) -> bool:
        """Whether a new process is loading after the last one died."""
        with self._state:
            return self._restarting is not None

    def retry_after(self) -> float:
        """Seconds until a restarting worker is expected to answer again (at least 1)."""
        with self._state:
            return max(1.0, self._ready_at - time.monotonic())

    def __call__(self, items: list[Any]) -> list[Any]:
        with self._lock:
            with self._state:
                child = None if self._restarting is not None or self._closed else self._child
            if child is None:
                raise self._died()
            try:
                child.conn.send(items)
            except OSError:  # a broken pipe: the child is gone
                raise self._died() from None
            return child.receive(self._died)

    def kill(self) -> None:
        """Kill the model process now (a hung model, or a call nobody waits for any more); a new
        one starts as after a crash, and calls meanwhile fail with :class:`WorkerDied`."""
        with self._state:
            child = None if self._closed or self._restarting is not None else self._child
        if child is not None and child.process.is_alive():
            log.error("killing the %s worker process: its call outlived every request in it",
                      self.name)
            child.process.kill()

    def close(self, timeout_s: float = 30.0) -> None:
        """Ask the child to exit; terminate it if it has not within ``timeout_s`` (also when a
        call is still running in it). Stops any restart in progress."""
        with self._state:
            self._closed = True
            restarting = self._restarting
        self._stop.set()
        got = self._lock.acquire(timeout=timeout_s)
        try:
            self._child.stop(timeout_s if got else 0)
        finally:
            if got:
                self._lock.release()
        if restarting is not None:
            restarting.join(timeout_s)

    # ------------------------------------------------------------------------------ internals

    def _died(self) -> WorkerDied:
        """The error for a call that found the child gone; starts its replacement."""
        with self._state:
            if self._closed:
                return WorkerDied(f"the {self.name} worker is shut down", retry_after=5.0)
            if self._restarting is None:
                process = self._child.process  # its pipe broke: it is dying, if not yet dead
                process.join(2)
                if process.is_alive():
                    process.kill()
                    process.join(5)
                code = process.exitcode
                # a worker that dies again soon after a restart is not restarted at once
                recent = self.restarts and time.monotonic() - self._served_at < BACKOFF_S[-1]
                self._streak = self._streak + 1 if recent else 0
                delay = BACKOFF_S[min(self._streak, len(BACKOFF_S)) - 1] if self._streak else 0.0
                log.error("the %s worker process exited (code %s); starting a new one%s",
                          self.name, code, f" in {delay:.0f} s" if delay else "")
                self._ready_at = time.monotonic() + delay + self._load_seconds
                self._restarting = threading.Thread(target=self._restart_loop, args=(delay,),
                                                    name=f"{self.name}-restart", daemon=True)
                self._restarting.start()
            wait = max(1.0, self._ready_at - time.monotonic())
        return WorkerDied(f"the {self.name} worker process exited and a new one is loading; "
                          f"retry in {wait:.0f} s", retry_after=wait)

    def _watch(self, child: _Child) -> None:
        """Restart as soon as ``child`` exits, not at the next call (a model nobody calls would
        stay down, and ``/health`` with it)."""

        def wait() -> None:
            multiprocessing.connection.wait([child.process.sentinel])
            with self._state:
                current = self._child is child and not self._closed
            if current:
                self._died()

        threading.Thread(target=wait, name=f"{self.name}-watch", daemon=True).start()

    def _restart_loop(self, delay: float) -> None:
        self._stop.wait(delay)
        attempt = self._streak
        while True:
            with self._state:
                if self._closed:
                    self._restarting = None
                    return
            started = time.monotonic()
            old = self._child
            try:
                child = _Child(self._factory, self.name, self.torch_threads)
                try:
                    child.receive(functools.partial(_load_failed, child))
                except BaseException:
                    child.stop(5)
                    raise
            except Exception as error:
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                log.error("restarting the %s worker failed (attempt %d: %s); next try in %.0f s",
                          self.name, attempt, error, delay)
                with self._state:
                    self._ready_at = time.monotonic() + delay + self._load_seconds
                self._stop.wait(delay)
                continue
            with self._state:
                if self._closed:
                    self._restarting = None
                    child.stop(5)
                    return
                self._child = child
                self._load_seconds = time.monotonic() - started
                self._served_at = time.monotonic()
                self._restarting = None
                self.restarts += 1
            with contextlib.suppress(Exception):
                old.stop(0)
            log.warning("the %s worker is serving again (restart %d, loaded in %.1f s)",
                        self.name, self.restarts, self._load_seconds)
            self._watch(child)
            return


def _thread_lock_for_progress_bars() -> None:
    """Give tqdm a thread lock before anything draws a bar (model loading does): its default
    is a multiprocessing lock, a named semaphore that is never released, so the resource
    tracker warns of a "leaked semaphore" when the server stops."""
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _load_failed(child: _Child) -> RuntimeError:
    return RuntimeError(f"exit code {child.process.exitcode} while loading")


def _serve(factory: Factory, conn: Any, torch_threads: int | None = None) -> None:
    """The child: build the model, then answer calls until told to stop or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _thread_lock_for_progress_bars()
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    try:
        run = factory()
    except BaseException as error:
        conn.send((False, _portable(error)))
        return
    conn.send((True, "ready"))
    while True:
        try:
            items = conn.recv()
        except (EOFError, OSError):
            return
        if items is None:
            return
        try:
            reply = (True, list(run(items)))
        except Exception as error:
            reply = (False, _portable(error))
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            conn.send((False, RuntimeError(f"the {run!r} results cannot be sent back: {error}")))


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else an exception of the nearest builtin type.

    The server maps ValueError/TypeError/KeyError to 400, so the category must survive.
    """
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        kind = next((k for k in (ValueError, TypeError, KeyError) if isinstance(error, k)),
                    RuntimeError)
        return kind(f"{type(error).__name__}: {error}")
