"""Futures: handles on task runs submitted to a task runner.

`task.submit(...)` returns a `PrefectFuture` at once; the task runs elsewhere (a
thread, a process, a cluster). `.wait()` blocks until it finished, `.result()`
returns its value or raises its exception, `.state` is its current state.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from vibepiper.states import State

if TYPE_CHECKING:
    from vibepiper.schemas.runs import TaskRun

R = TypeVar("R")


class PrefectFuture(Generic[R]):
    """The eventual final state of one task run.

    The name is Prefect's, so migrated type hints (`PrefectFuture[int]`) keep working.
    """

    __slots__ = ("__weakref__", "_callbacks", "_done", "_final_state", "_lock", "task_run")

    def __init__(self, task_run: TaskRun) -> None:
        self.task_run = task_run
        self._done = threading.Event()
        self._final_state: State[R] | None = None
        self._callbacks: list[Callable[[PrefectFuture[R]], None]] = []
        self._lock = threading.Lock()

    @property
    def task_run_id(self) -> uuid.UUID:
        """The id of the task run this future stands for."""
        return self.task_run.id

    @property
    def state(self) -> State[R]:
        """The final state if the run finished, else its current state."""
        final = self._final_state
        if final is not None:
            return final
        current = self.task_run.state
        if current is None:
            from vibepiper.states import Pending

            return Pending()
        return current

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> State[R] | None:
        """Block until the task run finished (or `timeout` seconds passed); return its state.

        Returns None if the timeout passed first.
        """
        if not self._done.wait(timeout):
            return None
        return self._final_state

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The task's return value, waiting for it first.

        Raises:
            TimeoutError: the run did not finish within `timeout` seconds.
            Exception: the exception the task failed with (unless `raise_on_failure=False`).
        """
        if not self._done.wait(timeout):
            raise TimeoutError(
                f"Task run {self.task_run.name!r} did not finish within {timeout} seconds"
            )
        state = self._final_state
        assert state is not None
        return state.result(raise_on_failure=raise_on_failure, _sync=True)

    def add_done_callback(self, fn: Callable[[PrefectFuture[R]], None]) -> None:
        """Call `fn(future)` when the run finishes (at once if it already has)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    def set_final_state(self, state: State[R]) -> None:
        """Resolve the future (called by the task runner)."""
        with self._lock:
            if self._done.is_set():
                return
            self._final_state = state
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a callback must not break the runner
                from vibepiper.logging import get_logger

                get_logger("futures").exception("Future callback failed")

    def __repr__(self) -> str:
        return f"PrefectFuture({self.task_run.name!r}, state={self.state!r})"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


PrefectConcurrentFuture = PrefectFuture
TaskRunFuture = PrefectFuture


class PrefectFutureList(list[PrefectFuture[R]]):
    """The futures of a `.map()` call: a list with `.wait()` and `.result()` for all."""

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every future (at most `timeout` seconds in all)."""
        wait(list(self), timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[R]:
        """Every future's result, in order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out = []
        for future in self:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            out.append(future.result(timeout=remaining, raise_on_failure=raise_on_failure))
        return out


class DoneAndNotDoneFutures(NamedTuple, Generic[R]):
    """What `wait` returns: the futures that finished and those that did not."""

    done: set[PrefectFuture[R]]
    not_done: set[PrefectFuture[R]]


def wait(
    futures: Iterable[PrefectFuture[R]], timeout: float | None = None
) -> DoneAndNotDoneFutures[R]:
    """Wait until every future finished or `timeout` seconds passed.

    Returns the sets `done` and `not_done`; duplicates are listed once.
    """
    pending = set(futures)
    done: set[PrefectFuture[R]] = {f for f in pending if f.done()}
    pending -= done
    if not pending:
        return DoneAndNotDoneFutures(done, set())
    deadline = None if timeout is None else time.monotonic() + timeout
    for future in list(pending):
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if future.wait(remaining) is not None or future.done():
            done.add(future)
            pending.discard(future)
        elif deadline is not None and time.monotonic() >= deadline:
            break
    still = {f for f in pending if not f.done()}
    done |= pending - still
    return DoneAndNotDoneFutures(done, still)


def as_completed(
    futures: Iterable[PrefectFuture[R]], timeout: float | None = None
) -> Generator[PrefectFuture[R], None, None]:
    """Yield each future as it finishes, fastest first.

    Raises:
        TimeoutError: when `timeout` seconds pass before every future finished.
    """
    unique = list(dict.fromkeys(futures))
    finished: queue.SimpleQueue[PrefectFuture[R]] = queue.SimpleQueue()
    for future in unique:
        future.add_done_callback(finished.put)
    deadline = None if timeout is None else time.monotonic() + timeout
    for _ in range(len(unique)):
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(f"{len(unique)} futures did not all finish within {timeout} s")
        try:
            yield finished.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError(
                f"{len(unique)} futures did not all finish within {timeout} s"
            ) from None


def resolve_futures_to_states(expr: Any) -> Any:
    """Replace every future inside `expr` (lists, tuples, sets, dicts) by its final state."""
    from vibepiper.engine.inputs import map_futures

    return map_futures(expr, lambda f: f.wait())


def resolve_futures_to_results(expr: Any) -> Any:
    """Replace every future inside `expr` by its result (raising if one failed)."""
    from vibepiper.engine.inputs import map_futures

    return map_futures(expr, lambda f: f.result())


__all__ = [
    "DoneAndNotDoneFutures",
    "PrefectConcurrentFuture",
    "PrefectFuture",
    "PrefectFutureList",
    "TaskRunFuture",
    "as_completed",
    "resolve_futures_to_results",
    "resolve_futures_to_states",
    "wait",
]
