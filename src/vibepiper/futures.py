"""Futures: handles on runs happening elsewhere (Prefect 3's classes and functions).

`task.submit(...)` returns a future at once; the task runs elsewhere (a thread, a
process, a cluster). `.wait()` blocks until it finished (and returns None, as in
Prefect: read `.state` after it), `.result()` returns its value or raises its
exception, `.state` is its current state.

The classes are Prefect's:

- `PrefectFuture`: the abstract base (`task_run_id`, `state`, `wait`, `result`,
  `add_done_callback`); `isinstance(x, PrefectFuture)` holds for every future.
- `PrefectTaskRunFuture`: a future for a task run, by id.
- `PrefectWrappedFuture`: one that wraps another future object (`wrapped_future`).
- `PrefectConcurrentFuture(task_run_id, wrapped_future)`: wraps a
  `concurrent.futures.Future` whose result is the run's final state.
- `PrefectDistributedFuture(task_run_id)`: waits for a task run recorded by any process
  (what `task.delay()` returns; it long-polls the server, or the in-process API over
  the embedded database: results must be persisted to be read back).
- `PrefectFlowRunFuture(flow_run_id)`: the same for a flow run.

Every task runner's `submit` returns a `PrefectConcurrentFuture` that also holds the
`task_run` it stands for.
"""

from __future__ import annotations

import abc
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from vibepiper.states import Pending, State

if TYPE_CHECKING:
    import concurrent.futures

    from vibepiper.schemas.runs import TaskRun

R = TypeVar("R")
F = TypeVar("F")


def _log_callback_failure() -> None:
    from vibepiper.logging import get_logger

    get_logger("futures").exception("Future callback failed")


