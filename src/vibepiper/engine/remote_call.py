"""Calling a task function in another process: both ends of one call.

The flow's process keeps a task run's orchestration (states, retries, caching, hooks);
a worker process (our own, Dask's or Ray's) only calls the function. `pack_call`
turns one call into bytes, `run_packed_call` runs it on the worker inside a
`TaskRunContext` (so `get_run_logger()` and `vibepiper.runtime` work) and answers
with bytes holding `(ok, value or exception, log records)`, and `deliver` re-emits
the records in the flow's process and returns the value or raises the exception.

Workers never open the run store: while calls run, the `vibepiper` logger sends
records only to a collector (chosen through a context variable, so concurrent calls
in one shared worker keep their records apart) and `setup_logging` is held off; the
logger's previous configuration comes back when the last call ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import inspect
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibepiper.context import TaskRunContext
    from vibepiper.schemas.runs import TaskRun
    from vibepiper.tasks import Task

# (ok, the return value or the exception raised, the call's log records)
Answer = tuple[bool, Any, list[logging.LogRecord]]


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteCall:
    """One task function call, with what the worker needs to rebuild its run context."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    task: Task[..., Any]
    task_run: TaskRun
    parameters: dict[str, Any]
    log_prints: bool
    log_level: int
    # the worker gives up on the call after this many seconds (None: never); its thread
    # is abandoned, not killed, and stops at its next Python bytecode
    deadline: float | None = None


def pack_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    ctx: TaskRunContext,
    deadline: float | None = None,
) -> bytes:
    """Serialize one call (with cloudpickle) for `run_packed_call` on a worker."""
    import cloudpickle

    from vibepiper.logging import ROOT_LOGGER

    call = RemoteCall(
        fn=fn,
        args=args,
        kwargs=kwargs,
        task=ctx.task,
        task_run=ctx.task_run,
        parameters=ctx.parameters,
        log_prints=ctx.log_prints,
        log_level=logging.getLogger(ROOT_LOGGER).getEffectiveLevel(),
        deadline=deadline,
    )
    data: bytes = cloudpickle.dumps(call)
    return data


def deliver(data: bytes) -> Any:
    """In the flow's process: re-emit a call's log records, then return or raise."""
    import cloudpickle

    ok, value, records = cloudpickle.loads(data)
    for record in records:
        logging.getLogger(record.name).handle(record)
    if ok:
        return value
    raise value


# --- the worker's end -------------------------------------------------------------------


def run_packed_call(data: bytes) -> bytes:
    """On a worker: run a `pack_call` payload; answer with bytes for `deliver`."""
    import cloudpickle

    try:
        call: RemoteCall = cloudpickle.loads(data)
    except Exception as exc:
        error = RuntimeError(f"The worker could not load the task call: {exc!r}")
        return _dump((False, error, []))
    return _dump(run_call(call))


def run_call(call: RemoteCall) -> Answer:
    """Call the function inside its task run's context, collecting its log records."""
    from vibepiper.context import TaskRunContext, use_task_run_context

    if call.log_prints:
        from vibepiper.logging import enable_log_prints

        enable_log_prints()
    ctx = TaskRunContext(
        task=call.task,
        task_run=call.task_run,
        parameters=call.parameters,
        log_prints=call.log_prints,
    )
    with collect_logs(call.log_level) as records:
        try:
            with use_task_run_context(ctx):
                value = _call(call)
            return True, value, records
        except Exception as exc:
            return False, exc, records


def _call(call: RemoteCall) -> Any:
    def once() -> Any:
        value = call.fn(*call.args, **call.kwargs)
        if inspect.isawaitable(value):
            from vibepiper.engine.threads import run_coroutine_sync

            value = run_coroutine_sync(_await(value))
        return value

    if call.deadline is None:
        return once()
    from vibepiper.engine.threads import call_with_deadline
    from vibepiper.exceptions import TaskRunTimeoutError

    timeout = call.deadline
    return call_with_deadline(
        once,
        timeout,
        lambda: TaskRunTimeoutError(f"Task run exceeded timeout of {timeout} second(s)"),
        TaskRunTimeoutError,
    )


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _dump(answer: Answer) -> bytes:
    import cloudpickle

    try:
        data: bytes = cloudpickle.dumps(answer)
    except Exception as exc:
        what = "return value" if answer[0] else "exception or log records"
        error = TypeError(f"The task's {what} could not be pickled: {exc}")
        try:
            data = cloudpickle.dumps((False, error, answer[2]))
        except Exception:
            data = cloudpickle.dumps((False, error, []))
    return data


# --- log collection -----------------------------------------------------------------------

_collector: contextvars.ContextVar[list[logging.LogRecord] | None] = contextvars.ContextVar(
    "vibepiper_remote_log_collector", default=None
)
_install_lock = threading.Lock()
_active_calls = 0
_saved: tuple[list[logging.Handler], int, bool, bool] | None = None


class _CollectingHandler(logging.Handler):
    """Keeps a record for the call whose context logged it; passes others on."""

    def __init__(self, passthrough: list[logging.Handler]) -> None:
        super().__init__()
        self.passthrough = passthrough

    def emit(self, record: logging.LogRecord) -> None:
        records = _collector.get()
        if records is None:
            for handler in self.passthrough:
                if record.levelno >= handler.level:
                    handler.handle(record)
            return
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{''.join(traceback.format_exception(*record.exc_info))}"
        record.msg = message
        record.args = None
        record.exc_info = None
        record.exc_text = None
        records.append(record)


@contextlib.contextmanager
def collect_logs(level: int) -> Iterator[list[logging.LogRecord]]:
    """Collect the `vibepiper` log records emitted in this context (and threads it starts).

    While any call collects, the `vibepiper` logger has only the collecting handler
    (records of other code go on to its previous handlers), does not propagate, and
    `setup_logging` does nothing, so no store is opened. The last call out restores it.
    """
    import vibepiper.logging as run_logging

    global _active_calls, _saved
    root = logging.getLogger(run_logging.ROOT_LOGGER)
    with _install_lock:
        if _active_calls == 0:
            handlers = list(root.handlers)
            _saved = (handlers, root.level, root.propagate, run_logging._configured)
            for handler in handlers:
                root.removeHandler(handler)
            root.addHandler(_CollectingHandler(handlers))
            root.propagate = False
            run_logging._configured = True
            root.setLevel(level)
        else:
            root.setLevel(min(root.level, level))
        _active_calls += 1
    records: list[logging.LogRecord] = []
    token = _collector.set(records)
    try:
        yield records
    finally:
        _collector.reset(token)
        with _install_lock:
            _active_calls -= 1
            if _active_calls == 0 and _saved is not None:
                handlers, old_level, propagate, configured = _saved
                _saved = None
                for handler in list(root.handlers):
                    if isinstance(handler, _CollectingHandler):
                        root.removeHandler(handler)
                for handler in handlers:
                    root.addHandler(handler)
                root.setLevel(old_level)
                root.propagate = propagate
                run_logging._configured = configured
