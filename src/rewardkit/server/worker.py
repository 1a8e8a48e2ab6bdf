"""A model in a process of its own, so the server's HTTP and tokenizing work cannot stall it.

In one process the model thread needs the GIL back after every kernel of a forward pass. While
the event loop parses JSON or the encoding threads render chat templates, each of those hand-backs
can wait for the interpreter's switch interval (5 ms), so a loaded server's forward passes run
several times slower than the same call alone (``docs/performance.md`` has the measurement).
``rewardkit serve`` therefore builds each model in a child process and sends it merged calls over
a pipe: token ids and judge requests in, floats and verdicts out.

The child ignores SIGINT (a terminal's Ctrl-C reaches the whole process group), so the server's
graceful shutdown can still finish the requests it accepted; it exits when the parent closes the
pipe or dies.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

Factory = Callable[[], Callable[[list[Any]], Sequence[Any]]]


class WorkerDied(RuntimeError):
    """The model's process is gone; the server cannot score until it is restarted."""


class ModelWorker:
    """Runs ``factory()`` (which loads a model and returns ``run(items) -> results``) in a child
    process; calling the worker calls ``run`` there. Exceptions come back with their own type.

    ``factory`` must be picklable (a module-level function or a ``functools.partial`` of one):
    the child is started with "spawn", which CUDA needs.
    """

    def __init__(self, factory: Factory, *, name: str = "model") -> None:
        self.name = name
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(factory, child_end),
                                        name=f"rewardkit-{name}", daemon=True)
        self._process.start()
        child_end.close()
        self._lock = threading.Lock()
        try:
            self._receive()  # "ready", or the exception that stopped the model from loading
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def __call__(self, items: list[Any]) -> list[Any]:
        with self._lock:
            try:
                self._conn.send(items)
            except OSError:  # a broken pipe: the child is gone
                raise self._died() from None
            return self._receive()

    def close(self, timeout_s: float = 30.0) -> None:
        """Ask the child to exit; terminate it if it has not within ``timeout_s``."""
        with self._lock:
            with contextlib.suppress(OSError):  # the child may be gone already
                self._conn.send(None)
            self._process.join(timeout_s)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)
            self._conn.close()

    def _receive(self) -> Any:
        while not self._conn.poll(0.5):
            if not self._process.is_alive():
                raise self._died()
        try:
            ok, payload = self._conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if not ok:
            raise payload
        return payload

    def _died(self) -> WorkerDied:
        self._process.join(1)
        return WorkerDied(f"the {self.name} worker process exited (code "
                          f"{self._process.exitcode}); its error is in the server's log")


def _serve(factory: Factory, conn: Any) -> None:
    """The child: build the model, then answer calls until told to stop or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
