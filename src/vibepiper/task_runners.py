"""Task runners: where submitted tasks run.

`ThreadPoolTaskRunner` (the default) runs each submitted task on a thread; async
tasks run together on one background event loop. `ProcessPoolTaskRunner` keeps the
orchestration in this process and calls the task functions in worker processes.

A task is only started once every future it depends on has finished, so no thread
sits blocked waiting for its inputs.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from vibepiper.context import FlowRunContext
from vibepiper.engine.inputs import upstream_futures
from vibepiper.engine.threads import DaemonThreadPool
from vibepiper.futures import PrefectConcurrentFuture, PrefectFuture, PrefectFutureList
from vibepiper.states import Crashed, State

if TYPE_CHECKING:
    import asyncio

    from vibepiper.engine.processes import ProcessWorkerPool
    from vibepiper.engine.task_engine import Invoker, TaskRunEngine
    from vibepiper.tasks import Task


class _NewLock:
    """Stands for a lock in a pickled runner: the copy gets a fresh one."""


_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class TaskRunner:
    """Base class: decides where a submitted task's engine runs."""

    # attributes holding threads, processes or connections: a pickled copy starts without
    _transient: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._entered = 0

    def __getstate__(self) -> dict[str, Any]:
        # a runner travels inside its flow (`serialize_context`, cloudpickle) as settings
        state: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if isinstance(value, _LOCK_TYPES):
                value = _NewLock()
            elif name in self._transient:
                value = None
            state[name] = value
        state["_entered"] = 0
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, threading.Lock() if isinstance(value, _NewLock) else value)

    @property
    def name(self) -> str:
        return type(self).__name__.lower().replace("taskrunner", "")

    def duplicate(self) -> Self:
        """A fresh runner with the same settings (each flow run gets its own)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._entered += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._entered -= 1
        if self._entered == 0:
            self.shutdown()

    def shutdown(self) -> None:
        """Release threads and processes (running work is not waited for)."""

    # --- what subclasses provide -------------------------------------------------------
    invoke: Invoker | None = None

    def _execute(self, work: Callable[[], None]) -> None:
        raise NotImplementedError

    # --- submission (shared) -----------------------------------------------------------
    def submit(
        self,
        task: Task[..., Any],
        parameters: dict[str, Any],
        wait_for: Any = None,
        dependencies: Any = None,
    ) -> PrefectFuture[Any]:
        """Record a Pending task run and start it once its upstream futures finished."""
        from vibepiper.engine.task_engine import TaskRunEngine
        from vibepiper.store import get_store

        flow_ctx = FlowRunContext.get()
        store = flow_ctx.store if flow_ctx is not None else get_store()
        engine = TaskRunEngine(task, parameters, wait_for, flow_ctx, store, self.invoke)
        engine.create()
        future: PrefectConcurrentFuture[Any] = PrefectConcurrentFuture.for_task_run(engine.task_run)
        if flow_ctx is not None:
            _track(flow_ctx, future)
        context = contextvars.copy_context()
        upstream = [
            f for f in upstream_futures((list(parameters.values()), wait_for)) if not f.done()
        ]

        def start() -> None:
            self._start(engine, future, context)

        if not upstream:
            start()
        else:
            countdown = _Countdown(len(upstream), start)
            for upstream_future in upstream:
                upstream_future.add_done_callback(countdown.tick)
        return future

    def map(
        self,
        task: Task[..., Any],
        parameters_list: list[dict[str, Any]],
        wait_for: Any = None,
    ) -> PrefectFutureList[Any]:
        return PrefectFutureList(self.submit(task, p, wait_for) for p in parameters_list)

    def _start(
        self,
        engine: TaskRunEngine,
        future: PrefectConcurrentFuture[Any],
        context: contextvars.Context,
    ) -> None:
        from vibepiper.engine.task_engine import run_task_async, run_task_sync
        from vibepiper.engine.threads import spawn_on_background_loop

        if engine.task.isasync and self.invoke is None:

            def done(outcome: asyncio.Task[State[Any]]) -> None:
                future.set_final_state(_outcome_state(engine, outcome))

            spawn_on_background_loop(run_task_async(engine), context, done)
            return

        def work() -> None:
            try:
                state = context.run(run_task_sync, engine)
            except BaseException as exc:
                state = _crash(engine, exc)
            future.set_final_state(state)

        self._execute(work)


def _outcome_state(engine: TaskRunEngine, outcome: asyncio.Task[State[Any]]) -> State[Any]:
    if not outcome.cancelled() and outcome.exception() is None:
        result: State[Any] = outcome.result()
        return result
    if outcome.cancelled():
        return _crash(engine, None)
    error = outcome.exception()
    assert error is not None
    return _crash(engine, error)


def _crash(engine: TaskRunEngine, exc: BaseException | None) -> State[Any]:
    """The final state of a run whose driver was interrupted; recorded if not final yet."""
    state: State[Any] | None = getattr(engine, "state", None)
    if state is not None and state.is_final():
        return state
    reason = f"{type(exc).__name__}: {exc}" if exc is not None else "its coroutine was cancelled"
    crashed = Crashed(message=f"The task run was interrupted by {reason}", data=exc)
    return engine.store.propose_task_run_state(engine.task_run, crashed)


def _track(flow_ctx: FlowRunContext, future: PrefectFuture[Any]) -> None:
    pending = flow_ctx.pending_futures
    with flow_ctx.lock:
        pending.add(future)

    def forget(done: PrefectFuture[Any]) -> None:
        with flow_ctx.lock:
            pending.discard(done)

    future.add_done_callback(forget)


class _Countdown:
    """Calls `action` once `count` ticks arrived (from any thread)."""

    __slots__ = ("_action", "_count", "_lock")

    def __init__(self, count: int, action: Callable[[], None]) -> None:
        self._count = count
        self._action = action
        self._lock = threading.Lock()

    def tick(self, _: object = None) -> None:
        with self._lock:
            self._count -= 1
            fire = self._count == 0
        if fire:
            self._action()


class ThreadPoolTaskRunner(TaskRunner):
    """Runs submitted tasks on threads (at most `max_workers` at once; default unbounded)."""

    _transient = ("_pool",)

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__()
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self._pool: DaemonThreadPool | None = None
        self._lock = threading.Lock()

    def duplicate(self) -> Self:
        return type(self)(max_workers=self.max_workers)

    def _execute(self, work: Callable[[], None]) -> None:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = DaemonThreadPool(self.max_workers)
                pool = self._pool
        pool.submit(work)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers})"


class ProcessPoolTaskRunner(TaskRunner):
    """Calls submitted task functions in up to `max_workers` worker processes.

    Arguments and return values travel with cloudpickle. States, retries, caching and
    hooks are handled in the flow's process; a task past its `timeout_seconds` has
    its process killed.
    """

    _transient = ("_threads", "_processes")

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__()
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers or os.cpu_count() or 1
        self._threads: DaemonThreadPool | None = None
        self._processes: ProcessWorkerPool | None = None
        self._lock = threading.Lock()

    def duplicate(self) -> Self:
        return type(self)(max_workers=self.max_workers)

    def _ensure(self) -> tuple[DaemonThreadPool, ProcessWorkerPool]:
        with self._lock:
            if self._threads is None or self._processes is None:
                from vibepiper.engine.processes import ProcessWorkerPool

                self._threads = DaemonThreadPool(self.max_workers, name="vibepiper-process-task")
                self._processes = ProcessWorkerPool(self.max_workers)
            return self._threads, self._processes

    @property
    def invoke(self) -> Invoker:  # type: ignore[override]
        return self._ensure()[1].call

    def _execute(self, work: Callable[[], None]) -> None:
        self._ensure()[0].submit(work)

    def shutdown(self) -> None:
        with self._lock:
            threads, processes = self._threads, self._processes
            self._threads = self._processes = None
        if threads is not None:
            threads.shutdown()
        if processes is not None:
            processes.shutdown()

    def __repr__(self) -> str:
        return f"ProcessPoolTaskRunner(max_workers={self.max_workers})"


PrefectTaskRunner = ThreadPoolTaskRunner
ConcurrentTaskRunner = ThreadPoolTaskRunner
"""Prefect 2's name for the thread pool runner, which Prefect 3 still ships."""

__all__ = [
    "ConcurrentTaskRunner",
    "PrefectTaskRunner",
    "ProcessPoolTaskRunner",
    "TaskRunner",
    "ThreadPoolTaskRunner",
]


def __getattr__(name: str) -> Any:
    # DaskTaskRunner and RayTaskRunner live in vibepiper.integrations; importing them
    # here only on access keeps `import vibepiper` free of dask, distributed and ray.
    if name == "DaskTaskRunner":
        from vibepiper.integrations.dask import DaskTaskRunner

        return DaskTaskRunner
    if name == "RayTaskRunner":
        from vibepiper.integrations.ray import RayTaskRunner

        return RayTaskRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