class PrefectFuture(abc.ABC, Generic[R]):
    """The eventual final state of a run (the base of every future).

    The name is Prefect's, so migrated type hints (`PrefectFuture[int]`) keep working.
    """

    __slots__ = ("__weakref__", "_final_state")

    _final_state: State[R] | None

    @property
    @abc.abstractmethod
    def task_run_id(self) -> uuid.UUID:
        """The id of the task run this future stands for."""

    @property
    def state(self) -> State[R]:
        """The final state if the run finished, else Pending."""
        final = self._final_state
        return final if final is not None else Pending()

    def done(self) -> bool:
        """Whether the run reached its final state (as far as this future knows)."""
        return self._final_state is not None

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> None:
        """Block until the run finished, or `timeout` seconds passed (then return too)."""

    @abc.abstractmethod
    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The run's return value, waiting for it first.

        Raises:
            TimeoutError: the run did not finish within `timeout` seconds.
            Exception: the exception the run failed with (unless `raise_on_failure=False`).
        """

    @abc.abstractmethod
    def add_done_callback(self, fn: Callable[[PrefectFuture[R]], None]) -> None:
        """Call `fn(future)` when the run finishes (at once if it already has)."""


class PrefectTaskRunFuture(PrefectFuture[R]):
    """A future for one task run, known by its id."""

    __slots__ = ("_task_run_id",)

    def __init__(self, task_run_id: uuid.UUID) -> None:
        self._task_run_id = task_run_id
        self._final_state = None

    @property
    def task_run_id(self) -> uuid.UUID:
        return self._task_run_id

    @property
    def state(self) -> State[R]:
        """The final state if known, else the task run's latest recorded state (Pending
        while the store has none)."""
        final = self._final_state
        if final is not None:
            return final
        return _recorded_state(self._task_run_id, "task")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task_run_id={self._task_run_id})"


class PrefectWrappedFuture(PrefectTaskRunFuture[R], abc.ABC, Generic[R, F]):
    """A task run future that wraps another future object (`wrapped_future`)."""

    __slots__ = ("_wrapped_future",)

    def __init__(self, task_run_id: uuid.UUID, wrapped_future: F) -> None:
        self._wrapped_future = wrapped_future
        super().__init__(task_run_id)

    @property
    def wrapped_future(self) -> F:
        """The future object this one wraps."""
        return self._wrapped_future

    def add_done_callback(self, fn: Callable[[PrefectFuture[R]], None]) -> None:
        if self._final_state is not None:
            fn(self)
            return

        def call(_: Any) -> None:
            try:
                fn(self)
            except Exception:  # a callback must not break whoever finished the run
                _log_callback_failure()

        self._wrapped_future.add_done_callback(call)  # type: ignore[attr-defined]


_Future: Any = None


def _new_future() -> concurrent.futures.Future[Any]:
    # imported on the first submit, not with the package (a script that submits
    # nothing does not pay for concurrent.futures)
    global _Future
    if _Future is None:
        from concurrent.futures import Future

        _Future = Future
    return _Future()  # type: ignore[no-any-return]


class PrefectConcurrentFuture(PrefectWrappedFuture[R, "concurrent.futures.Future[Any]"]):
    """A task run future wrapping a `concurrent.futures.Future` that resolves to the
    run's final state: what every task runner's `submit` returns.

    A future made by a task runner also holds its `task_run` (None otherwise), so that
    `.state` is the run's current state without asking the store.
    """

    __slots__ = ("task_run",)

    def __init__(
        self, task_run_id: uuid.UUID, wrapped_future: concurrent.futures.Future[Any]
    ) -> None:
        super().__init__(task_run_id, wrapped_future)
        self.task_run: TaskRun | None = None

    @classmethod
    def for_task_run(cls, task_run: TaskRun) -> PrefectConcurrentFuture[R]:
        """A future for `task_run`, resolved by `set_final_state` (the task runners')."""
        future: PrefectConcurrentFuture[R] = cls(task_run.id, _new_future())
        future.task_run = task_run
        return future

    @property
    def state(self) -> State[R]:
        """The final state if the run finished, else its current state."""
        final = self._final_state
        if final is not None:
            return final
        task_run = self.task_run
        if task_run is None:
            return _recorded_state(self._task_run_id, "task")
        current = task_run.state
        return current if current is not None else Pending()

    def done(self) -> bool:
        return self._final_state is not None or self._wrapped_future.done()

    def wait(self, timeout: float | None = None) -> None:
        if self._final_state is not None:
            return
        try:
            outcome = self._wrapped_future.result(timeout=timeout)
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError
            return
        if isinstance(outcome, State):
            self._final_state = outcome

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        state = self._final_state
        if state is None:
            try:
                outcome = self._wrapped_future.result(timeout=timeout)
            except TimeoutError as exc:
                raise TimeoutError(
                    f"{self._describe()} did not complete within {timeout} seconds"
                ) from exc
            if not isinstance(outcome, State):
                return outcome  # type: ignore[no-any-return]
            state = self._final_state = outcome
        return state.result(raise_on_failure=raise_on_failure, _sync=True)

    def set_final_state(self, state: State[R]) -> None:
        """Resolve the future (called by the task runner; later calls are ignored)."""
        if self._wrapped_future.done():
            return
        self._final_state = state
        try:
            self._wrapped_future.set_result(state)
        except Exception:  # InvalidStateError: another thread resolved it meanwhile
            if not self._wrapped_future.done():
                raise

    def _describe(self) -> str:
        if self.task_run is not None:
            return f"Task run {self.task_run.name!r}"
        return f"Task run {self._task_run_id}"

    def __repr__(self) -> str:
        if self.task_run is None:
            return f"PrefectConcurrentFuture(task_run_id={self._task_run_id})"
        return f"PrefectConcurrentFuture({self.task_run.name!r}, state={self.state!r})"


TaskRunFuture = PrefectConcurrentFuture
"""The name this package gave the task runners' futures before Prefect's classes."""


# --- futures that read the store --------------------------------------------------------

POLL_FIRST_S = 0.05
POLL_MAX_S = 1.0


def _recorded_state(run_id: uuid.UUID, kind: str) -> State[Any]:
    """The latest recorded state of a task or flow run, Pending while there is none."""
    from vibepiper.exceptions import ObjectNotFound
    from vibepiper.runs import get_flow_run_state, get_task_run_state

    try:
        if kind == "task":
            return get_task_run_state(run_id)
        return get_flow_run_state(run_id)
    except ObjectNotFound:  # not recorded (or not flushed) yet: it will be
        return Pending()


def _poll(future: _StoreFuture[Any], timeout: float | None) -> Generator[float, None, None]:
    """Read the run's state until it is final; yields how long to sleep in between."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = POLL_FIRST_S
    while future._final_state is None:
        state = _recorded_state(future._run_id, future._kind)
        if state.is_final():
            future._final_state = state
            return
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            pause = min(pause, left)
        yield pause
        pause = min(pause * 2, POLL_MAX_S)


class _StoreFuture(PrefectFuture[R]):
    """A future for a run recorded in the store, by any process: it polls the store."""

    __slots__ = ("_callbacks", "_lock", "_run_id")

    _kind = "task"

    def __init__(self, run_id: uuid.UUID) -> None:
        self._run_id = run_id
        self._final_state = None
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[PrefectFuture[R]], None]] | None = None

    @property
    def state(self) -> State[R]:
        final = self._final_state
        if final is not None:
            return final
        state = _recorded_state(self._run_id, self._kind)
        if state.is_final():
            self._final_state = state
        return state

    def wait(self, timeout: float | None = None) -> None:
        for pause in _poll(self, timeout):
            time.sleep(pause)

    async def wait_async(self, timeout: float | None = None) -> None:
        """`wait`, sleeping on the event loop."""
        import asyncio

        for pause in _poll(self, timeout):
            await asyncio.sleep(pause)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        self.wait(timeout)
        return self._final_result(timeout, raise_on_failure)

    async def result_async(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """`result`, waiting on the event loop."""
        await self.wait_async(timeout)
        return self._final_result(timeout, raise_on_failure)

    aresult = result_async

    def _final_result(self, timeout: float | None, raise_on_failure: bool) -> R:
        state = self._final_state
        if state is None:
            raise TimeoutError(
                f"{self._kind.capitalize()} run {self._run_id} did not complete within "
                f"{timeout} seconds"
            )
        return state.result(raise_on_failure=raise_on_failure, _sync=True)

    def add_done_callback(self, fn: Callable[[PrefectFuture[R]], None]) -> None:
        if self._final_state is not None:
            fn(self)
            return
        with self._lock:
            if self._callbacks is not None:
                self._callbacks.append(fn)
                return
            self._callbacks = [fn]
        threading.Thread(target=self._watch, name="vibepiper-future-watch", daemon=True).start()

    def _watch(self) -> None:
        self.wait()
        with self._lock:
            callbacks, self._callbacks = self._callbacks or [], None
        for fn in callbacks:
            try:
                fn(self)
            except Exception:
                _log_callback_failure()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        return self._run_id == other._run_id  # type: ignore[attr-defined, no-any-return]

    def __hash__(self) -> int:
        return hash(self._run_id)


class PrefectDistributedFuture(_StoreFuture[R]):
    """A task run run anywhere (another process, a task worker), waited for by its id:
    what `task.delay()` returns.

    `wait` and `result` long-poll the server (`GET /task_runs/{id}/wait`: answered as
    soon as the run is final), or, with no `VIBEPIPER_API_URL`, the same API in this
    process over the embedded database; a server that is away (restarting) is asked
    again until the caller's timeout. A process recording into a store of its own (an
    in-memory one) polls that store instead. `result` reads a persisted value back, and
    raises `MissingResult` for one that was not persisted.
    """

    __slots__ = ()

    @property
    def task_run_id(self) -> uuid.UUID:
        return self._run_id

    def wait(self, timeout: float | None = None) -> None:
        if self._final_state is not None:
            return
        if not _server_sees_the_store():
            super().wait(timeout)
            return
        from vibepiper.client._background_tasks import wait_until_final

        state = wait_until_final(self._run_id, timeout)
        if state is not None:
            self._final_state = state

    async def wait_async(self, timeout: float | None = None) -> None:
        import asyncio

        await asyncio.to_thread(self.wait, timeout)

    def __reduce__(self) -> tuple[Any, ...]:
        # travels to other processes (a background task's arguments) as its run id
        return (type(self), (self._run_id,))

    def __repr__(self) -> str:
        return f"PrefectDistributedFuture(task_run_id={self._run_id})"


def _server_sees_the_store() -> bool:
    """Whether the API the client reaches holds what this process's store records (the
    server's store, or the embedded database the in-process API opens), not a store of
    the process's own (in memory, or one a test set)."""
    from vibepiper.settings import get_settings
    from vibepiper.store.registry import current_store

    settings = get_settings()
    store = current_store()
    if store is None:
        return bool(settings.api_url) or not settings.home_is_memory
    kind = type(store).__name__
    return kind == "ApiStore" or (kind == "EmbeddedStore" and not settings.api_url)


