"""Loggers for flow and task runs (Prefect 3: `prefect.logging.loggers`).

    from vibepiper.logging.loggers import get_run_logger

`get_run_logger()` is the logger of the current task run (or flow run); its records
carry the run's ids and names as attributes (`record.flow_run_id`, a string, as in
Prefect). `flow_run_logger` / `task_run_logger` make one for a given run.
`print_as_log` is the `print` that `log_prints=True` installs; `patch_print()`
installs it for a block. `disable_run_logger()` silences run loggers (for calling a
task's `.fn` in a unit test).
"""

from __future__ import annotations

import builtins
import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

from vibepiper.context import FlowRunContext, TaskRunContext
from vibepiper.exceptions import MissingContextError
from vibepiper.logging import FLOW_RUN_LOGGER, ROOT_LOGGER, TASK_RUN_LOGGER, setup_logging

if TYPE_CHECKING:
    import uuid

    from vibepiper.flows import Flow
    from vibepiper.schemas.runs import FlowRun, TaskRun
    from vibepiper.tasks import Task

    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter

UNKNOWN = "<unknown>"
"""What a record says for a run name or id its logger was not given (Prefect's word)."""


class PrefectLogAdapter(_Adapter):
    """A logger adapter stamping every record with its run's ids and names.

    `extra=` given to one call is merged over the adapter's own (the standard
    `LoggerAdapter` would drop it).
    """

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = {**(self.extra or {}), **extra} if extra else self.extra
        return msg, kwargs

    def getChild(self, suffix: str, extra: dict[str, Any] | None = None) -> PrefectLogAdapter:
        """An adapter over the child logger `suffix`, with this one's fields (and `extra`)."""
        return PrefectLogAdapter(
            self.logger.getChild(suffix), {**(self.extra or {}), **(extra or {})}
        )


RunLoggerAdapter = PrefectLogAdapter


def get_logger(name: str | None = None) -> logging.Logger:
    """A logger in the `vibepiper` tree (printed with run logs, not stored).

    `get_logger("engine")` is `vibepiper.engine`; a full name (`vibepiper.x`) is kept.
    """
    setup_logging()
    if not name:
        return logging.getLogger(ROOT_LOGGER)
    if name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def flow_run_logger(
    flow_run: FlowRun | None = None,
    flow: Flow[..., Any] | None = None,
    flow_run_id: uuid.UUID | str | None = None,
    **kwargs: Any,
) -> PrefectLogAdapter:
    """The logger of a flow run: pass the run, or only its id.

    Extra keyword arguments become attributes of every record.

    Raises:
        ValueError: neither `flow_run` nor `flow_run_id` was given.
    """
    if flow_run is None and flow_run_id is None:
        raise ValueError("flow_run_logger() needs a flow_run or a flow_run_id")
    if flow is not None:
        flow_name = flow.name
    else:
        flow_name = flow_run.flow_name if flow_run is not None else UNKNOWN
    setup_logging()
    return PrefectLogAdapter(
        logging.getLogger(FLOW_RUN_LOGGER),
        {
            "flow_run_id": str(flow_run.id if flow_run is not None else flow_run_id),
            "flow_run_name": flow_run.name if flow_run is not None else UNKNOWN,
            "flow_name": flow_name,
            # not in Prefect's records; kept so that every run record has every field
            "task_run_id": None,
            "task_run_name": None,
            "task_name": None,
            **kwargs,
        },
    )


def task_run_logger(
    task_run: TaskRun,
    task: Task[..., Any] | None = None,
    flow_run: FlowRun | None = None,
    flow: Flow[..., Any] | None = None,
    **kwargs: Any,
) -> PrefectLogAdapter:
    """The logger of a task run, with its flow run's fields.

    Without `flow_run` / `flow`, the current flow run context fills them in.
    """
    if flow_run is None or flow is None:
        flow_ctx = FlowRunContext.get()
        if flow_ctx is not None:
            flow_run = flow_run or flow_ctx.flow_run
            flow = flow or flow_ctx.flow
    if flow is not None:
        flow_name = flow.name
    else:
        flow_name = flow_run.flow_name if flow_run is not None else UNKNOWN
    flow_run_id = task_run.flow_run_id
    setup_logging()
    return PrefectLogAdapter(
        logging.getLogger(TASK_RUN_LOGGER),
        {
            "task_run_id": str(task_run.id),
            "flow_run_id": str(flow_run_id) if flow_run_id is not None else None,
            "task_run_name": task_run.name,
            "task_name": task.name if task is not None else task_run.task_name,
            "flow_run_name": flow_run.name if flow_run is not None else UNKNOWN,
            "flow_name": flow_name,
            **kwargs,
        },
    )


