"""Run loggers: standard `logging` records tagged with the run they belong to.

`get_run_logger()` inside a flow or task returns a logger adapter whose records carry
`flow_run_id`, `flow_run_name`, `flow_name`, `task_run_id`, `task_run_name` and
`task_name`. Records of the `vibepiper` logger tree are printed to stderr and, when
they belong to a run, written to the run store.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from vibepiper.exceptions import MissingContextError

if TYPE_CHECKING:
    from vibepiper.schemas.runs import FlowRun, TaskRun

ROOT_LOGGER = "vibepiper"
FLOW_RUN_LOGGER = "vibepiper.flow_runs"
TASK_RUN_LOGGER = "vibepiper.task_runs"

_RUN_FIELDS = (
    "flow_run_id",
    "flow_run_name",
    "flow_name",
    "task_run_id",
    "task_run_name",
    "task_name",
)

_setup_lock = threading.Lock()
_configured = False


class RunLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that stamps every record with its run's ids and names."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self.extra, **extra} if extra else self.extra  # type: ignore[dict-item]
        return msg, kwargs


def flow_run_logger(flow_run: FlowRun) -> RunLoggerAdapter:
    """The logger of a flow run (used by the engine and by `get_run_logger`)."""
    setup_logging()
    return RunLoggerAdapter(
        logging.getLogger(FLOW_RUN_LOGGER),
        {
            "flow_run_id": flow_run.id,
            "flow_run_name": flow_run.name,
            "flow_name": flow_run.flow_name,
            "task_run_id": None,
            "task_run_name": None,
            "task_name": None,
        },
    )


def task_run_logger(task_run: TaskRun, flow_run: FlowRun | None = None) -> RunLoggerAdapter:
    """The logger of a task run, carrying its flow run's ids when it has one."""
    setup_logging()
    return RunLoggerAdapter(
        logging.getLogger(TASK_RUN_LOGGER),
        {
            "flow_run_id": task_run.flow_run_id,
            "flow_run_name": flow_run.name if flow_run else None,
            "flow_name": flow_run.flow_name if flow_run else None,
            "task_run_id": task_run.id,
            "task_run_name": task_run.name,
            "task_name": task_run.task_name,
        },
    )


def get_run_logger(context: Any = None, **kwargs: Any) -> RunLoggerAdapter:
    """The logger of the current task run, or of the current flow run.

    Raises:
        MissingContextError: outside a flow or task run.
    """
    from vibepiper.context import FlowRunContext, TaskRunContext

    task_ctx = context if isinstance(context, TaskRunContext) else None
    flow_ctx = context if isinstance(context, FlowRunContext) else None
    if context is None:
        task_ctx = TaskRunContext.get()
        flow_ctx = FlowRunContext.get()
    if task_ctx is not None:
        logger = task_run_logger(task_ctx.task_run, flow_ctx.flow_run if flow_ctx else None)
    elif flow_ctx is not None:
        logger = flow_run_logger(flow_ctx.flow_run)
    else:
        raise MissingContextError(
            "There is no active flow or task run context: get_run_logger() must be "
            "called inside a flow or task run. Outside runs, use logging.getLogger()."
        )
    if kwargs:
        logger.extra = {**logger.extra, **kwargs}  # type: ignore[dict-item]
    return logger


def get_logger(name: str | None = None) -> logging.Logger:
    """A logger in the `vibepiper` tree (printed with run logs, not stored)."""
    setup_logging()
    return logging.getLogger(f"{ROOT_LOGGER}.{name}" if name else ROOT_LOGGER)


class RunConsoleFormatter(logging.Formatter):
    """`12:00:01.123 | INFO    | Task run 'load-0' - message`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        msecs = int(record.msecs)
        task_run_name = getattr(record, "task_run_name", None)
        flow_run_name = getattr(record, "flow_run_name", None)
        if task_run_name:
            source = f"Task run {task_run_name!r}"
        elif flow_run_name:
            source = f"Flow run {flow_run_name!r}"
        else:
            source = record.name
        text = f"{stamp}.{msecs:03d} | {record.levelname:<7} | {source} - {record.getMessage()}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


class ConsoleHandler(logging.Handler):
    """Writes records to the current `sys.stderr` (looked up at each write)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


class StoreHandler(logging.Handler):
    """Writes records that belong to a run into the run store."""

    def emit(self, record: logging.LogRecord) -> None:
        flow_run_id = getattr(record, "flow_run_id", None)
        task_run_id = getattr(record, "task_run_id", None)
        if flow_run_id is None and task_run_id is None:
            return
        try:
            from vibepiper.schemas.runs import LogRecordRow
            from vibepiper.store import get_store

            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            get_store().write_log(
                LogRecordRow(
                    flow_run_id=flow_run_id,
                    task_run_id=task_run_id,
                    name=record.name,
                    level=record.levelno,
                    message=message,
                    timestamp=dt.datetime.fromtimestamp(record.created, dt.UTC),
                )
            )
        except Exception:
            self.handleError(record)


def setup_logging(force: bool = False) -> None:
    """Configure the `vibepiper` logger tree once per process (from settings)."""
    global _configured
    if _configured and not force:
        return
    with _setup_lock:
        if _configured and not force:
            return
        from vibepiper.settings import get_settings

        settings = get_settings()
        root = logging.getLogger(ROOT_LOGGER)
        for handler in list(root.handlers):
            if isinstance(handler, ConsoleHandler | StoreHandler):
                root.removeHandler(handler)
        root.setLevel(settings.logging_level)
        root.propagate = False
        if settings.logging_to_console:
            console = ConsoleHandler()
            console.setFormatter(RunConsoleFormatter())
            root.addHandler(console)
        store_handler = StoreHandler()
        store_handler.setLevel(settings.logging_store_level)
        root.addHandler(store_handler)
        _configured = True


# --- log_prints: print() inside a run goes to the run logger -------------------------

_original_print: Callable[..., None] = builtins.print
_print_lock = threading.Lock()
_print_patched = False


def _run_aware_print(
    *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    if file is None or file is sys.stdout:
        from vibepiper.context import FlowRunContext, TaskRunContext

        task_ctx = TaskRunContext.get()
        ctx: Any = task_ctx if task_ctx is not None else FlowRunContext.get()
        if ctx is not None and ctx.log_prints:
            text = (sep if sep is not None else " ").join(str(arg) for arg in args)
            get_run_logger().info(text)
            return
    _original_print(*args, sep=sep, end=end, file=file, flush=flush)


def enable_log_prints() -> None:
    """Route `print()` to the run logger inside runs that set `log_prints=True`."""
    global _print_patched
    if _print_patched:
        return
    with _print_lock:
        if not _print_patched:
            builtins.print = _run_aware_print
            _print_patched = True


__all__ = [
    "ConsoleHandler",
    "RunConsoleFormatter",
    "RunLoggerAdapter",
    "StoreHandler",
    "enable_log_prints",
    "flow_run_logger",
    "get_logger",
    "get_run_logger",
    "setup_logging",
    "task_run_logger",
]
