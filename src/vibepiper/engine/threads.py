"""Threads the engine runs work in: a daemon thread pool, calls with a deadline,
and one background event loop for async tasks started from sync code.

The pool's threads are daemons so that a task stuck past its timeout (for example
in `time.sleep`) never keeps the interpreter from exiting; `concurrent.futures`
would join it at exit.
"""

from __future__ import annotations

import contextvars
import ctypes
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

_IDLE_SECONDS = 30.0


class DaemonThreadPool:
    """Runs callables on reusable daemon threads, at most `max_workers` at once."""

    def __init__(self, max_workers: int | None = None, name: str = "vibepiper-task") -> None:
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[[], None]) -> None:
        """Queue `fn`; it runs on an idle thread or a new one while under the limit."""
        with self._lock:
            if self._closed:
                raise RuntimeError("The task runner is shut down; no new tasks can be submitted.")
            self._queue.put(fn)
            if self._idle > 0:
                self._idle -= 1
                return
            if self._max_workers is None or self._threads < self._max_workers:
                self._threads += 1
                number = self._threads
            else:
                return
        thread = threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True)
        thread.start()

    def _work(self) -> None:
        # A new thread starts reserved for the item that made it; afterwards it counts
        # itself idle, and `submit` reserves an idle thread before queueing for it.
        while True:
            try:
                item = self._queue.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty() and self._idle > 0:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            if item is None:
                with self._lock:
                    self._idle = max(0, self._idle - 1)
                    self._threads -= 1
                return
            try:
                item()
            except BaseException:  # the runner resolves futures itself; keep the thread
                pass
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Stop accepting work; idle threads exit (running ones finish their item)."""
        with self._lock:
            self._closed = True
            count = self._threads
        for _ in range(count):
            self._queue.put(None)


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise `exc_type` inside the thread `thread_id` at its next Python bytecode."""
    done: int = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    if done > 1:  # more than one thread touched: undo
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return False
    return done == 1


def call_with_deadline(
    call: Callable[[], T],
    timeout: float,
    make_error: Callable[[], BaseException],
    inject: type[BaseException],
) -> T:
    """Run `call` on a daemon thread; give up after `timeout` seconds.

    On timeout, `inject` is raised inside the stuck thread (it takes effect when the
    thread next runs Python code) and `make_error()` is raised here at once, so the
    caller goes on without waiting for the stuck call.
    """
    context = contextvars.copy_context()
    box: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            box["value"] = context.run(call)
        except BaseException as exc:
            box["error"] = exc
        finally:
            finished.set()

    thread = threading.Thread(target=run, name="vibepiper-timed-call", daemon=True)
    thread.start()
    if not finished.wait(timeout):
        if thread.ident is not None:
            raise_in_thread(thread.ident, inject)
        raise make_error()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


# --- one background event loop for async work started from sync code ----------------

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's background event loop (started on first use, on a daemon thread)."""
    global _loop
    if _loop is not None:
        return _loop
    import asyncio

    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=run, name="vibepiper-async", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def spawn_on_background_loop(
    coro: Coroutine[Any, Any, T],
    context: contextvars.Context,
    on_done: Callable[[asyncio.Task[T]], None],
) -> None:
    """Start `coro` on the background loop in `context`; call `on_done(task)` when it ends."""
    loop = background_loop()

    def start() -> None:
        task = loop.create_task(coro, context=context)
        task.add_done_callback(on_done)

    loop.call_soon_threadsafe(start)


def run_coroutine_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code and return its value.

    With no event loop running in this thread, it runs here with `asyncio.run`;
    otherwise on the background loop while this thread waits.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    done = threading.Event()
    box: dict[str, Any] = {}

    def finish(task: asyncio.Task[T]) -> None:
        if task.cancelled():
            box["error"] = asyncio.CancelledError()
        elif task.exception() is not None:
            box["error"] = task.exception()
        else:
            box["value"] = task.result()
        done.set()

    spawn_on_background_loop(coro, contextvars.copy_context(), finish)
    done.wait()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