def get_run_logger(
    context: FlowRunContext | TaskRunContext | None = None,
    on_missing_context: Literal["raise", "warn", "ignore"] = "raise",
    fallback_logger_name: str = ROOT_LOGGER,
    **kwargs: Any,
) -> logging.Logger | PrefectLogAdapter:
    """The logger of the current task run, or else of the current flow run.

    Args:
        context: a run context to use instead of the current one.
        on_missing_context: outside any run, `"raise"` (default) raises
            `MissingContextError`; `"warn"` and `"ignore"` return the plain logger
            `fallback_logger_name` instead (`"warn"` says so at DEBUG level).
        **kwargs: extra attributes for every record.

    Raises:
        MissingContextError: outside a flow or task run (with `on_missing_context="raise"`).
        TypeError: `context` is not a flow or task run context.
    """
    task_ctx = TaskRunContext.get()
    flow_ctx = FlowRunContext.get()
    if context is not None:
        if isinstance(context, FlowRunContext):
            flow_ctx = context
        elif isinstance(context, TaskRunContext):
            task_ctx = context
        else:
            raise TypeError(
                f"get_run_logger(context=...) takes a FlowRunContext or a TaskRunContext, "
                f"not {type(context).__name__!r}"
            )
    if task_ctx is not None:
        return task_run_logger(
            task_ctx.task_run,
            task=task_ctx.task,
            flow_run=flow_ctx.flow_run if flow_ctx is not None else None,
            flow=flow_ctx.flow if flow_ctx is not None else None,
            **kwargs,
        )
    if flow_ctx is not None:
        return flow_run_logger(flow_ctx.flow_run, flow=flow_ctx.flow, **kwargs)
    if logging.getLogger(FLOW_RUN_LOGGER).disabled and logging.getLogger(TASK_RUN_LOGGER).disabled:
        silent = logging.getLogger("null")
        silent.disabled = True
        return silent
    if on_missing_context == "raise":
        raise MissingContextError(
            "There is no active flow or task run context: get_run_logger() must be "
            "called inside a flow or task run. Outside runs, use logging.getLogger(), "
            "or pass on_missing_context='warn' or 'ignore' to get a plain logger."
        )
    fallback = get_logger(fallback_logger_name)
    if on_missing_context == "warn":
        fallback.debug("get_run_logger() outside a flow or task run: using %s", fallback.name)
    return fallback


@contextlib.contextmanager
def disable_logger(name: str) -> Iterator[None]:
    """Disable the logger `name` inside the block; it is restored as it was after."""
    logger = logging.getLogger(name)
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


@contextlib.contextmanager
def disable_run_logger() -> Iterator[None]:
    """Silence the flow and task run loggers inside the block.

    Inside it, `get_run_logger()` outside a run returns a disabled logger instead of
    raising, so a task's `.fn` can be called in a unit test.
    """
    with disable_logger(FLOW_RUN_LOGGER), disable_logger(TASK_RUN_LOGGER):
        yield


# --- print() as a log line ----------------------------------------------------------------

_builtin_print = builtins.print
_print_lock = threading.Lock()
_print_patched = False


def _printing_context() -> FlowRunContext | TaskRunContext | None:
    """The run a `print` belongs to: the task run, unless a subflow runs inside it."""
    flow_ctx = FlowRunContext.get()
    task_ctx = TaskRunContext.get()
    if flow_ctx is not None and task_ctx is not None:
        if flow_ctx.flow_run.id != task_ctx.task_run.flow_run_id:
            return flow_ctx
        return task_ctx
    return flow_ctx if flow_ctx is not None else task_ctx


def print_as_log(*args: Any, **kwargs: Any) -> None:
    """`print`, sent to the run logger (INFO) inside a run with `log_prints=True`.

    Outside such a run, or when printing to a file other than stdout or stderr, it
    prints as usual.
    """
    ctx = _printing_context()
    if (
        ctx is None
        or not ctx.log_prints
        or kwargs.get("file") not in (None, sys.stdout, sys.stderr)
    ):
        _builtin_print(*args, **kwargs)
        return
    buffer = io.StringIO()
    kwargs["file"] = buffer
    _builtin_print(*args, **kwargs)
    get_run_logger().info(buffer.getvalue().rstrip(), stacklevel=2)


@contextlib.contextmanager
def patch_print() -> Iterator[None]:
    """Make the builtin `print` `print_as_log` inside the block."""
    before = builtins.print
    builtins.print = print_as_log
    try:
        yield
    finally:
        builtins.print = before


def enable_log_prints() -> None:
    """Make `print` `print_as_log` for good (what a run with `log_prints=True` does)."""
    global _print_patched
    if _print_patched:
        return
    with _print_lock:
        if not _print_patched:
            builtins.print = print_as_log
            _print_patched = True


class LogEavesdropper(logging.Handler):
    """Collects the records of one logger (and its children) while the block runs.

    Example:
        >>> with LogEavesdropper("vibepiper.task_runs") as heard:
        ...     my_flow()
        >>> print(heard.text())  # one "[INFO]: message" line per record
    """

    def __init__(self, eavesdrop_on: str, level: int = logging.NOTSET) -> None:
        super().__init__(level=level)
        self.eavesdrop_on = eavesdrop_on
        self.formatter = logging.Formatter("[%(levelname)s]: %(message)s")
        self._lines: list[str] = []
        self._target: logging.Logger | None = None
        self._level_before = logging.NOTSET

    def __enter__(self) -> LogEavesdropper:
        self._target = logging.getLogger(self.eavesdrop_on)
        self._level_before = self._target.level
        self._target.setLevel(self.level)
        self._target.addHandler(self)
        self._lines = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._target is not None:
            self._target.removeHandler(self)
            self._target.setLevel(self._level_before)
            self._target = None

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(self.format(record))

    def text(self) -> str:
        """The collected records, one formatted line each."""
        return "\n".join(self._lines)


__all__ = [
    "LogEavesdropper",
    "PrefectLogAdapter",
    "RunLoggerAdapter",
    "disable_logger",
    "disable_run_logger",
    "enable_log_prints",
    "flow_run_logger",
    "get_logger",
    "get_run_logger",
    "patch_print",
    "print_as_log",
    "task_run_logger",
]