class PrefectFlowRunFuture(_StoreFuture[R]):
    """A flow run, waited for by its id (as `PrefectDistributedFuture` for task runs)."""

    __slots__ = ()

    _kind = "flow"

    @property
    def flow_run_id(self) -> uuid.UUID:
        """The id of the flow run this future stands for."""
        return self._run_id

    @property
    def task_run_id(self) -> uuid.UUID:
        raise AttributeError("a flow run future has a flow_run_id, not a task_run_id")

    def __repr__(self) -> str:
        return f"PrefectFlowRunFuture(flow_run_id={self._run_id})"


# --- many futures ----------------------------------------------------------------------


class PrefectFutureList(list[PrefectFuture[R]]):
    """The futures of a `.map()` call: a list with `.wait()` and `.result()` for all."""

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every future (at most `timeout` seconds in all)."""
        wait(list(self), timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[R]:
        """Every future's result, in order.

        Raises:
            TimeoutError: not every future finished within `timeout` seconds in all.
        """
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
        future.wait(remaining)
        if future.done():
            done.add(future)
            pending.discard(future)
        elif deadline is not None and time.monotonic() >= deadline:
            break
    still = {f for f in pending if not f.done()}
    done |= pending - still
    return DoneAndNotDoneFutures(done, still)


def as_completed(
    futures: Iterable[PrefectFuture[R]], timeout: float | None = None
) -> Iterator[PrefectFuture[R]]:
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


def _final_state_of(future: PrefectFuture[Any]) -> State[Any]:
    future.wait()
    return future.state


def resolve_futures_to_states(expr: Any) -> Any:
    """Replace every future inside `expr` (lists, tuples, sets, dicts) by its final state."""
    from vibepiper.engine.inputs import map_futures

    return map_futures(expr, _final_state_of)


def resolve_futures_to_results(expr: Any) -> Any:
    """Replace every future inside `expr` by its result (raising if one failed)."""
    from vibepiper.engine.inputs import map_futures

    return map_futures(expr, lambda f: f.result())


__all__ = [
    "DoneAndNotDoneFutures",
    "PrefectConcurrentFuture",
    "PrefectDistributedFuture",
    "PrefectFlowRunFuture",
    "PrefectFuture",
    "PrefectFutureList",
    "PrefectTaskRunFuture",
    "PrefectWrappedFuture",
    "TaskRunFuture",
    "as_completed",
    "resolve_futures_to_results",
    "resolve_futures_to_states",
    "wait",
]
